"""Sampler overhead per trial, the objective excluded (issue 2).

    python -m benchmarks.overhead --trials 1000 10000 --storages memory sqlite \
        --samplers rlnas tpe random --tpe-max-trials 2000 --out benchmarks/results/overhead.md

The space has 30 decisions: 10 categoricals (5 choices), 10 integers and 10 floats (half of each
on a log scale). The objective is trivial. The time inside the sampler is measured around every
sampler hook (:class:`benchmarks.timing.TimedSampler`), so the objective and the storage calls
Optuna makes outside the sampler are excluded; the storage reads the sampler makes itself
(the finished trials it learns from) are included. Per-trial time is also given over the
first and the last tenth of the trials, to show whether it stays flat as the study grows.
Ratios are against random search and TPE measured in the same run, same storage and same
number of trials. TPE grows slower with trials; ``--tpe-max-trials`` caps it, and a capped row
says so (its ratios then compare with fewer TPE trials, which understates TPE's cost).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import optuna

from benchmarks.samplers import SAMPLERS
from benchmarks.samplers import make_sampler
from benchmarks.timing import TimedSampler

WINDOW = 0.1  # 'first' and 'last': the first and the last tenth of the trials
CHOICES = ("conv3x3", "conv5x5", "sep3x3", "maxpool", "identity")


def objective(trial: optuna.Trial) -> float:
    """30 decisions, trivial arithmetic."""
    total = 0.0
    for i in range(10):
        total += CHOICES.index(trial.suggest_categorical(f"layer_{i}/op", CHOICES))
        total += trial.suggest_int(f"layer_{i}/filters", 8, 256, log=i % 2 == 0) / 256
        if i % 2 == 0:
            total += math.log10(trial.suggest_float(f"layer_{i}/lr", 1e-5, 1e-1, log=True))
        else:
            total += trial.suggest_float(f"layer_{i}/dropout", 0.0, 0.5)
    return total


@dataclass
class Measurement:
    storage: str
    trials: int  # asked for
    sampler: str
    n: int  # run (fewer when capped)
    per_trial_ms: float
    first_ms: float
    last_ms: float
    wall_s: float

    @property
    def rest_ms(self) -> float:
        """Per trial, everything but the sampler: objective, Optuna, storage writes."""
        return self.wall_s * 1e3 / self.n - self.per_trial_ms

    @property
    def capped(self) -> bool:
        return self.n < self.trials


def measure(
    sampler_name: str, storage_kind: str, n_trials: int, seed: int = 0, tmpdir: str | None = None
) -> Measurement:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = TimedSampler(make_sampler(sampler_name, seed))

    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        storage = None
        if storage_kind == "sqlite":
            storage = f"sqlite:///{os.path.join(tmp, 'overhead.db')}"
        study = optuna.create_study(storage=storage, sampler=sampler, direction="maximize")
        start = time.perf_counter()
        study.optimize(objective, n_trials=n_trials)
        wall = time.perf_counter() - start
        del study
    seconds = np.array([sampler.seconds[i] for i in range(n_trials)]) * 1e3
    window = max(1, int(n_trials * WINDOW))
    return Measurement(
        storage=storage_kind,
        trials=n_trials,
        sampler=sampler_name,
        n=n_trials,
        per_trial_ms=float(seconds.mean()),
        first_ms=float(seconds[:window].mean()),
        last_ms=float(seconds[-window:].mean()),
        wall_s=wall,
    )


def table(rows: list[Measurement]) -> str:
    head = ["storage", "trials", "sampler", "ms / trial", "first 10%", "last 10%",
            "last / first", "x random", "x TPE", "rest ms / trial", "wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by_key = {(r.storage, r.trials, r.sampler): r for r in rows}
    for r in rows:
        rand = by_key.get((r.storage, r.trials, "random"))
        tpe = by_key.get((r.storage, r.trials, "tpe"))
        x_rand = f"{r.per_trial_ms / rand.per_trial_ms:.1f}" if rand else "n/a"
        x_tpe = f"{r.per_trial_ms / tpe.per_trial_ms:.2f}" if tpe else "n/a"
        if tpe and tpe.capped and r.sampler != "tpe":
            x_tpe += f" (TPE capped at {tpe.n})"
        trials = f"{r.n} (capped)" if r.capped else str(r.n)
        cells = [r.storage, trials, r.sampler, f"{r.per_trial_ms:.2f}", f"{r.first_ms:.2f}",
                 f"{r.last_ms:.2f}", f"{r.last_ms / r.first_ms:.2f}", x_rand, x_tpe,
                 f"{r.rest_ms:.2f}", f"{r.wall_s:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", nargs="+", type=int, default=[1000, 10000])
    parser.add_argument("--storages", nargs="+", choices=["memory", "sqlite"],
                        default=["memory", "sqlite"])
    parser.add_argument("--samplers", nargs="+", default=["rlnas", "tpe", "random"],
                        help=f"any of {sorted(SAMPLERS)}")
    parser.add_argument("--tpe-max-trials", type=int, default=2000,
                        help="TPE runs at most this many trials (0: no cap)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmpdir", help="folder of the temporary SQLite file (default: the "
                        "system's temporary folder)")
    parser.add_argument("--out", help="also write the markdown to this file")
    parser.add_argument("--append", action="store_true", help="append to --out")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    rows, done = [], {}
    for storage in args.storages:
        for n in args.trials:
            for name in args.samplers:
                cap = args.tpe_max_trials if name == "tpe" and args.tpe_max_trials > 0 else n
                key = (name, storage, min(n, cap))
                start = time.perf_counter()
                if key not in done:  # a capped TPE run serves every larger setting
                    done[key] = measure(name, storage, min(n, cap), args.seed, args.tmpdir)
                m = dataclasses.replace(done[key], trials=n)
                rows.append(m)
                print(f"{storage} {n} {name}: {m.per_trial_ms:.2f} ms/trial "
                      f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    where = ""
    if "sqlite" in args.storages:
        where = f"SQLite file in {args.tmpdir or tempfile.gettempdir()}. "
    command = "python -m benchmarks.overhead " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join([
        f"Measured by `{command.strip()}` on {time.strftime('%Y-%m-%d')} "
        f"({os.cpu_count()} CPUs, Optuna {optuna.__version__}). Sampler time per trial in "
        f"milliseconds, the objective excluded; 30 decisions (10 categorical, 10 int, 10 "
        f"float); 'first/last 10%': mean over the first and the last tenth of the trials (noise "
        f"on a shared machine swamps windows of 100). "
        f"{where}'rest': wall time per trial minus sampler time (objective, Optuna and the "
        "storage's writes).",
        "",
        table(rows),
        "",
    ])
    print(text)
    if args.out:
        with open(args.out, "a" if args.append else "w") as f:
            if args.append and f.tell() > 0:
                f.write("\n")
            f.write(text)


if __name__ == "__main__":
    main()
