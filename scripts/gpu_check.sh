#!/usr/bin/env bash
# GPU check of extraction, one call, no network needed; on one H200 (2026-11-26) its parts took 131 s
# plus about 60 s for the compiled sweep (the limit: 8 minutes):
#   1. the CUDA tests (tests/e2e/test_cuda.py: trim, compiled blocks, bf16 embed with pinned memory,
#      real OOM halving)
#   2. audiobench bench, whisper-large-v3 random-init bf16, batch 32 and 64: full and trim on 1, 5
#      and 30 s clips; then the same at batch 64 with --compile; then trim on 1 s clips at the
#      batch embed makes of them by default (480)
#   3. audiobench embed end to end on 2,000 synthetic 5 s clips, full and trim
#   4. one summary table (also written to OUT/summary.md)
# Usage: scripts/gpu_check.sh [OUT]            (default OUT: gpu-check)
#        scripts/gpu_check.sh --dry-run [OUT]  (every step tiny, on CPU: checks this script)
# Python: $PYTHON, else .venv/bin/python, else python3; it must already have audiobench's
# dependencies (a carried venv): nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=""
if [[ "${1:-}" == "--dry-run" ]]; then
    dry_run="--dry-run"
    shift
fi
out="${1:-gpu-check}"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$out"

if [[ -z "$dry_run" ]]; then
    if ! command -v nvidia-smi >/dev/null || ! nvidia-smi >/dev/null 2>&1; then
        echo "error: nvidia-smi finds no GPU (run on a GPU machine, or pass --dry-run)" >&2
        exit 2
    fi
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "error: torch sees no CUDA device")'
fi
"$python" -c 'import audiobench, torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'

start=$SECONDS
echo "== CUDA tests"
if [[ -z "$dry_run" ]]; then
    "$python" -m pytest -q -p no:cacheprovider tests/e2e/test_cuda.py
else
    echo "(skipped in a dry run)"
fi
echo "== bench and end-to-end embed"
"$python" tests/bench/gpu_embed_check.py --out "$out" $dry_run
echo "== done in $((SECONDS - start)) s; figures in $out/"
