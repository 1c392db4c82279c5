"""A sampler wrapper that measures the time spent in the sampler, per trial.

Every sampler hook Optuna calls receives the trial, so the time of each call is charged to
``trial.number``. The objective's time is never inside a hook, so it is excluded.

Python's cyclic garbage collector runs when the process's allocations cross a threshold and then
pauses whatever code runs, for a time that grows with every object of the process (a full
collection late in a 1,000-trial study took ~0.1 s here). The pauses that fell inside a hook
are also kept apart, in ``gc_seconds``, so that a reader can tell them from the sampler's work.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


class TimedSampler(BaseSampler):
    """Delegates to ``sampler`` and adds the seconds of each hook to ``seconds[trial.number]``.

    Example:
        >>> import optuna
        >>> sampler = TimedSampler(optuna.samplers.RandomSampler(seed=0))
        >>> study = optuna.create_study(sampler=sampler)
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        >>> sorted(sampler.seconds) == [0, 1, 2]
        True
    """

    def __init__(self, sampler: BaseSampler) -> None:
        self.sampler = sampler
        self.seconds: defaultdict[int, float] = defaultdict(float)  # in the hooks, GC included
        self.gc_seconds: defaultdict[int, float] = defaultdict(float)  # GC pauses in the hooks
        self._gc_start = 0.0

    def _timed(self, trial: FrozenTrial, fn: Any, *args: Any) -> Any:
        number = trial.number

        def collector(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                self._gc_start = time.perf_counter()
            else:
                self.gc_seconds[number] += time.perf_counter() - self._gc_start

        gc.callbacks.append(collector)
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds[number] += time.perf_counter() - start
            gc.callbacks.remove(collector)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._timed(trial, self.sampler.infer_relative_search_space, study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._timed(trial, self.sampler.sample_relative, study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._timed(
            trial, self.sampler.sample_independent, study, trial, param_name, param_distribution
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._timed(trial, self.sampler.before_trial, study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._timed(trial, self.sampler.after_trial, study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
