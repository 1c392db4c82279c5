"""One draw of candidates and their screening: for one trial, or (``share_candidates``) for
every trial until the policy moves.

The controller's weights change only when REINFORCE takes a step (one per batch of rewards,
Sec. 3.2 of the paper), so the children it would propose for the trials in between come from one
distribution. :class:`Pool` holds one draw of them, with what screening needs that only grows
as children finish: the cross-covariance k(X, c) between the finished children X and the
candidates, and, for the candidates whose variance was needed, L^-1 k(X, c) (R&W Eq. 2.26). A
finished child adds one row to each (O(n) per candidate, :meth:`Posterior.solve_appended`)
instead of a new draw, a new cross-covariance and new O(n^2) solves at every trial.
A picked child is not offered again: once evaluated (or running) the guide drops it, as it
drops every evaluated child.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import torch

from optuna_rlnas._model import gp
from optuna_rlnas._model.candidates import Candidates
from optuna_rlnas._openmp import one_thread_here
from optuna_rlnas._policy import PolicySnapshot


class Pool:
    """Distinct candidates drawn from one policy snapshot, and their screening so far.

    Args:
        policy: The snapshot they were drawn from (held, so that its identity stays unique).
        stamp: What else the draw depended on (the policy's version, the paths' and the
            encoder's state); the pool serves while it is unchanged.
        candidates: The distinct candidates.
        rows: Their feature rows.
    """

    def __init__(
        self, policy: PolicySnapshot, stamp: Hashable, candidates: Candidates, rows: np.ndarray
    ) -> None:
        self.policy, self.stamp = policy, stamp
        self.candidates, self.rows = candidates, rows
        self.keys = [row.tobytes() for row in rows]
        self._rows_t = torch.as_tensor(rows, dtype=torch.float64)
        self._posterior: gp.Posterior | None = None
        self._n = 0  # the finished children _kt and _vt cover
        # One row per candidate (a candidate's column of k(X, c) is then contiguous), with
        # spare room for children to come.
        self._kt = torch.zeros((len(rows), 0), dtype=torch.float64)  # k(c, X)
        self._vt = torch.zeros((len(rows), 0), dtype=torch.float64)  # (L^-1 k)^T, if _solved
        self._solved = np.zeros(len(rows), dtype=bool)

    def serves(self, policy: PolicySnapshot, stamp: Hashable) -> bool:
        return policy is self.policy and stamp == self.stamp

    @one_thread_here()
    def cross(self, posterior: gp.Posterior) -> torch.Tensor:
        """k(X, candidates) over the posterior's children, shape ``(n, m)`` (a view)."""
        n = posterior.n
        if posterior is not self._posterior or posterior.features.shape[1] != self.rows.shape[1]:
            # New hyperparameters (a refit), or new decisions: start over.
            self._posterior, self._n = posterior, n
            self._kt = _with_room(posterior.kernel(self._rows_t, posterior.features), n + 16)
            self._vt = torch.zeros_like(self._kt)
            self._solved[:] = False
        elif n > self._n:
            old = self._n
            self._kt, self._vt = _with_room(self._kt, n), _with_room(self._vt, n)
            self._kt[:, old:n] = posterior.kernel(self._rows_t, posterior.features[old:n])
            solved = torch.from_numpy(np.flatnonzero(self._solved))
            if len(solved):
                new = posterior.solve_appended(self._vt[solved, :old].T, self._kt[solved, old:n].T)
                self._vt[solved, old:n] = new.T
            self._n = n
        return self._kt[:, :n].T

    @one_thread_here()
    def variance(self, posterior: gp.Posterior, cols: np.ndarray) -> np.ndarray:
        """Posterior variance of f at candidates ``cols`` (after :meth:`cross` with this
        posterior): s^2 - |L^-1 k_*|^2, solving only the columns not solved before."""
        assert posterior is self._posterior and posterior.n == self._n, "call cross() first"
        n = self._n
        need = cols[~self._solved[cols]]
        if len(need):
            at = torch.from_numpy(need)
            self._vt[at, :n] = posterior.solve_lower(self._kt[at, :n].T).T
            self._solved[need] = True
        v = self._vt[torch.from_numpy(np.asarray(cols)), :n]
        var = (posterior.signal - (v * v).sum(1)).clamp_min(1e-12 * posterior.signal)
        out: np.ndarray = var.numpy()
        return out


def _with_room(table: torch.Tensor, n: int) -> torch.Tensor:
    """``table`` with at least ``n`` columns (doubled when full: one copy per doubling)."""
    if n <= table.shape[1]:
        return table
    out = torch.zeros((len(table), max(n, 2 * table.shape[1])), dtype=torch.float64)
    out[:, : table.shape[1]] = table
    return out
