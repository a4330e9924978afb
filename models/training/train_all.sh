#!/usr/bin/env bash
# Trains every variant at one size and one token budget, two runs at a time (one thread each: on a
# 2-core machine two single-threaded runs get ~1.5x the tokens/s of one two-threaded run).
#   models/training/train_all.sh [TOKENS] [VARIANTS...]
set -euo pipefail
cd "$(dirname "$0")"
tokens=${1:-3000000}; shift || true
variants=("${@:-deltanet linear softmax decay hybrid luna sparse}")
read -r -a variants <<< "${variants[*]}"
runs=${LINEA_RUNS:-$HOME/.cache/linea/runs}
py=../../.venv/bin/python
mkdir -p "$runs"
run_one() {
  PYTHONUNBUFFERED=1 $py train.py --model=configs/cpu-small.json --out="$runs/$1" --variant="$1" \
    --corpus="$HOME/.cache/linea/corpus" --tokenizer="$HOME/.cache/linea/tok/tokenizer.json" \
    --max_tokens="$tokens" --batch_size=8 --seq_len=256 --lr=0.0015 --warmup_iters=100 \
    --eval_interval=250 --eval_batches=8 --threads=1 > "$runs/$1.log" 2>&1
}
export -f run_one; export runs py tokens
printf '%s\n' "${variants[@]}" | xargs -P 2 -I{} bash -c 'run_one {}'
