"""Where the model-guided sampler's time goes, part by part, late in a study.

    python -m benchmarks.sampler_parts --problem nb201-cifar10 --start 900 --trials 100

Runs ``--start`` trials of the default ``RLNASSampler`` on a table problem, then ``--trials``
more with a wall-clock timer (``time.perf_counter``) around each part of the sampler, and prints
milliseconds per trial: the whole sampler (as ``benchmarks.sampler_time`` measures it), the
model's plan and its parts (the candidates' draw, the posterior's update, solve and refit, the
screening: cross-covariance and variance solves), and the controller's REINFORCE update. Parts
nest (a part's time includes its children's), and the timers add a few microseconds each; the
garbage collector's pauses are shown apart. It also counts, per trial, the candidates screened
and those screened before under the same posterior, the candidates whose variance was needed
and those solved in full, and the children whose solve the screening handed to the posterior.
``--config`` times a ``benchmarks.model_experiments`` configuration instead of the default. No
profiler: its overhead would distort the parts it times most often.
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna

from benchmarks.run import _problem
from benchmarks.samplers import make_sampler
from benchmarks.timing import TimedSampler

# (label, module, class, method): each part is timed where it is defined.
PARTS = [
    ("plan", "optuna_rlnas._model.guide", "ModelGuide", "plan"),
    ("plan / draw and pool", "optuna_rlnas._model.guide", "ModelGuide", "_pool_for"),
    ("plan / posterior", "optuna_rlnas._model.guide", "ModelGuide", "posterior"),
    ("plan / posterior / refit", "optuna_rlnas._model.guide", "ModelGuide", "_fit"),
    ("plan / posterior / extend", "optuna_rlnas._model.gp", "Posterior", "extend"),
    ("plan / posterior / solve", "optuna_rlnas._model.gp", "Posterior", "solve"),
    ("plan / evaluated children (noisy)", "optuna_rlnas._model.guide", "ModelGuide",
     "_top_children"),
    ("plan / screen", "optuna_rlnas._model.guide", "ModelGuide", "_best_candidate"),
    ("plan / screen / cross-covariance", "optuna_rlnas._model.pool", "Screen", "cross"),
    ("plan / screen / variance", "optuna_rlnas._model.pool", "Screen", "variance"),
    ("REINFORCE update", "optuna_rlnas._reinforce", "Reinforce", "update"),
]


class _Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {label: 0.0 for label, *_ in PARTS}
        self.solved = 0
        self.screened = 0
        self.candidates = 0  # screened per trial (new, not evaluated, not running)
        self.seen = 0  # of which screened before under the same posterior
        self.extensions = 0  # the posterior grown by a child
        self.handed = 0  # of which with the child's solve handed over by the screening
        self.gc_seconds = 0.0
        self._gc_start = 0.0
        self.on = False
        self._undo: list[tuple[type, str, Any]] = []

    def install(self) -> None:
        import importlib

        for label, module, cls_name, method in PARTS:
            cls = getattr(importlib.import_module(module), cls_name)
            self._wrap(cls, method, label)
        screen = importlib.import_module("optuna_rlnas._model.pool").Screen
        original = screen.variance

        def count(obj: Any, posterior: Any, slots: np.ndarray) -> Any:
            if self.on:
                self.screened += len(slots)
                self.solved += int((obj._vn[slots] < 0).sum())
            return original(obj, posterior, slots)

        self._undo.append((screen, "variance", original))
        screen.variance = count  # timed by the wrapper installed above, called through this one
        cross = screen.cross

        def count_cross(obj: Any, posterior: Any, keys: list[bytes], rows: np.ndarray) -> Any:
            if self.on:
                fresh = posterior is not obj._posterior or obj._rows.shape[1] != rows.shape[1]
                self.candidates += len(keys)
                self.seen += 0 if fresh else sum(k in obj._slot for k in keys)
            return cross(obj, posterior, keys, rows)

        self._undo.append((screen, "cross", cross))
        screen.cross = count_cross
        posterior = importlib.import_module("optuna_rlnas._model.gp").Posterior
        extend = posterior.extend

        def count_extend(obj: Any, rows: np.ndarray, solved: Any = None) -> Any:
            if self.on and len(rows) and obj.n:
                self.extensions += 1
                self.handed += solved is not None
            return extend(obj, rows, solved)

        self._undo.append((posterior, "extend", extend))
        posterior.extend = count_extend
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        """Python's cyclic collector pauses whatever runs; its time is shown apart, as it lands
        on one part or another by chance (a full collection late in a study takes ~0.1 s)."""
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif self.on:
            self.gc_seconds += time.perf_counter() - self._gc_start

    def _wrap(self, cls: type, method: str, label: str) -> None:
        original: Callable[..., Any] = getattr(cls, method)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                if self.on:
                    self.seconds[label] += time.perf_counter() - start

        self._undo.append((cls, method, original))
        setattr(cls, method, timed)

    def uninstall(self) -> None:
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        for cls, method, original in reversed(self._undo):
            setattr(cls, method, original)
        self._undo.clear()


def measure(
    problem: str, start: int, trials: int, seed: int = 0, config: str | None = None
) -> list[str]:
    """Markdown lines: milliseconds per trial of each part in trials [start, start + trials)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import torch

    torch.set_num_threads(1)
    spec = _problem(problem)
    timers = _Timers()
    timers.install()
    try:
        if config is None:
            inner = make_sampler("rlnas", seed, spec.value_scale)
        else:  # a configuration of benchmarks.model_experiments, e.g. model[n_candidates=128]
            from benchmarks import model_experiments

            inner = model_experiments.make_sampler(config, seed)
        sampler = TimedSampler(inner)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        objective = spec.make_objective(seed)
        study.optimize(objective, n_trials=start)
        timers.on = True
        study.optimize(objective, n_trials=trials)
    finally:
        timers.uninstall()
    total = float(np.mean([sampler.seconds[i] for i in range(start, start + trials)])) * 1e3
    lines = [
        f"{problem}, {config or 'default'}, seed {seed}, trials {start} to {start + trials - 1} "
        f"(milliseconds per trial; parts nest):",
        "",
        "| part | ms / trial | share of the sampler |",
        "|---|---:|---:|",
        f"| sampler (all of it) | {total:.2f} | 100% |",
    ]
    for label, seconds in timers.seconds.items():
        ms = seconds / trials * 1e3
        lines.append(f"| {label} | {ms:.2f} | {100 * ms / total:.0f}% |")
    gc_ms = timers.gc_seconds / trials * 1e3
    lines += [
        f"| garbage collection (anywhere in the trial; it pauses whichever part runs) | "
        f"{gc_ms:.2f} | {100 * gc_ms / total:.0f}% |",
        "",
        f"candidates screened: {timers.candidates / trials:.1f} per trial, of which screened "
        f"before under the same posterior: {timers.seen / trials:.1f}",
        f"children added to the posterior: {timers.extensions}, of which with their solve "
        f"handed over by the screening: {timers.handed}",
        f"candidates whose variance was needed: {timers.screened / trials:.1f} per trial, "
        f"of which solved in full (not screened before under this posterior): "
        f"{timers.solved / trials:.1f}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default="nb201-cifar10")
    parser.add_argument("--start", type=int, default=900)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", help="a benchmarks.model_experiments configuration")
    args = parser.parse_args(argv)
    print("\n".join(measure(args.problem, args.start, args.trials, args.seed, args.config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
