#!/usr/bin/env bash
# Regenerates every fixture under Tests/Fixtures/ from the pinned reference stack: runs each
# make_*_fixtures.py in this folder, in dependency order, from the repository root.
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
# Order matters: make_model_fixtures.py rewrites golden/ and the models README; the pruning script
# builds the 32-layer fixture the baseline script runs on; the family script needs the model goldens and
# the pruning script's tiny head mask, and appends its README section last; image and tokenizer fixtures
# are independent.
# make_tokenizer_fixtures.py's slow-tokenizer goldens need a second interpreter with transformers 4.37
# (requirements-llava-slow-tokenizer.txt): set YOPO_SLOW_TOKENIZER_PYTHON to it.
scripts=(make_model_fixtures.py make_pruning_fixtures.py make_baseline_fixtures.py make_family_fixtures.py make_image_fixtures.py make_tokenizer_fixtures.py)
for name in "${scripts[@]}"; do
  script="$here/$name"
  echo "== $(basename "$script")" >&2
  "$PYTHON" "$script"
done
echo "make_fixtures.sh: done; 'git status Tests/Fixtures' should be clean if nothing changed upstream" >&2
