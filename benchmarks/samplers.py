"""The samplers the benchmarks compare, by name: ``SAMPLERS[name](seed) -> BaseSampler``.

* ``rlnas``: ``RLNASSampler`` with its defaults; ``rlnas-paper``: ``RLNASSampler.paper``, the
  paper's exact settings. Its reward is the validation accuracy cubed with accuracy as a
  fraction, so on problems whose values are percentages the value is divided by 100 first; on
  problems whose value is not an accuracy (minus a loss) the reward is the value itself.
* ``tpe``: Optuna's TPE with Optuna's defaults (multivariate since Optuna 5); ``random``.
* ``evolution``: regularized evolution (Real et al. 2019), population 10, tournament 3.
* Optuna's other samplers that handle categorical decisions natively: ``nsga2``, ``gp``,
  ``bruteforce`` (random order without repeats). ``cmaes`` and ``qmc`` are left out: they sample
  categoricals with their independent (random) sampler.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import optuna

from benchmarks.evolution import RegularizedEvolutionSampler

SamplerFactory = Callable[..., optuna.samplers.BaseSampler]


class SamplerUnavailable(RuntimeError):
    """The sampler cannot be built here; the runner skips it with this message."""


def _rlnas(seed: int) -> optuna.samplers.BaseSampler:
    try:
        from optuna_rlnas import RLNASSampler
    except ImportError as e:
        raise SamplerUnavailable(f"optuna_rlnas.RLNASSampler is not available: {e}") from e
    return RLNASSampler(seed=seed)


def _cubed_fraction(value: float, scale: float) -> float:
    return (value / scale) ** 3


def _rlnas_paper(seed: int, value_scale: float | None = 1.0) -> optuna.samplers.BaseSampler:
    try:
        from optuna_rlnas import RLNASSampler
    except ImportError as e:
        raise SamplerUnavailable(f"optuna_rlnas.RLNASSampler is not available: {e}") from e
    if not hasattr(RLNASSampler, "paper"):
        raise SamplerUnavailable("RLNASSampler.paper (the paper's settings) is not available.")
    if value_scale is None:  # not an accuracy: the sampler's own reward, the value
        return RLNASSampler.paper(seed=seed, reward_fn=None)
    reward = functools.partial(_cubed_fraction, scale=value_scale)
    return RLNASSampler.paper(seed=seed, reward_fn=reward)


SAMPLERS: dict[str, SamplerFactory] = {
    "rlnas": _rlnas,
    "rlnas-paper": _rlnas_paper,
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "evolution": lambda seed: RegularizedEvolutionSampler(seed=seed),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    "bruteforce": lambda seed: optuna.samplers.BruteForceSampler(seed=seed),
}

BASELINES = ("tpe", "random", "evolution", "nsga2", "gp", "bruteforce")


def make_sampler(
    name: str, seed: int, value_scale: float | None = 1.0
) -> optuna.samplers.BaseSampler:
    """``value_scale``: the value of a perfect accuracy (100 for percentages), ``None`` when the
    value is not an accuracy."""
    if name not in SAMPLERS:
        raise ValueError(f"Unknown sampler {name!r}; choose from {sorted(SAMPLERS)}.")
    if name == "rlnas-paper":
        return _rlnas_paper(seed, value_scale)
    return SAMPLERS[name](seed)
