#!/usr/bin/env bash
# Training on a lent GPU machine (one H200, 16 cores, PyTorch, onnxruntime, no network) in one command.
#
#   bash scripts/gpu-train.sh pack                      # here: .gpu-train/ = a prefix of the cached token
#                                                       # streams (~40 MB xz), the tokenizer, the test split
#   bash scripts/gpu-train.sh run                       # there (carry .gpu-train): deltanet (gpu-default.json,
#                                                       # language header) for 6.5 min and linear, softmax, luna,
#                                                       # sparse (gpu-compare.json) at 100M tokens each, all at
#                                                       # once; fp16 exports, a short evaluation, tars into $OUT
#   bash scripts/gpu-train.sh import RESULTS [MODELS]   # here: the tars into models/, then what to run next
#
# The work is in models/training/gpu_kit.py. LINEA_GPU_DRY=1 runs the same steps in seconds on a CPU (tiny
# shapes; the test suite does pack -> run -> import so). Other knobs (LINEA_GPU_*): TRAIN_MB, TRAIN_TOKENS,
# LIMIT_MB, MINUTES, TOKENS, COMPARE_TOKENS, VARIANTS, CONFIG, COMPARE_CONFIG, TRAIN_ARGS, EVAL_ARGS,
# DEADLINE, KIT, CORPUS, TOKENIZER, WORK; LINEA_PY picks the Python (.venv here, python3 there).
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
py=${LINEA_PY:-}
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi

case "${1:-}" in
  pack)
    # xz of ~150 MB of tokens takes a few minutes of one core; keep the rest of the machine usable
    nice -n 10 "$py" models/training/gpu_kit.py pack
    ;;
  run)
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    fi
    "$py" models/training/gpu_kit.py run
    ;;
  import)
    shift
    [ $# -ge 1 ] || { echo "usage: bash scripts/gpu-train.sh import RESULTS_DIR [MODELS_DIR]" >&2; exit 2; }
    dirs=()
    for d in "$@"; do case $d in /*) dirs+=("$d") ;; *) dirs+=("$here/$d") ;; esac; done
    "$py" models/training/gpu_kit.py import "${dirs[@]}"
    ;;
  *)
    echo "usage: bash scripts/gpu-train.sh pack | run | import RESULTS_DIR [MODELS_DIR]" >&2
    exit 2
    ;;
esac
