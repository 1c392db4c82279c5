#!/usr/bin/env bash
# The GPU path's check, for a lent GPU machine (about 8 minutes, every step under `timeout`):
#     bash benchmarks/gpu_check.sh          # on the GPU
#     bash benchmarks/gpu_check.sh --cpu    # the same steps, small, on the CPU (a dry run)
# 1. Images per second of typical children in the final training, per configuration (precision,
#    channels_last, torch.compile), against their FLOP floor (benchmarks/gpu_throughput.py).
# 2. The Lightning paths (search trial, final training) against a plain PyTorch loop.
# 3. rlnas run on digits with a 2-minute budget, on GPU 0 (--device-index 0), in a temporary
#    folder: search, final phase, saved model.
# Figures go to docs/throughput.md ("On a GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mode="${1:-gpu}"

echo "== machine"
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available(), 'devices', torch.cuda.device_count())"

if [ "$mode" = "--cpu" ]; then
    device=(--device cpu); small=(--train-images 512 --epochs 1 --batch-size 64 --children 0,2,3)
    throughput=(--device cpu --threads 1 --epochs 1 --repeats 1 --subset 512 --val-size 256)
    run=(--budget 1m --precision auto)
else
    device=(--device cuda); small=(--epochs 2 --batch-size 256)
    throughput=(--device cuda --threads 4 --epochs 2 --repeats 3 --subset 8192 --val-size 1024 \
                --channels-last)
    run=(--budget 2m --device-index 0)
fi

# A step that fails or runs out of time is reported, and the next one runs.
step() { local limit="$1"; shift; timeout "$limit" "$@" || echo "!! step failed or timed out ($?)"; }

echo "== 1. final training: images/s against the FLOP floor"
step 200 python -m benchmarks.gpu_throughput "${device[@]}" "${small[@]}" \
    --configs 32-true,bf16-mixed,bf16-mixed+cl
step 160 python -m benchmarks.gpu_throughput "${device[@]}" "${small[@]}" \
    --configs bf16-mixed+cl+compile --children 0,3

echo "== 2. Lightning against a plain loop (search and final recipes)"
step 150 python -m benchmarks.throughput "${throughput[@]}"

echo "== 3. rlnas run on digits"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && step 200 python -m optuna_rlnas.cli run --dataset digits "${run[@]}" \
    --storage "sqlite:///$tmp/run.db" --out "$tmp/model")
echo "== done"
