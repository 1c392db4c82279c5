"""Optuna distributions as finite sets of actions.

The controller chooses among a finite number of actions per decision (a softmax, Sec. 3.1), so
every distribution is mapped onto ``n_actions`` actions:

* ``CategoricalDistribution``: one action per choice, whatever its type (str, int, float, bool,
  None).
* ``IntDistribution`` / ``FloatDistribution`` with at most ``n_bins`` representable values (an
  int range, or a float with ``step``): one action per grid point, exactly.
* Otherwise (continuous floats, wide int ranges): ``n_bins`` equal-width bins, in log space when
  ``log=True``. An action picks a bin; the value is drawn uniformly inside the bin with the
  sampler's generator, then snapped to ``step`` (or to an integer) and clipped to ``[low, high]``.
  A value maps back to the bin that contains it. Positions in a range are computed as convex
  combinations of its ends, so a range as wide as the floats (-1e308, 1e308) does not overflow.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution


class ActionMap:
    """The actions of one distribution and the conversions to and from its values."""

    def __init__(self, distribution: BaseDistribution, n_bins: int) -> None:
        self.distribution = distribution
        self.grid: list[Any] | None = None
        if isinstance(distribution, CategoricalDistribution):
            self.grid = list(distribution.choices)
            self.n_actions = len(self.grid)
            return
        if not isinstance(distribution, (IntDistribution, FloatDistribution)):
            raise ValueError(
                f"RLNASSampler supports CategoricalDistribution, IntDistribution and "
                f"FloatDistribution, but got {type(distribution).__name__}."
            )
        step = distribution.step
        if isinstance(distribution, IntDistribution) and step is None:
            step = 1
        if step is not None:
            n_grid = int(round((distribution.high - distribution.low) / step)) + 1
            if n_grid <= n_bins:
                values = [distribution.low + k * step for k in range(n_grid)]
                if isinstance(distribution, IntDistribution):
                    self.grid = [int(v) for v in values]
                else:
                    self.grid = [
                        float(min(_round_step(v, step), distribution.high)) for v in values
                    ]
                self.n_actions = n_grid
                return
        self.n_actions = n_bins
        self._lo = self._transform(distribution.low)
        self._hi = self._transform(distribution.high)
        self._step = step

    def _transform(self, x: float) -> float:
        return math.log(x) if self.distribution.log else float(x)  # type: ignore[attr-defined]

    def _untransform(self, u: float) -> float:
        return math.exp(u) if self.distribution.log else u  # type: ignore[attr-defined]

    def value(
        self, action: int, rng: np.random.RandomState, distribution: BaseDistribution | None = None
    ) -> Any:
        """The value of ``action``; bins draw uniformly inside themselves with ``rng``.

        ``distribution``: the one passed to this ``suggest`` call, when it may differ in type
        from the one the map was built for while equal to it (Optuna compares choices by
        ``==``: ``[1, 2]``, ``[1.0, 2.0]`` and ``[True, 2]`` are one distribution); the value is
        read from its choices, so the caller gets back one of the choices it passed.
        """
        if isinstance(distribution, CategoricalDistribution):
            return distribution.choices[action]
        if self.grid is not None:
            return self.grid[action]
        x = self._untransform(self._at((action + rng.random_sample()) / self.n_actions))
        d = self.distribution
        low, high = d.low, d.high  # type: ignore[attr-defined]
        if isinstance(d, IntDistribution):
            step = self._step or 1
            return int(min(max(low + round((x - low) / step) * step, low), high))
        if self._step is not None:
            x = low + round((x - low) / self._step) * self._step
            x = _round_step(x, self._step)
        return float(min(max(x, low), high))

    def _at(self, t: float) -> float:
        """The point a fraction ``t`` of the way from the range's start to its end."""
        return self._lo * (1.0 - t) + self._hi * t  # never more than max(|lo|, |hi|)

    def action(self, value: Any) -> int:
        """The action that stands for ``value`` (the bin containing it, for bins)."""
        if isinstance(self.distribution, CategoricalDistribution):
            return int(self.distribution.to_internal_repr(value))
        if self.grid is not None:
            return int(np.argmin([abs(g - value) for g in self.grid]))
        # Halved, so that neither the span nor the offset overflows on the widest ranges.
        half_span = self._hi / 2 - self._lo / 2
        if half_span <= 0:
            return 0
        t = (self._transform(value) / 2 - self._lo / 2) / half_span
        return int(min(max(math.floor(t * self.n_actions), 0), self.n_actions - 1))

    def label(self, action: int) -> str:
        """A short human label for ``action``: the choice, or the bin's range."""
        if self.grid is not None:
            return (
                repr(self.grid[action])
                if not isinstance(self.grid[action], str)
                else self.grid[action]
            )
        lo = self._untransform(self._at(action / self.n_actions))
        hi = self._untransform(self._at((action + 1) / self.n_actions))
        return f"[{lo:.3g}, {hi:.3g}]"


def _round_step(x: float, step: float) -> float:
    # Keep as many decimals as the step has, so 0.1 * 3 prints as 0.3, not 0.30000000000000004.
    decimals = max(0, -math.floor(math.log10(step)) + 6) if step > 0 else 12
    return round(x, decimals)
