"""The candidates of a trial (:class:`Pool`) and what screening them has computed so far
(:class:`Screen`).

Screening a candidate c needs the cross-covariance k(X, c) between the finished children X and
c, for the mean, and L^-1 k(X, c) for the variance (R&W Eqs. 2.25-2.26): O(n) and O(n^2) per
candidate. Between two refits of the hyperparameters the posterior only grows, a row per
finished child, and a trained controller proposes mostly what it proposed before (on
NAS-Bench-201 late in a study, 33 of the 42 candidates a trial screens were screened in an
earlier trial since the last refit: ``benchmarks/sampler_parts.py``). :class:`Screen` keeps both
per candidate, keyed by its feature row, and brings them up to date by the rows of the children
added since (O(n) per candidate and child, :meth:`Posterior.solve_appended`), so a fresh draw per
trial is screened at little more than the cost of its new candidates. Under noise the best
evaluated children are screened the same way (their variances set the incumbent each trial).
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import torch

from optuna_rlnas._model import gp
from optuna_rlnas._model.candidates import Candidates
from optuna_rlnas._model.candidates import _grown
from optuna_rlnas._openmp import one_thread_here
from optuna_rlnas._policy import PolicySnapshot

_LAG = 64  # children behind, at most, for a slot to be brought up to date rather than redone


class Pool:
    """Distinct candidates drawn from one policy snapshot.

    Args:
        policy: The snapshot they were drawn from (held, so that its identity stays unique).
        stamp: What else the draw depended on (the policy's version, the paths' and the
            encoder's state); with ``share_candidates`` the pool serves while it is unchanged.
        candidates: The distinct candidates.
        rows: Their feature rows.
        keys: The rows' bytes (computed from ``rows`` when not given).
    """

    def __init__(
        self,
        policy: PolicySnapshot | None,
        stamp: Hashable,
        candidates: Candidates,
        rows: np.ndarray,
        keys: list[bytes] | None = None,
    ) -> None:
        self.policy, self.stamp = policy, stamp
        self.candidates, self.rows = candidates, rows
        self.keys = [row.tobytes() for row in rows] if keys is None else keys

    def serves(self, policy: PolicySnapshot, stamp: Hashable) -> bool:
        return policy is self.policy and stamp == self.stamp


class Screen:
    """k(c, X) and (L^-1 k(X, c))^T of the candidates screened under one posterior, one slot per
    distinct feature row, each brought up to date when it is screened again.

    A new posterior (new hyperparameters) or new decisions start it over. At most
    ``max_entries`` candidates are kept; beyond that, those screened least recently are dropped.

    Args:
        max_entries: Candidates kept.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, but got {max_entries}.")
        self.max_entries = int(max_entries)
        self._posterior: gp.Posterior | None = None
        self._start(None)

    def _start(self, posterior: gp.Posterior | None) -> None:
        self._posterior = posterior
        width = 0 if posterior is None else posterior.features.shape[1]
        self._slot: dict[bytes, int] = {}
        self._keys: list[bytes] = []
        self._rows = torch.zeros((0, width), dtype=torch.float64)
        self._kt = torch.zeros((0, 0), dtype=torch.float64)  # k(c, X), a row per slot
        self._vt = torch.zeros((0, 0), dtype=torch.float64)  # (L^-1 k(X, c))^T
        self._kn = np.zeros(0, dtype=np.int64)  # children each slot's k covers
        self._vn = np.zeros(0, dtype=np.int64)  # children its L^-1 k covers (-1: none)
        self._var = np.zeros(0)  # the variance over those children
        self._used = np.zeros(0, dtype=np.int64)  # the last call that screened it
        self._calls = 0

    def __len__(self) -> int:
        return len(self._keys)

    @one_thread_here()
    def cross(
        self, posterior: gp.Posterior, keys: list[bytes], rows: np.ndarray
    ) -> tuple[np.ndarray, torch.Tensor]:
        """The slots of distinct candidates (``keys``: their feature rows' bytes) and k(c, X)
        over the posterior's children, shape ``(len(keys), n)``: a row per candidate (a
        copy)."""
        width = posterior.features.shape[1]
        if posterior is not self._posterior or self._rows.shape[1] != width:
            self._start(posterior)  # new hyperparameters or new decisions: start over
        self._calls += 1
        slots = np.fromiter((self._slot.get(k, -1) for k in keys), np.int64, len(keys))
        new = np.flatnonzero(slots < 0)
        if len(self) + len(new) > self.max_entries:
            slots = self._drop_stale(slots)
        if len(new):
            slots[new] = self._add([keys[i] for i in new], rows[new])
        self._used[slots] = self._calls
        n = posterior.n
        self._kt = _with_room(self._kt, len(self), n)
        for start, at in _catch_up(self._kn[slots], slots, n):
            self._kt[at, start:n] = posterior.kernel(self._rows[at], posterior.features[start:])
            self._kn[at.numpy()] = n
        return slots, self._kt[torch.from_numpy(slots), :n]

    @one_thread_here()
    def variance(self, posterior: gp.Posterior, slots: np.ndarray) -> np.ndarray:
        """Posterior variance of f at ``slots`` (after :meth:`cross` with this posterior):
        s^2 - |L^-1 k_*|^2, solving a slot in full once and then only the rows added since."""
        assert posterior is self._posterior, "call cross() first"
        n = posterior.n
        if n == 0:
            return np.full(len(slots), posterior.signal)
        assert np.all(self._kn[slots] == n), "call cross() first"
        self._vt = _with_room(self._vt, len(self), n)
        for start, at in _catch_up(self._vn[slots], slots, n):
            if start == 0:
                self._vt[at, :n] = posterior.solve_lower(self._kt[at, :n].T).T
            else:
                new = posterior.solve_appended(self._vt[at, :start].T, self._kt[at, start:n].T)
                self._vt[at, start:n] = new.T
            self._vn[at.numpy()] = n
        v = self._vt[torch.from_numpy(np.asarray(slots)), :n]
        var = (posterior.signal - (v * v).sum(1)).clamp_min(1e-12 * posterior.signal)
        out: np.ndarray = var.numpy()
        self._var[slots] = out
        return out

    def variance_bound(self, posterior: gp.Posterior, slots: np.ndarray) -> np.ndarray:
        """An upper bound of :meth:`variance` at no cost: the variance a slot had when it was
        last solved, over fewer children (conditioning on more never adds variance; a margin
        covers the solves' rounding); ``inf`` where never solved."""
        assert posterior is self._posterior, "call cross() first"
        solved = self._vn[slots] >= 0
        return np.where(solved, self._var[slots] + 1e-6 * posterior.signal, np.inf)

    def solved(self, posterior: gp.Posterior, rows: np.ndarray) -> torch.Tensor | None:
        """L^-1 k(X, rows), shape ``(n, len(rows))``, when every row was screened and solved
        over all of the posterior's children (the child a trial picked, coming back as an
        observation: its column of the factor then costs no solve); else ``None``."""
        if posterior is not self._posterior or self._rows.shape[1] != rows.shape[1]:
            return None
        slots = [self._slot.get(row.tobytes(), -1) for row in rows]
        if min(slots, default=-1) < 0 or np.any(self._vn[slots] != posterior.n):
            return None
        return self._vt[torch.as_tensor(slots), : posterior.n].T

    def _add(self, keys: list[bytes], rows: np.ndarray) -> np.ndarray:
        first, end = len(self), len(self) + len(keys)
        if end > len(self._kn):  # the per-slot arrays, doubled when full
            size = max(end, 2 * len(self._kn))
            self._rows = _with_room(self._rows, size, self._rows.shape[1])
            self._kn, self._vn = _grown(self._kn, size, 0), _grown(self._vn, size, -1)
            self._var, self._used = _grown(self._var, size, np.inf), _grown(self._used, size, 0)
        slots = np.arange(first, end, dtype=np.int64)
        self._slot.update(zip(keys, slots.tolist()))
        self._keys.extend(keys)
        self._rows[first:end] = torch.as_tensor(rows, dtype=torch.float64)
        self._kn[first:end], self._vn[first:end] = 0, -1
        self._var[first:end], self._used[first:end] = np.inf, 0
        return slots

    def _drop_stale(self, slots: np.ndarray) -> np.ndarray:
        """Keep the slots of this call and the most recently screened others, half the room
        in all; ``slots`` renumbered (-1 stays -1)."""
        used = self._used.copy()
        used[slots[slots >= 0]] = self._calls  # this call's first
        used = used[: len(self)]
        keep = np.sort(np.argsort(-used, kind="stable")[: max(self.max_entries // 2, 1)])
        keep = np.union1d(keep, slots[slots >= 0])
        renumber = np.full(len(self), -1, dtype=np.int64)
        renumber[keep] = np.arange(len(keep))
        at = torch.from_numpy(keep)
        self._keys = [self._keys[i] for i in keep.tolist()]
        self._slot = {k: i for i, k in enumerate(self._keys)}
        self._rows = self._rows[at]
        # A table has a row per slot once it was grown for it (variance() grows _vt lazily).
        self._kt = _with_room(self._kt, len(renumber), self._kt.shape[1])[at]
        self._vt = _with_room(self._vt, len(renumber), self._vt.shape[1])[at]
        self._kn, self._vn, self._used = self._kn[keep], self._vn[keep], self._used[keep]
        self._var = self._var[keep]
        return np.where(slots >= 0, renumber[np.maximum(slots, 0)], -1)


def _catch_up(
    covered: np.ndarray, slots: np.ndarray, n: int
) -> list[tuple[int, torch.Tensor]]:
    """(first child to compute, slots) groups that bring ``slots`` from the children they cover
    (-1: none) to ``n``: those a few children behind (at most ``_LAG``) in one group from the
    earliest of them (a slot further along recomputes a few rows it had: one call, not one
    per lag), those further behind or new from the first child."""
    behind = covered < n
    recent = behind & (covered >= max(n - _LAG, 0)) & (covered > 0)
    groups = []
    if recent.any():
        groups.append((int(covered[recent].min()), torch.from_numpy(slots[recent])))
    if (behind & ~recent).any():
        groups.append((0, torch.from_numpy(slots[behind & ~recent])))
    return groups


def _with_room(table: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``table`` with at least ``rows`` rows and ``cols`` columns (each doubled when full: one
    copy per doubling)."""
    have_rows, have_cols = table.shape
    if rows <= have_rows and cols <= have_cols:
        return table
    out = torch.zeros(
        (max(rows, 2 * have_rows if rows > have_rows else have_rows),
         max(cols, 2 * have_cols if cols > have_cols else have_cols)),
        dtype=torch.float64,
    )
    out[:have_rows, :have_cols] = table
    return out
