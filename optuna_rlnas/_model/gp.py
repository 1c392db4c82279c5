"""A Gaussian process over children, on arrays (torch float64, no Optuna).

The kernel is the exponential of a weighted squared distance between feature rows
(``encoding.py``): with ``theta_d`` the weight of decision d and ``delta_d(x, x')`` its distance
(the categorical overlap for unordered decisions; for ordered ones ``((a - b) / (n - 1))^2`` by
default, ``|a - b| / (n - 1)`` with ``ModelConfig(squared_ordinal=False)``),

    k(x, x') = s^2 exp(-sum_d theta_d delta_d(x, x')),      y = f(x) + eps, eps ~ N(0, sigma^2),

one weight (an inverse length-scale) per decision: automatic relevance determination. The
hyperparameters (theta, s^2, sigma^2) maximise the marginal likelihood times a weak log-normal
prior (Rasmussen & Williams 2006, Eq. 2.30 and Sec. 5.4); the prior centres theta on
``theta_total / n_decisions`` so that two random children of a space with many decisions stay
correlated, as dimension-scaled priors do (Hvarfner et al. 2024).

:class:`Posterior` keeps a Cholesky factor that grows by blocks of rows (R&W Algorithm 2.1), so
a new child costs O(n^2), not O(n^3), between refits of the hyperparameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from optuna_rlnas._model import lbfgs
from optuna_rlnas._openmp import one_thread_here

_JITTER = 1e-8  # added to the diagonal, relative to s^2, for a factor that always exists
_LOG_SIGNAL_BOUNDS = (-4.0, 4.0)
_LOG_THETA_BOUNDS = (-9.0, 6.0)
_LOG_NOISE_BOUNDS = (-14.0, 2.0)


@dataclass(frozen=True)
class Prior:
    """The weak prior over the hyperparameters (log-normal on each).

    Args:
        theta_total: The prior median of ``theta_d`` is ``theta_total / n_decisions``: two
            children that differ in every decision are a priori correlated exp(-theta_total).
        log_theta_sd: Standard deviation of ``log theta_d``.
        noise: Prior median of sigma^2, in units of the standardised values.
        log_noise_sd: Standard deviation of ``log sigma^2``.
        log_signal_sd: Standard deviation of ``log s^2`` (median 1: the values are standardised).
    """

    theta_total: float = 1.0
    log_theta_sd: float = 1.5
    noise: float = 1e-2
    log_noise_sd: float = 2.0
    log_signal_sd: float = 1.0

    def initial(self, n_blocks: int) -> Hyperparameters:
        """The prior's medians."""
        return Hyperparameters(
            log_theta=np.full(n_blocks, math.log(self.theta_total / max(n_blocks, 1))),
            log_signal=0.0,
            log_noise=math.log(self.noise),
        )


@dataclass(frozen=True)
class Hyperparameters:
    log_theta: np.ndarray  # (n_blocks,): log of each decision's weight
    log_signal: float  # log s^2
    log_noise: float  # log sigma^2

    @property
    def noise_fraction(self) -> float:
        """sigma^2 / (s^2 + sigma^2): the share of an observation's variance that is noise."""
        signal, noise = math.exp(self.log_signal), math.exp(self.log_noise)
        return noise / (signal + noise)

    def weights(self, groups: np.ndarray, scales: np.ndarray, n_blocks: int) -> np.ndarray:
        """Per feature, theta of its decision times the feature's scale. Decisions added since
        the fit (define-by-run) take the fitted weights' median."""
        theta = np.exp(self.log_theta)
        if len(theta) < n_blocks:
            fill = float(np.median(theta)) if len(theta) else 1.0 / n_blocks
            theta = np.r_[theta, np.full(n_blocks - len(theta), fill)]
        weights: np.ndarray = theta[groups] * scales
        return weights


