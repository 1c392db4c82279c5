"""What the model's numbers mean for the next child: the value transform and the acquisition.

* :func:`normal_scores`: rewards become the normal quantiles of their ranks, so the model sees
  the same thing whatever the objective's scale or tails (a loss over orders of magnitude, an
  accuracy in % or as a fraction) and a few outliers do not flatten the rest.
* :func:`log_expected_improvement`: log E[max(0, f - best)] for f ~ N(mean, var) (Jones et al.
  1998), computed in log space so that candidates far below ``best`` still rank by it rather than
  all tying at 0 (Ament et al. 2023, "Unexpected improvements to expected improvement", Eq. 9).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from optuna_rlnas._openmp import one_thread_here

_SQRT_HALF = math.sqrt(0.5)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)


@one_thread_here()
def normal_scores(values: np.ndarray) -> np.ndarray:
    """Phi^-1((rank - 1/2) / n) of each value, ties sharing their mean rank."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return values.copy()
    order = np.argsort(values, kind="stable")
    # Ties: every member of a run of equal values gets the run's mean rank, (s + 1 + e) / 2
    # for the run of sorted positions [s, e) (a run of one: its own rank, s + 1).
    sorted_values = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], n]
    ranks = np.empty(n)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    quantiles = torch.as_tensor((ranks - 0.5) / n, dtype=torch.float64)
    scores: np.ndarray = torch.special.ndtri(quantiles).numpy()
    return scores


@one_thread_here()
def log_expected_improvement(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """log E[max(0, f - best)], f ~ N(mean, var), elementwise.

    EI = sigma * h(z) with z = (mean - best) / sigma and h(z) = z Phi(z) + phi(z). For z < -25,
    h is computed as phi(z) (1 + sqrt(pi / 2) z erfcx(-z / sqrt 2)), which does not cancel.
    """
    sigma = torch.as_tensor(np.sqrt(var), dtype=torch.float64)
    z = (torch.as_tensor(mean, dtype=torch.float64) - best) / sigma
    h = 0.5 * z * torch.special.erfc(-_SQRT_HALF * z) + torch.exp(-0.5 * z * z - _LOG_SQRT_2PI)
    out = h.log()
    small = z < -25
    if small.any():
        zs = z[small]
        out[small] = (
            -0.5 * zs * zs
            - _LOG_SQRT_2PI
            + torch.log1p(_SQRT_HALF_PI * zs * torch.special.erfcx(-_SQRT_HALF * zs))
        )
    log_ei: np.ndarray = (out + sigma.log()).numpy()
    return log_ei


def log_augmented_expected_improvement(
    mean: np.ndarray, var: np.ndarray, best: float, noise: float
) -> np.ndarray:
    """log of EI times (1 - sigma_n / sqrt(var + sigma_n^2)), the augmented EI of Huang et al.
    (2006, Eq. 8) for noisy observations: a child whose f is already known to within the noise
    (evaluated several times) gains little from one more evaluation, so its EI is discounted,
    and re-evaluating the incumbent does not crowd out new children."""
    penalty = np.log1p(-np.sqrt(noise / (np.asarray(var) + noise)))
    return log_expected_improvement(mean, var, best) + penalty
