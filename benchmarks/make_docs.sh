#!/usr/bin/env bash
# Regenerates docs/benchmarks.md and its figures: every setting the page shows, then the page.
# Runs already in benchmarks/results are reused (delete a CSV, or pass --rerun SAMPLER to
# python -m benchmarks.run, to redo them). The baselines (tpe, random, evolution, gp,
# rlnas-paper) on the 32 problems take several hours on 2 CPUs from scratch; rlnas alone about
# an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
# The 30 table problems (15 tables, noisy and noise-free) and synthetic-10, synthetic-50.
python -m benchmarks.run --problems all \
  --samplers rlnas,rlnas-paper,tpe,random,evolution --seeds 20 --trials 300
# GPSampler costs 10-50 times TPE per trial here: 10 seeds of 100 trials only.
python -m benchmarks.run --problems all --samplers gp --seeds 10 --trials 100
python -m benchmarks.run --problems digits-cnn --samplers rlnas,tpe,random,evolution \
  --seeds 3 --trials 20
if [ "${SAMPLER_TIME:-0}" = 1 ] || [ ! -f benchmarks/results/sampler_time.md ]; then
  python -m benchmarks.sampler_time --trials 300 1000 --problems nb201-cifar10 \
    --samplers rlnas tpe --seeds 5 --out benchmarks/results/sampler_time.md
fi
if [ "${SAMPLER_TIME:-0}" = 1 ] || [ ! -f benchmarks/results/sampler_time_gp.md ]; then
  python -m benchmarks.sampler_time --trials 100 300 --problems nb201-cifar10 hpolib-naval \
    --samplers gp tpe --out benchmarks/results/sampler_time_gp.md
fi
if [ "${OVERHEAD:-0}" = 1 ] || [ ! -f benchmarks/results/overhead.md ]; then
  python -m benchmarks.overhead --trials 1000 10000 --storages memory \
    --samplers random rlnas tpe --tpe-max-trials 1000 --out benchmarks/results/overhead.md
  python -m benchmarks.overhead --trials 1000 --storages sqlite --samplers random rlnas tpe \
    --tmpdir /dev/shm --out benchmarks/results/overhead.md --append
  python -m benchmarks.overhead --trials 10000 --storages sqlite --samplers rlnas random \
    --tmpdir /dev/shm --out benchmarks/results/overhead.md --append
fi
python -m benchmarks.report --command "bash benchmarks/make_docs.sh"
