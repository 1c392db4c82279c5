"""Torch's thread count: the controller's update, and children trained with ``n_jobs=2``.

    python -m benchmarks.threads --updates 200 --load 0 2     # the update, idle and loaded
    python -m benchmarks.threads --children --repeats 4       # children trained by 2 threads

``--updates``: the controller's REINFORCE update (30 decisions, 4 children and the priority
queue, as ``benchmarks/overhead.py``) timed as shipped (the process's default thread count),
with ``torch.set_num_threads(1)``, and, where the package has it, without its one-thread block
(``optuna_rlnas._openmp``), in the same process, alternating. ``--load N`` adds N busy
processes for the duration (the machine may be shared already: the load average is printed).

``--children``: ``study.optimize(objective, n_jobs=2)`` with ``RLNASSampler`` (one update per
trial). Each study runs in fresh threads, as every ``optimize`` call does. The objective does a
little non-torch work, then trains a small CNN on random images for a fixed number of steps and
records ``torch.get_num_threads()`` in its thread and the images per second; with
``--invalid-every K`` every K-th trial is an architecture that cannot be built, pruned at once
(so one thread makes updates while the other prepares its child). A thread that runs
its first torch operation while another thread changes torch's thread count keeps that count
for life (torch reads the count once per thread), which is what this checks. Uses only the
public API, so it runs against any version of the package on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import optuna
import torch

import optuna_rlnas
from optuna_rlnas import Controller
from optuna_rlnas import Decision
from optuna_rlnas import Reinforce
from optuna_rlnas import RLNASSampler
from optuna_rlnas import UpdateConfig


def _batches(n: int, seed: int = 0) -> tuple[Reinforce, list]:
    """A trainer and ``n`` batches of 4 children of 30 decisions, with random actions."""
    decisions = [Decision(f"layer_{i}/op", 5) for i in range(10)]
    decisions += [Decision(f"layer_{i}/filters", 16) for i in range(10)]
    decisions += [Decision(f"layer_{i}/lr", 16) for i in range(10)]
    rng = np.random.RandomState(seed)
    batches = [
        [(decisions, [rng.randint(d.n_actions) for d in decisions]) for _ in range(4)]
        for _ in range(n)
    ]
    return Reinforce(Controller(seed=seed), UpdateConfig()), batches


def time_updates(n: int, mode: str) -> tuple[float, float]:
    """(wall ms, CPU ms) per update. ``mode``: "shipped" (the process's default thread count,
    the update as the package ships it), "process 1" (``torch.set_num_threads(1)``), or
    "no block" (the default count, without the package's one-thread block, if it has one)."""
    old = torch.get_num_threads()
    patch = contextlib.nullcontext()
    if mode == "process 1":
        torch.set_num_threads(1)
    elif mode == "no block":
        from unittest import mock

        patch = mock.patch("optuna_rlnas._reinforce.one_thread_here", contextlib.nullcontext)
    try:
        with patch:
            trainer, batches = _batches(n + 10)
            rng = np.random.RandomState(1)
            for batch in batches[:10]:  # warm-up
                trainer.update(batch, list(rng.rand(4)))
            wall, cpu = time.perf_counter(), time.process_time()
            for batch in batches[10:]:
                trainer.update(batch, list(rng.rand(4)))
            return (time.perf_counter() - wall) / n * 1e3, (time.process_time() - cpu) / n * 1e3
    finally:
        torch.set_num_threads(old)


def updates(args: argparse.Namespace) -> None:
    default = torch.get_num_threads()
    modes = ["shipped", "process 1"]
    if hasattr(importlib.import_module("optuna_rlnas._reinforce"), "one_thread_here"):
        modes.append("no block")
    print(f"optuna_rlnas from {os.path.dirname(optuna_rlnas.__file__)}; torch {torch.__version__}, "
          f"default threads {default}, {os.cpu_count()} CPUs")
    print("| busy processes added | load average (1 min) | mode | update wall ms | update CPU ms"
          " | wall / 'process 1' wall |\n|---|---|---|---|---|---|")
    for load in args.load:
        burn = [sys.executable, "-c", "while True: pass"]
        burners = [subprocess.Popen(burn) for _ in range(load)]
        try:
            time.sleep(2 if load else 0)
            results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
            for _ in range(args.repeats):
                for mode in modes:
                    results[mode].append(time_updates(args.updates, mode))
            loadavg = os.getloadavg()[0]
        finally:
            for b in burners:
                b.kill()
                b.wait()
        one = statistics.median(w for w, _ in results["process 1"])
        for mode in modes:
            wall = statistics.median(w for w, _ in results[mode])
            cpu = statistics.median(c for _, c in results[mode])
            cells = [load, f"{loadavg:.1f}", mode, f"{wall:.2f}", f"{cpu:.2f}"]
            print("| " + " | ".join(map(str, cells)) + f" | {wall / one:.2f} |")


class _Child(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(width, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(width, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def children(args: argparse.Namespace) -> None:
    seen: list[tuple[int, int, float]] = []  # (thread id, torch threads, images/s)
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        width = trial.suggest_categorical("width", [16, 24, 32])
        for i in range(args.decisions - 1):  # the rest of the architecture's decisions
            trial.suggest_categorical(f"layer_{i}/op", ["conv3x3", "conv5x5", "pool", "skip"])
        if args.invalid_every and trial.number % args.invalid_every == 1:
            # An architecture that cannot be built: pruned at once, no torch work (as the
            # project's CNN objective does), so this thread is soon back for the next trial.
            trial.report(0.0, step=0)
            raise optuna.TrialPruned()
        # Non-torch work first (reading data, building the network's spec), as a real objective
        # does, for a time that varies between trials.
        rng = np.random.RandomState(trial.number)
        time.sleep(rng.uniform(0, args.prep_ms / 1e3))
        images = rng.rand(args.batch, 1, 28, 28).astype(np.float32)
        labels = rng.randint(0, 10, size=args.batch)
        x, y = torch.from_numpy(images), torch.from_numpy(labels)
        threads = torch.get_num_threads()
        model = _Child(width)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        start = time.perf_counter()
        for _ in range(args.steps):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        rate = args.steps * args.batch / (time.perf_counter() - start)
        with lock:
            seen.append((threading.get_ident(), threads, rate))
        return float(loss.detach())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=1))
    study = optuna.create_study(sampler=sampler)
    for _ in range(args.repeats):  # each optimize call runs in fresh threads
        study.optimize(objective, n_trials=args.trials, n_jobs=2)
    counts = sorted({t for _, t, _ in seen})
    per_thread = {}
    for ident, threads, _ in seen:
        per_thread.setdefault(ident, set()).add(threads)
    one = [r for _, t, r in seen if t == 1]
    full = [r for _, t, r in seen if t == torch.get_num_threads()]
    print(f"optuna_rlnas from {os.path.dirname(optuna_rlnas.__file__)}; main thread's torch "
          f"threads {torch.get_num_threads()}; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{len(seen)} children in {len(per_thread)} threads; torch threads seen in the "
          f"objectives: {counts}; threads that saw 1: "
          f"{sum(1 in s for s in per_thread.values())} of {len(per_thread)}")
    print(f"images/s, median: all {statistics.median(r for *_, r in seen):.0f}; "
          f"children on 1 thread {statistics.median(one) if one else float('nan'):.0f} "
          f"({len(one)}); on {torch.get_num_threads()} threads "
          f"{statistics.median(full) if full else float('nan'):.0f} ({len(full)})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=0, help="updates timed per repeat")
    parser.add_argument("--load", type=int, nargs="+", default=[0], help="busy processes to add")
    parser.add_argument("--children", action="store_true", help="the n_jobs=2 check")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=8, help="trials per optimize call")
    parser.add_argument("--steps", type=int, default=20, help="training steps per child")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--decisions", type=int, default=30, help="decisions per child")
    parser.add_argument("--invalid-every", type=int, default=0,
                        help="every K-th trial is an invalid architecture, pruned at once")
    parser.add_argument("--prep-ms", type=float, default=100.0, help="non-torch work, at most")
    args = parser.parse_args(argv)
    if args.updates:
        updates(args)
    if args.children:
        children(args)


if __name__ == "__main__":
    main()
