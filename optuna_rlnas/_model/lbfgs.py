"""A small L-BFGS minimiser (Nocedal & Wright 2006, Algorithm 7.4 and 7.5) on numpy vectors.

``torch.optim.LBFGS`` would do, but its first use imports ``torch._dynamo`` (seconds), a price
every process that fits a model would pay. The hyperparameters are a few dozen numbers, so this
plain version with a backtracking Armijo line search is enough and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def minimize(
    fun: Objective,
    x0: np.ndarray,
    max_iter: int = 60,
    memory: int = 10,
    gtol: float = 1e-6,
    ftol: float = 1e-10,
) -> np.ndarray:
    """The minimiser that L-BFGS reaches from ``x0``; ``fun(x) -> (f, grad)``.

    Stops after ``max_iter`` iterations, when the largest gradient component is below ``gtol``,
    or when an iteration improves f by less than ``ftol * (1 + |f|)``.
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    s_list: list[np.ndarray] = []
    y_list: list[np.ndarray] = []
    for it in range(max_iter):
        if not np.isfinite(f) or np.abs(g).max() < gtol:
            break
        direction = -_two_loop(g, s_list, y_list)
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction (curvature lost): restart from the gradient
            s_list, y_list = [], []
            direction, slope = -g, -float(g @ g)
        step = 1.0 if it or s_list else min(1.0, 1.0 / max(np.abs(g).sum(), 1e-12))
        for _ in range(30):  # backtracking until Armijo's sufficient decrease holds
            x_new = x + step * direction
            f_new, g_new = fun(x_new)
            if np.isfinite(f_new) and f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s, y = x_new - x, g_new - g
        if s @ y > 1e-12:  # keep only pairs with positive curvature
            s_list.append(s)
            y_list.append(y)
            if len(s_list) > memory:
                s_list.pop(0)
                y_list.pop(0)
        converged = f - f_new < ftol * (1.0 + abs(f))
        x, f, g = x_new, f_new, g_new
        if converged:
            break
    return x


def _two_loop(g: np.ndarray, s_list: list[np.ndarray], y_list: list[np.ndarray]) -> np.ndarray:
    """H g for the L-BFGS inverse-Hessian estimate H (Nocedal & Wright, Algorithm 7.4)."""
    q = g.copy()
    alphas = []
    for s, y in zip(reversed(s_list), reversed(y_list)):
        a = (s @ q) / (y @ s)
        alphas.append(a)
        q -= a * y
    if s_list:
        q *= (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1])
    for (s, y), a in zip(zip(s_list, y_list), reversed(alphas)):
        b = (y @ q) / (y @ s)
        q += (a - b) * s
    return q
