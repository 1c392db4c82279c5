#!/usr/bin/env bash
# Regenerates docs/benchmarks.md and its figures: every setting the page shows, then the page.
# Runs already in benchmarks/results are reused (delete a CSV, or pass --rerun SAMPLER to
# python -m benchmarks.run, to redo them). From scratch this takes about an hour on 2 CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m benchmarks.run --problems nb201-cifar10,nb201-cifar100,nb201-imagenet \
  --samplers rlnas,rlnas-paper,tpe,random,evolution --seeds 20 --trials 300
python -m benchmarks.run --problems synthetic-50 --samplers rlnas,tpe,random,evolution \
  --seeds 10 --trials 300
python -m benchmarks.run --problems digits-cnn --samplers rlnas,tpe,random,evolution \
  --seeds 3 --trials 20
if [ "${OVERHEAD:-0}" = 1 ] || [ ! -f benchmarks/results/overhead.md ]; then
  python -m benchmarks.overhead --trials 1000 10000 --storages memory \
    --samplers random rlnas tpe --tpe-max-trials 1000 --out benchmarks/results/overhead.md
  python -m benchmarks.overhead --trials 1000 --storages sqlite --samplers random rlnas tpe \
    --tmpdir /dev/shm --out benchmarks/results/overhead.md --append
  python -m benchmarks.overhead --trials 10000 --storages sqlite --samplers rlnas random \
    --tmpdir /dev/shm --out benchmarks/results/overhead.md --append
fi
python -m benchmarks.report --command "bash benchmarks/make_docs.sh"
