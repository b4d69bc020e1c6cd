# The README's two commands: `make run` (main job on the bundled default) and `make test`.
SWIFT ?= swift
# The bundled default: the demo model trained here (Tools/train) on a picture of its task.
MODEL ?= Tests/Fixtures/models/llava-demo
IMAGE ?= Tests/Fixtures/images/shapes-demo.png
PROMPT ?= Describe the image.
MAX_TOKENS ?= 64

.PHONY: deps build run test format format-check fixtures results clean

# Installs the system libraries the package links (OpenBLAS, oneDNN, libjpeg-turbo, libpng) when missing.
deps:
	@sh scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product yopo

run: build
	$(SWIFT) run -c release yopo generate --model "$(MODEL)" --image "$(IMAGE)" --prompt "$(PROMPT)" --max-tokens $(MAX_TOKENS) --print-token-ids

test: deps
	$(SWIFT) test --disable-swift-testing

# The tree's layout follows .swift-format (the toolchain's `swift format`); CI checks it.
format:
	$(SWIFT) format format --in-place --recursive Sources Tests Package.swift

format-check:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

# Regenerates the golden fixtures with the Python reference (needs PyPI; not needed by tests).
fixtures:
	sh Tools/reference/make_fixtures.sh

# Regenerates docs/RESULTS.md and docs/results/*.svg from the committed demo models (python3, no packages).
results: build
	python3 Tools/train/make_results.py

clean:
	rm -rf .build
