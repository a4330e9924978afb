#!/usr/bin/env bash
# From trained checkpoints to the shipped models and their card figures:
#   models/training/ship.sh VARIANT...       (checkpoints in ~/.cache/linea/runs/VARIANT/ckpt.pt)
# exports each to models/linea-VARIANT (float16 storage), evaluates it on the test split and stores the
# figures in its manifest. Then: fixtures.py (golden files, incl. the shipped tokenizer's vectors),
# `npm run bench` (latency) and card.py (models/README.md).
set -euo pipefail
cd "$(dirname "$0")"
py=../../.venv/bin/python
runs=${LINEA_RUNS:-$HOME/.cache/linea/runs}
tok=${LINEA_TOKENIZER:-$HOME/.cache/linea/tok/tokenizer.json}
out=${LINEA_SHIP_TO:-../}
for v in "$@"; do
  $py export.py --checkpoint "$runs/$v/ckpt.pt" --tokenizer "$tok" --out "$out/linea-$v"
  $py evaluate.py --model "$out/linea-$v" --threads 2 --update-manifest > "$runs/$v.eval.json"
  echo "evaluated linea-$v: $(tr -d '\n ' < "$runs/$v.eval.json" | cut -c1-160)"
done
