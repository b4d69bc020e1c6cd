#!/usr/bin/env bash
# Regenerates every fixture under Tests/Fixtures/ from the pinned reference stack: runs each
# make_*_fixtures.py in this folder (alphabetical order) from the repository root.
# requirements.txt is installed only when the reference packages cannot be imported.
#   PYTHON=/path/to/python3 Tools/reference/make_fixtures.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c "import torch, transformers, tokenizers, sentencepiece, safetensors, PIL, numpy, google.protobuf" \
    >/dev/null 2>&1; then
  echo "make_fixtures.sh: reference packages missing for $PYTHON; installing requirements.txt" >&2
  "$PYTHON" -m pip install -r "$here/requirements.txt"
fi

cd "$repo"
shopt -s nullglob
scripts=("$here"/make_*_fixtures.py)
if [ "${#scripts[@]}" -eq 0 ]; then
  echo "make_fixtures.sh: no make_*_fixtures.py in $here" >&2
  exit 1
fi
for script in "${scripts[@]}"; do
  echo "== $(basename "$script")" >&2
  "$PYTHON" "$script"
done
echo "make_fixtures.sh: done; 'git status Tests/Fixtures' should be clean if nothing changed upstream" >&2
