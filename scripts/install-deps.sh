#!/bin/sh
# Installs the system packages YOPO links against, if they are missing.
# Linux (Debian/Ubuntu): OpenBLAS, oneDNN, libjpeg-turbo, libpng, pkg-config via apt-get.
# macOS: Accelerate ships with the system; libjpeg-turbo and libpng come from Homebrew.
set -e
case "$(uname -s)" in
Linux)
    missing=""
    pkg-config --exists openblas 2>/dev/null || missing="$missing libopenblas-dev"
    pkg-config --exists libpng 2>/dev/null || missing="$missing libpng-dev"
    [ -f /usr/include/jpeglib.h ] || missing="$missing libjpeg62-turbo-dev"
    [ -f /usr/include/oneapi/dnnl/dnnl.h ] || missing="$missing libdnnl-dev"
    command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
    if [ -n "$missing" ]; then
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "error: missing system packages:$missing (install them with your package manager)" >&2
            exit 1
        fi
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "installing:$missing" >&2
        $SUDO apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
    fi
    ;;
Darwin)
    if ! pkg-config --exists libpng 2>/dev/null || [ ! -f "$(brew --prefix 2>/dev/null)/include/jpeglib.h" ]; then
        echo "hint: install libjpeg-turbo, libpng and pkg-config with: brew install jpeg-turbo libpng pkg-config" >&2
        exit 1
    fi
    ;;
esac
