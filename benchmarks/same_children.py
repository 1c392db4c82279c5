"""Does the default sampler still pick the children of the stored benchmark runs?

    python -m benchmarks.same_children --problems nb201-cifar10 hpolib-slice-nf --seeds 0 1

A change meant to make the sampler faster without changing what it does (a batched draw, a
cached product) must leave every pick alone, or ``docs/benchmarks.md`` no longer describes the
code. This runs the default (``rlnas``) on each problem and seed as ``benchmarks.run`` does and
compares each trial's configuration (``key``) with the stored run in ``--results``; it prints,
per run, the first trial that differs and how many do, and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

from benchmarks.run import Job
from benchmarks.run import result_path
from benchmarks.run import run_job


def compare(problem: str, seed: int, trials: int, results: str, sampler: str) -> list[int]:
    """Trial numbers whose key differs from the stored run's (missing trials included)."""
    stored = pd.read_csv(result_path(results, problem), dtype={"key": str})
    stored = stored[(stored.sampler == sampler) & (stored.seed == seed)].sort_values("trial")
    if stored.empty:
        raise SystemExit(f"no stored run of {sampler!r} seed {seed} on {problem!r} in {results}")
    n = min(trials, len(stored))
    new = run_job(Job(problem, sampler, seed, n)).key.tolist()
    old = stored.key.fillna("").tolist()[:n]
    return [t for t, (a, b) in enumerate(zip(old, new)) if a != (b or "")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=["nb201-cifar10"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--sampler", default="rlnas")
    parser.add_argument("--results", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args(argv)
    differ = 0
    for problem in args.problems:
        for seed in args.seeds:
            diff = compare(problem, seed, args.trials, args.results, args.sampler)
            first = diff[0] if diff else "none"
            print(f"{problem} seed {seed}: {len(diff)} of {args.trials} trials differ "
                  f"(first: {first})", flush=True)
            differ += bool(diff)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
