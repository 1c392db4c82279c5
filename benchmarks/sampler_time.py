"""Sampler time per trial as a study grows, against TPE in the same run.

    python -m benchmarks.sampler_time --trials 300 1000 --problems nb201-cifar10 \
        --samplers rlnas tpe --out benchmarks/results/sampler_time.md

Runs each sampler for each number of trials on each problem (the samplers' studies of a seed in
lockstep, one trial each in turn, so that load on a shared machine falls on all of them alike,
after a short warm-up study of each) and prints, per run,
the milliseconds per trial spent in the sampler (the objective excluded) over all trials and
over the first and the last tenth of the trials, the ratio to TPE's in the same setting, and
how the cost grows: from the first to the last tenth of one run, and from the last tenth at the
smallest number of trials to the last tenth at the largest. The pauses of Python's garbage
collector that fell inside the sampler are counted in its time, and also shown apart (last
tenth), with the ratio to TPE's without them: a pause lands on whichever code runs when the
process's allocations cross a threshold (``benchmarks/timing.py``). Growth is called *flat* when the
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

from benchmarks.run import _problem
from benchmarks.samplers import make_sampler
from benchmarks.timing import TimedSampler

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


def _sampler(problem: str, sampler: str, seed: int) -> TimedSampler:
    spec = _problem(problem)
    if sampler.startswith("model["):  # a configuration of benchmarks.model_experiments
        from benchmarks import model_experiments

        return TimedSampler(model_experiments.make_sampler(sampler, seed))
    return TimedSampler(make_sampler(sampler, seed, spec.value_scale))


def timed_studies(
    problem: str, samplers: list[str], seed: int, trials: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per sampler, milliseconds per trial in the sampler (garbage collection included) and the
    garbage collector's pauses among them. The samplers' studies advance in lockstep, one trial
    each in turn, so that a slow spell of a shared machine falls on all of them alike, and
    each sampler call finds the caches as another study left them (as a real objective, which
    trains a network between two calls, would leave them)."""
    spec = _problem(problem)
    timed = {name: _sampler(problem, name, seed) for name in samplers}
    studies = {
        name: optuna.create_study(direction="maximize", sampler=sampler)
        for name, sampler in timed.items()
    }
    objective = spec.make_objective(seed)
    for _ in range(trials):
        for study in studies.values():
            study.optimize(objective, n_trials=1, catch=(Exception,))
    numbers = range(trials)
    return {
        name: (np.array([t.seconds[i] for i in numbers]) * 1e3,
               np.array([t.gc_seconds[i] for i in numbers]) * 1e3)
        for name, t in timed.items()
    }


def measure(
    problem: str, samplers: list[str], trials: int, seeds: list[int]
) -> dict[str, dict[str, float]]:
    """Per sampler, milliseconds per trial: mean, first and last tenth, and the garbage
    collector's pauses in the last tenth (averaged over seeds)."""
    tenth = max(trials // 10, 1)
    per_seed: dict[str, list[tuple[float, ...]]] = {sampler: [] for sampler in samplers}
    for seed in seeds:
        for sampler, (ms, gc_ms) in timed_studies(problem, samplers, seed, trials).items():
            per_seed[sampler].append(
                (ms.mean(), ms[:tenth].mean(), ms[-tenth:].mean(), gc_ms[-tenth:].mean())
            )
    out = {}
    for sampler, rows in per_seed.items():
        mean, first, last, gc_last = np.mean(rows, axis=0)
        out[sampler] = {"mean": float(mean), "first": float(first), "last": float(last),
                        "gc_last": float(gc_last)}
    return out


def table(results: dict[tuple[str, int, str], dict[str, float]], trials: list[int]) -> list[str]:
    head = ["problem", "trials", "sampler", "ms / trial", "first 10%", "last 10%",
            "last / first", "x TPE (all)", "x TPE (last 10%)", "GC pauses (last 10%)",
            "x TPE (last 10%, GC apart)", "growth in the run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (problem, n, sampler), r in results.items():
        ref = results.get((problem, n, REFERENCE))
        x_all = f"{r['mean'] / ref['mean']:.2f}" if ref else "n/a"
        x_last = f"{r['last'] / ref['last']:.2f}" if ref else "n/a"
        x_apart = (f"{(r['last'] - r['gc_last']) / (ref['last'] - ref['gc_last']):.2f}"
                   if ref else "n/a")
        lines.append(
            f"| {problem} | {n} | {sampler} | {r['mean']:.2f} | {r['first']:.2f} | "
            f"{r['last']:.2f} | {r['last'] / r['first']:.2f} | {x_all} | {x_last} | "
            f"{r['gc_last']:.2f} | {x_apart} | "
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
    parser.add_argument(
        "--samplers", nargs="+", default=["rlnas", "tpe"],
        help="names of benchmarks.samplers, or benchmarks.model_experiments configurations "
        "(model[field=value,...])",
    )
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
        timed_studies(problem, args.samplers, 12345, 20)  # warm-up: imports, tables
        for n in args.trials:
            measured = measure(problem, args.samplers, n, list(range(args.seeds)))
            for sampler in args.samplers:
                results[(problem, n, sampler)] = measured[sampler]
                print(f"{problem} {n} {sampler}: {measured[sampler]}", file=sys.stderr,
                      flush=True)
    command = "python -m benchmarks.sampler_time " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = "\n".join([
        f"Measured by `{command.strip()}` on {datetime.date.today().isoformat()} "
        f"(Optuna {optuna.__version__}, {args.seeds} seed(s) averaged, the samplers' studies "
        "in lockstep on a shared 2-core machine). Milliseconds per trial spent in the "
        "sampler; 'x TPE': ratio to TPE's time in the same run.", "", *table(results, args.trials)])
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
