"""Sampler time per trial as a study grows, against TPE in the same run.

    python -m benchmarks.sampler_time --trials 300 1000 --problems nb201-cifar10 \
        --samplers rlnas tpe --out benchmarks/results/sampler_time.md

Runs each sampler for each number of trials on each problem (one study at a time, samplers
interleaved so that load on a shared machine falls on all of them alike, after a short warm-up
study of each) and prints, per run,
the milliseconds per trial spent in the sampler (the objective excluded) over all trials and
over the first and the last tenth of the trials, the ratio to TPE's in the same setting, and
how the cost grows: from the first to the last tenth of one run, and from the last tenth at the
smallest number of trials to the last tenth at the largest. Growth is called *flat* when the
cost grows by less than 20% while the trials grow several-fold, *sub-linear* when its exponent
(log cost ratio / log trial ratio) is below 0.85, else *linear or worse*.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys

import numpy as np
import optuna

from benchmarks.run import Job
from benchmarks.run import run_job

REFERENCE = "tpe"


def growth(cost_ratio: float, trial_ratio: float) -> str:
    """Names the growth of a cost that went up ``cost_ratio``-fold over ``trial_ratio``-fold
    more trials, with its exponent."""
    exponent = math.log(max(cost_ratio, 1e-12)) / math.log(trial_ratio)
    if cost_ratio < 1.2:
        word = "flat"
    elif exponent < 0.85:
        word = "sub-linear"
    else:
        word = "linear or worse"
    return f"{word} (exponent {exponent:.2f})"


def measure(problem: str, sampler: str, trials: int, seeds: list[int]) -> dict[str, float]:
    """Sampler milliseconds per trial: mean, first and last tenth (averaged over seeds)."""
    tenth = max(trials // 10, 1)
    per_seed = []
    for seed in seeds:
        ms = run_job(Job(problem, sampler, seed, trials)).sampler_time_s.to_numpy() * 1e3
        per_seed.append((ms.mean(), ms[:tenth].mean(), ms[-tenth:].mean()))
    mean, first, last = np.mean(per_seed, axis=0)
    return {"mean": float(mean), "first": float(first), "last": float(last)}


def table(results: dict[tuple[str, int, str], dict[str, float]], trials: list[int]) -> list[str]:
    head = ["problem", "trials", "sampler", "ms / trial", "first 10%", "last 10%",
            "last / first", "x TPE (all)", "x TPE (last 10%)", "growth in the run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (problem, n, sampler), r in results.items():
        ref = results.get((problem, n, REFERENCE))
        x_all = f"{r['mean'] / ref['mean']:.2f}" if ref else "n/a"
        x_last = f"{r['last'] / ref['last']:.2f}" if ref else "n/a"
        lines.append(
            f"| {problem} | {n} | {sampler} | {r['mean']:.2f} | {r['first']:.2f} | "
            f"{r['last']:.2f} | {r['last'] / r['first']:.2f} | {x_all} | {x_last} | "
            f"{growth(r['last'] / r['first'], 19.0)} |"  # tenths centred on 5% and 95%
        )
    if len(trials) > 1:
        low, high = min(trials), max(trials)
        lines += ["", f"From {low} to {high} trials (last tenth of each run):", ""]
        for (problem, n, sampler), r in results.items():
            if n != high or (problem, low, sampler) not in results:
                continue
            ratio = r["last"] / results[(problem, low, sampler)]["last"]
            lines.append(f"- {problem}, {sampler}: {results[(problem, low, sampler)]['last']:.2f}"
                         f" -> {r['last']:.2f} ms per trial (x{ratio:.2f} for x{high / low:.2f} "
                         f"trials): {growth(ratio, high / low)}.")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--problems", nargs="+", default=["nb201-cifar10"])
    parser.add_argument("--samplers", nargs="+", default=["rlnas", "tpe"])
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1, averaged")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        import torch

        torch.set_num_threads(1)  # as in the benchmark runs
    except ImportError:  # pragma: no cover
        pass
    results = {}
    for problem in args.problems:
        for sampler in args.samplers:  # warm-up: imports, first allocations, table loading
            run_job(Job(problem, sampler, 12345, 20))
        for n in args.trials:
            for sampler in args.samplers:
                results[(problem, n, sampler)] = measure(problem, sampler, n,
                                                         list(range(args.seeds)))
                print(f"{problem} {n} {sampler}: {results[(problem, n, sampler)]}",
                      file=sys.stderr, flush=True)
    command = "python -m benchmarks.sampler_time " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = "\n".join([
        f"Measured by `{command.strip()}` on {datetime.date.today().isoformat()} "
        f"(Optuna {optuna.__version__}, {args.seeds} seed(s) averaged, one study at a time on a "
        "shared 2-core machine). Milliseconds per trial spent in the sampler; 'x TPE': ratio "
        "to TPE's time in the same run.", "", *table(results, args.trials)])
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
