"""Regularized evolution (Real et al., "Regularized Evolution for Image Classifier Architecture
Search", AAAI 2019, Algorithm 1) as an Optuna sampler.

The population is the ``population_size`` most recent finished trials: in the paper every cycle
adds one child and removes the oldest member, so after the initial population the living
population is exactly the newest ``population_size`` models. The sampler therefore keeps no state
beyond its random generator; it rebuilds everything from the study's trials.

One cycle: draw ``sample_size`` members uniformly without replacement, take the best as parent,
copy it and mutate one decision to a different value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


class RegularizedEvolutionSampler(BaseSampler):
    """Aging evolution over the decisions every finished trial shares.

    Args:
        population_size: P, the number of living models; the first P trials are random.
        sample_size: S, the tournament size.
        seed: seed of the sampler's random generator.

    Example:
        >>> import optuna
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> sampler = RegularizedEvolutionSampler(population_size=5, sample_size=2, seed=0)
        >>> study = optuna.create_study(sampler=sampler)
        >>> study.optimize(lambda t: t.suggest_int("x", -10, 10) ** 2, n_trials=30)
        >>> study.best_value <= 4
        True
    """

    def __init__(self, *, population_size: int = 10, sample_size: int = 3, seed: int | None = None):
        if population_size < 2:
            raise ValueError(f"population_size must be >= 2, but got {population_size}.")
        if not 1 <= sample_size <= population_size:
            raise ValueError(
                f"sample_size must be in [1, population_size={population_size}], "
                f"but got {sample_size}."
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self._rng = np.random.RandomState(seed)
        self._random = RandomSampler(seed=seed)
        self._search_space = IntersectionSearchSpace()

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._random.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._search_space.calculate(study)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        finished = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True)
        population = [t for t in finished if search_space.keys() <= t.params.keys()]
        population = population[-self.population_size :]  # aging: the newest P survive
        if len(population) < self.population_size:
            return {}  # still building the initial random population
        picks = self._rng.choice(len(population), size=self.sample_size, replace=False)
        pick = max if study.direction == StudyDirection.MAXIMIZE else min
        parent = pick((population[i] for i in picks), key=lambda t: t.value)
        child = {name: parent.params[name] for name in search_space}
        names = sorted(search_space)
        name = names[self._rng.randint(len(names))]
        child[name] = self._mutate(search_space[name], child[name])
        return child

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def _mutate(self, dist: BaseDistribution, value: Any) -> Any:
        """A value of ``dist`` different from ``value`` (when one exists), drawn uniformly."""
        if isinstance(dist, CategoricalDistribution):
            others = [c for c in dist.choices if c != value]
            return others[self._rng.randint(len(others))] if others else value
        if isinstance(dist, IntDistribution):
            values = list(range(dist.low, dist.high + 1, dist.step))
            others = [v for v in values if v != value]
            return others[self._rng.randint(len(others))] if others else value
        if isinstance(dist, FloatDistribution):
            if dist.log:
                return float(math.exp(self._rng.uniform(math.log(dist.low), math.log(dist.high))))
            if dist.step is not None:
                n = int(round((dist.high - dist.low) / dist.step))
                others = [dist.low + k * dist.step for k in range(n + 1)]
                others = [v for v in others if not math.isclose(v, value)]
                return others[self._rng.randint(len(others))] if others else value
            return float(self._rng.uniform(dist.low, dist.high))
        raise TypeError(f"Unsupported distribution {dist!r}.")
