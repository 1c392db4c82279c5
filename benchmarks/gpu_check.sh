#!/usr/bin/env bash
# GPU check for a lent GPU machine (issue 4), a few minutes in all; run from the repository root:
#     bash benchmarks/gpu_check.sh
# 1. Child-training throughput, Lightning path against the plain loop, on CUDA (same mixed
#    precision in both paths), Fashion-MNIST when Debian's files are there, else digits.
# 2. A tiny search on digits: 3 trials of 1 epoch, in a temporary SQLite database.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

echo "== machine"
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available())"

echo "== throughput (cuda)"
timeout 150 python -m benchmarks.throughput --device cuda --threads 4 --epochs 2 --repeats 3 \
    --subset 8192 --val-size 1024

echo "== tiny search on digits (cuda when available)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
timeout 120 rlnas search --dataset digits --epochs 1 --n-trials 3 \
    --storage "sqlite:///$tmp/rlnas.db" --dashboard-every 0
echo "== done"