def sq_distances(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted squared distances between rows, shape ``(len(a), len(b))``."""
    aw = a * weights
    d = (aw * a).sum(1)[:, None] + ((b * weights) * b).sum(1)[None, :] - 2.0 * aw @ b.T
    return d.clamp_min(0.0)  # rounding can leave -1e-16 where rows are equal


def _block_distances(
    features: torch.Tensor, groups: torch.Tensor, scales: torch.Tensor, n_blocks: int
) -> torch.Tensor:
    """Per decision, the squared distances between the rows, shape ``(n_blocks, n, n)``."""
    out = torch.empty((n_blocks, len(features), len(features)), dtype=torch.float64)
    for b in range(n_blocks):
        cols = groups == b
        out[b] = sq_distances(features[:, cols], features[:, cols], scales[cols])
    return out


def _bounded(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The parameters clamped to their bounds, and where they are inside (gradient passes)."""
    low = torch.full_like(params, _LOG_THETA_BOUNDS[0])
    high = torch.full_like(params, _LOG_THETA_BOUNDS[1])
    low[-2], high[-2] = _LOG_SIGNAL_BOUNDS
    low[-1], high[-1] = _LOG_NOISE_BOUNDS
    return torch.minimum(torch.maximum(params, low), high), (params >= low) & (params <= high)


def neg_log_posterior(
    params: torch.Tensor, distances: torch.Tensor, y: torch.Tensor, prior: Prior
) -> tuple[torch.Tensor, torch.Tensor]:
    """-(log marginal likelihood + log prior) / n and its gradient, for
    ``params = [log theta (n_blocks), log s^2, log sigma^2]`` and the decisions' squared
    distances ``distances`` (``(n_blocks, n, n)``).

    The likelihood is R&W Eq. (2.30), -1/2 y^T K^-1 y - sum log diag(L) - n/2 log 2 pi with
    K = L L^T, and its gradient Eq. (5.9): d/dp = -1/2 tr((alpha alpha^T - K^-1) dK/dp), where
    dK/d log theta_d = -theta_d (K - sigma^2 I) * D_d elementwise, dK/d log s^2 = K - sigma^2 I
    and dK/d log sigma^2 = sigma^2 I. Written out, not by autograd: 4x cheaper here.
    """
    bounded, inside = _bounded(params)
    log_theta, log_signal, log_noise = bounded[:-2], bounded[-2], bounded[-1]
    n = len(y)
    signal, noise, theta = log_signal.exp(), log_noise.exp(), log_theta.exp()
    k_f = signal * torch.exp(-torch.tensordot(theta, distances, dims=1))  # (n, n)
    diagonal = noise + _JITTER * signal
    k = k_f + diagonal * torch.eye(n, dtype=torch.float64)
    factor, info = torch.linalg.cholesky_ex(k)
    if info.item() != 0:  # not positive definite in floating point: more jitter
        diagonal = diagonal + 1e-6 * signal
        factor = torch.linalg.cholesky(k + 1e-6 * signal * torch.eye(n, dtype=torch.float64))
    alpha = torch.cholesky_solve(y[:, None], factor)[:, 0]
    nll = 0.5 * y @ alpha + factor.diagonal().log().sum() + 0.5 * n * math.log(2 * math.pi)
    # G = dnll/dK = 1/2 (K^-1 - alpha alpha^T).
    g = 0.5 * (torch.cholesky_inverse(factor) - torch.outer(alpha, alpha))
    gk = g * k_f
    grad = torch.empty_like(params)
    grad[:-2] = -theta * torch.tensordot(distances, gk, dims=([1, 2], [0, 1]))
    grad[-2] = gk.sum() + _JITTER * signal * g.diagonal().sum()
    grad[-1] = noise * g.diagonal().sum()

    theta_median = math.log(prior.theta_total / len(log_theta))
    medians = torch.full_like(params, theta_median)
    medians[-2], medians[-1] = 0.0, math.log(prior.noise)
    sds = torch.full_like(params, prior.log_theta_sd)
    sds[-2], sds[-1] = prior.log_signal_sd, prior.log_noise_sd
    z = (bounded - medians) / sds
    loss = (nll + 0.5 * (z * z).sum()) / n
    grad = torch.where(inside, (grad + z / sds) / n, torch.zeros_like(grad))
    return loss, grad


def fit(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    scales: np.ndarray,
    n_blocks: int,
    prior: Prior | None = None,
    max_iter: int = 60,
) -> Hyperparameters:
    """The hyperparameters that maximise the marginal likelihood times the prior.

    L-BFGS (``lbfgs.py``) from the prior's medians: a pure function of the
    data, so every worker and every restart that fits the same children gets the same result.
    """
    prior = prior or Prior()
    start = prior.initial(n_blocks)
    y_t = torch.as_tensor(y, dtype=torch.float64)
    with one_thread_here():
        distances = _block_distances(
            torch.as_tensor(features, dtype=torch.float64),
            torch.as_tensor(groups, dtype=torch.long),
            torch.as_tensor(scales, dtype=torch.float64),
            n_blocks,
        )

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grad = neg_log_posterior(torch.from_numpy(x), distances, y_t, prior)
            return float(loss), grad.numpy()

        x = lbfgs.minimize(
            fun, np.r_[start.log_theta, start.log_signal, start.log_noise], max_iter=max_iter
        )
    values = _bounded(torch.from_numpy(x))[0].numpy()
    return Hyperparameters(values[:-2].copy(), float(values[-2]), float(values[-1]))


class Posterior:
    """The GP's posterior given fixed hyperparameters, grown one block of children at a time.

    The Cholesky factor is kept as two parts, L = [[L_0, 0], [B, C]]: a base L_0 and the rows
    added since it was last rebuilt. Appending a child then costs one triangular solve, O(n^2),
    and no copy of L_0 (torch copies a strided view of a larger buffer on every solve, which
    cost more than the solve itself at 1,000 children); the parts are merged when the added
    rows reach a quarter of the base.

    Args:
        weights: Per feature, ``theta_d * scale`` (:meth:`Hyperparameters.weights`).
        signal: s^2.
        noise: sigma^2.

    Example:
        >>> post = Posterior(np.ones(2), signal=1.0, noise=1e-4)
        >>> post.extend(np.array([[0.0, 1.0], [1.0, 0.0]]))
        >>> alpha = post.solve(np.array([1.0, -1.0]))
        >>> mean, var = post.predict(np.array([[0.0, 1.0]]), alpha)
        >>> round(float(mean[0]), 2), bool(var[0] < 1e-3)
        (1.0, True)
    """

    def __init__(self, weights: np.ndarray, signal: float, noise: float) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        self.signal = float(signal)
        self.noise = float(noise) + _JITTER * self.signal
        # Row buffers with spare room, so that a new child copies one row, not the table.
        self._features = torch.zeros((0, len(weights)), dtype=torch.float64)
        self._base = torch.zeros((0, 0), dtype=torch.float64)  # L_0
        self._row_buffer = torch.zeros((0, 0), dtype=torch.float64)  # B in its first rows
        self._corner = torch.zeros((0, 0), dtype=torch.float64)  # C, (m, m)
        self.n = 0

    @property
    def features(self) -> torch.Tensor:
        """The stored children's feature rows, shape ``(n, n_features)``."""
        return self._features[: self.n]

    @property
    def _rows(self) -> torch.Tensor:
        """B, shape ``(n - n_0, n_0)``: the factor's rows added since the base."""
        return self._row_buffer[: self.n - len(self._base)]

    def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.signal * torch.exp(-sq_distances(a, b, self.weights))

    @property
    def factor(self) -> torch.Tensor:
        """L with L L^T = K + sigma^2 I over the children so far (assembled: for tests)."""
        n0 = len(self._base)
        out = torch.zeros((self.n, self.n), dtype=torch.float64)
        out[:n0, :n0] = self._base
        out[n0:, :n0] = self._rows
        out[n0:, n0:] = self._corner
        return out

    def grow(self, weights: np.ndarray, missing_tail: np.ndarray) -> None:
        """New decisions appeared: the stored rows read as missing in their features. Distances
        between stored rows do not change (missing and missing are at distance 0), nor L."""
        extra = len(weights) - self.features.shape[1]
        if extra <= 0:
            return
        tail = torch.as_tensor(missing_tail, dtype=torch.float64).expand(self.n, -1)
        self._features = torch.cat([self.features, tail], dim=1)
        self.weights = torch.as_tensor(weights, dtype=torch.float64)

    def solve_lower(self, rhs: torch.Tensor) -> torch.Tensor:
        """L^-1 rhs, by blocks: x_0 = L_0^-1 r_0, x_1 = C^-1 (r_1 - B x_0)."""
        n0 = len(self._base)
        x0: torch.Tensor = torch.linalg.solve_triangular(self._base, rhs[:n0], upper=False)
        if self.n == n0:
            return x0
        x1 = torch.linalg.solve_triangular(
            self._corner, rhs[n0:] - _skinny(self._rows, x0), upper=False
        )
        return torch.cat([x0, x1])

    def factor_rows(self, start: int) -> torch.Tensor:
        """Rows ``start:`` of L, shape ``(n - start, n)``."""
        n0 = len(self._base)
        out = torch.zeros((self.n - start, self.n), dtype=torch.float64)
        if start < n0:
            out[: n0 - start, :n0] = self._base[start:]
        first = max(start, n0)  # the first of the rows added since the base
        if self.n > first:
            out[first - start :, :n0] = self._rows[first - n0 :]
            out[first - start :, n0:] = self._corner[first - n0 :]
        return out

    def solve_appended(self, solved: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """The last rows of L^-1 [r_0; r_1], given ``solved`` = L_00^-1 r_0 over the first
        children and ``rhs`` = r_1 over the rest: L_11^-1 (r_1 - L_10 solved), O(n) per
        column for one new child."""
        start = len(solved)
        rows = self.factor_rows(start)
        out: torch.Tensor = torch.linalg.solve_triangular(
            rows[:, start:], rhs - _skinny(rows[:, :start], solved), upper=False
        )
        return out

    def _solve_upper(self, rhs: torch.Tensor) -> torch.Tensor:
        """L^-T rhs, by blocks: x_1 = C^-T r_1, x_0 = L_0^-T (r_0 - B^T x_1)."""
        n0 = len(self._base)
        if self.n == n0:
            x: torch.Tensor = torch.linalg.solve_triangular(self._base.T, rhs, upper=True)
            return x
        x1 = torch.linalg.solve_triangular(self._corner.T, rhs[n0:], upper=True)
        x0 = torch.linalg.solve_triangular(
            self._base.T, rhs[:n0] - _skinny(self._rows.T, x1), upper=True
        )
        return torch.cat([x0, x1])

    @one_thread_here()
    def extend(self, rows: np.ndarray, solved: torch.Tensor | None = None) -> None:
        """Add children (rows of features): the block Cholesky update,
        L_21 = (L^-1 K_12)^T and L_22 L_22^T = K_22 + sigma^2 I - L_21 L_21^T. ``solved``:
        L^-1 K_12 when already known (the screening solved it for a candidate)."""
        new = torch.as_tensor(rows, dtype=torch.float64)
        m = len(new)
        if m == 0:
            return
        k22 = self.kernel(new, new) + self.noise * torch.eye(m, dtype=torch.float64)
        if self.n:
            if solved is None:
                solved = self.solve_lower(self.kernel(self.features, new))
            l21 = solved.T  # (m, n)
            schur = k22 - l21 @ l21.T
        else:
            l21, schur = torch.zeros((m, 0), dtype=torch.float64), k22
        l22, info = torch.linalg.cholesky_ex(schur)
        if info.item() != 0:  # a repeat of a child with almost no noise: a touch more jitter
            l22 = torch.linalg.cholesky(
                schur + 1e-6 * self.signal * torch.eye(m, dtype=torch.float64)
            )
        n0, added = len(self._base), self.n - len(self._base)
        corner = torch.zeros((added + m, added + m), dtype=torch.float64)
        corner[:added, :added] = self._corner
        corner[added:, :added] = l21[:, n0:]
        corner[added:, added:] = l22
        self._row_buffer = _put_rows(self._row_buffer, added, l21[:, :n0])
        self._corner = corner
        self._features = _put_rows(self._features, self.n, new)
        self.n += m
        if added + m > max(16, n0 // 4):  # merge: one copy per quarter of growth
            self._base = self.factor
            self._row_buffer = torch.zeros((max(16, self.n // 4) + 1, self.n), dtype=torch.float64)
            self._corner = torch.zeros((0, 0), dtype=torch.float64)

    @one_thread_here()
    def solve(self, y: np.ndarray) -> np.ndarray:
        """alpha = (K + sigma^2 I)^-1 y = L^-T L^-1 y for targets of the stored children."""
        rhs = torch.as_tensor(y, dtype=torch.float64)[:, None]
        return self._solve_upper(self.solve_lower(rhs))[:, 0].numpy()

    @one_thread_here()
    def cross(self, rows: np.ndarray) -> torch.Tensor:
        """k(X, rows), shape (n, len(rows)): what :meth:`mean` and :meth:`variance` take."""
        return self.kernel(self.features, torch.as_tensor(rows, dtype=torch.float64))

    def mean(self, k_star: torch.Tensor, alpha: np.ndarray) -> np.ndarray:
        """Posterior mean of f at the rows of ``k_star`` (R&W Eq. 2.25): k_*^T alpha."""
        return (k_star.T @ torch.as_tensor(alpha, dtype=torch.float64)).numpy()

    @one_thread_here()
    def variance(self, k_star: torch.Tensor) -> np.ndarray:
        """Posterior variance of f (noise excluded) at the rows of ``k_star`` (R&W Eq. 2.26):
        s^2 - |L^-1 k_*|^2."""
        if self.n == 0:
            return np.full(k_star.shape[1], self.signal)
        v = self.solve_lower(k_star)
        return (self.signal - (v * v).sum(0)).clamp_min(1e-12 * self.signal).numpy()

    def variance_bound(self, k_star: torch.Tensor) -> np.ndarray:
        """An upper bound of :meth:`variance` that costs O(n) per row: the posterior variance
        given the nearest stored child alone, s^2 - k^2 / (s^2 + sigma^2), since conditioning
        on more children never adds variance (a margin covers the solves' rounding)."""
        if self.n == 0:
            return np.full(k_star.shape[1], self.signal)
        nearest = k_star.max(0).values
        bound = self.signal - nearest * nearest / (self.signal + self.noise)
        return (bound + 1e-6 * self.signal).clamp_max(self.signal).numpy()

    def predict(self, rows: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of f at ``rows``."""
        if self.n == 0:
            return np.zeros(len(rows)), np.full(len(rows), self.signal)
        k_star = self.cross(rows)
        return self.mean(k_star, alpha), self.variance(k_star)

    def train_mean(self, y: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """The posterior mean at the stored children: K_f alpha = y - sigma^2 alpha."""
        return np.asarray(y) - self.noise * alpha


def _skinny(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for a ``b`` of a few columns, computed as (b^T a^T)^T: MKL ran the transposed
    shape several times faster on the machine this was written on (a one-off timing)."""
    if b.shape[1] == 1:
        return a @ b
    return (b.T @ a.T).T


def _put_rows(buffer: torch.Tensor, used: int, rows: torch.Tensor) -> torch.Tensor:
    """``buffer`` with ``rows`` written after its first ``used`` rows; a full buffer is
    replaced by one twice as large (one copy per doubling)."""
    end = used + len(rows)
    if end > len(buffer) or buffer.shape[1] != rows.shape[1]:
        grown = torch.zeros((max(end, 2 * len(buffer)), rows.shape[1]), dtype=torch.float64)
        grown[:used] = buffer[:used]
        buffer = grown
    buffer[used:end] = rows
    return buffer
