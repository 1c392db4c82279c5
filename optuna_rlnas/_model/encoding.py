"""Children as feature rows for the reward model: one block of features per decision.

The kernel (``gp.py``) is a squared distance in this feature space, weighted per decision, so the
encoding fixes what "near" means for each kind of decision:

* an *unordered* decision (a categorical, a skip connection) is one-hot: two different actions
  are at distance 1, whichever they are (the categorical-overlap kernel);
* an *ordered* one (an integer, a float grid or its bins) is a thermometer code (feature k is
  ``action > k``) scaled by ``1 / (n_actions - 1)``: actions a and b are at distance
  ``|a - b| / (n_actions - 1)``, so neighbours are near and the two ends are at distance 1;
  or, with ``squared``, the position ``a / (n_actions - 1)`` itself, at squared distance
  ``((a - b) / (n_actions - 1))^2`` (``ModelConfig.squared_ordinal``);
* a decision the child never took (a conditional branch not on its path) has a missing code,
  at distance 1 from every action and 0 from another missing one.

Define-by-run: blocks are added as decisions appear; rows encoded earlier read as "missing" in
the new blocks (:meth:`Encoder.pad`), which leaves every distance between them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Block:
    """The features of one decision: columns ``start : start + width`` of a row."""

    key: str
    n_actions: int
    ordered: bool
    start: int
    squared: bool = False  # ordered, at squared distance ((a - b) / (n - 1))^2

    @property
    def width(self) -> int:
        # One-hot over the actions plus the missing column; or the thermometer plus it.
        if self.squared:
            return 2
        return self.n_actions + 1 if not self.ordered else self.n_actions


class Encoder:
    """Maps children, ``{decision key: action}``, to rows of features.

    Example:
        >>> encoder = Encoder()
        >>> encoder.register("op", 3, ordered=False), encoder.register("width", 3, ordered=True)
        (0, 1)
        >>> encoder.encode([{"op": 2, "width": 1}]).round(2).tolist()
        [[0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]]
    """

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.index: dict[str, int] = {}
        self._scales: list[np.ndarray] = []
        self._missing: list[np.ndarray] = []

    @property
    def n_features(self) -> int:
        return self.blocks[-1].start + self.blocks[-1].width if self.blocks else 0

    def register(self, key: str, n_actions: int, ordered: bool, squared: bool = False) -> int:
        """The block of decision ``key``, added the first time it is seen."""
        known = self.index.get(key)
        if known is not None:
            block = self.blocks[known]
            if block.n_actions != n_actions:
                raise ValueError(
                    f"decision {key!r} was registered with {block.n_actions} actions, but now "
                    f"has {n_actions}."
                )
            return known
        if n_actions < 1:
            raise ValueError(f"n_actions of {key!r} must be >= 1, but got {n_actions}.")
        ordered = ordered and n_actions > 2  # two ordered actions are two categories
        squared = squared and ordered
        block = Block(key, n_actions, ordered, self.n_features, squared)
        if squared:
            # The position a / (n - 1), then the missing column: missing is at squared distance
            # 3/4 + (a / (n - 1) - 1/2)^2, in [3/4, 1], from every action.
            scale = np.array([1.0, 0.75])
            missing = np.array([0.5, 1.0])
        elif ordered:
            steps = n_actions - 1
            # Thermometer columns, then the missing column. A missing row reads 1/2 in every
            # thermometer column (squared distance 1/4 to any action) and 1 in its own column,
            # weighted 3/4, so that it is at distance 1 from every action.
            scale = np.r_[np.full(steps, 1.0 / steps), 0.75]
            missing = np.r_[np.full(steps, 0.5), 1.0]
        else:
            scale = np.full(n_actions + 1, 0.5)  # two one-hot rows that differ, differ twice
            missing = np.r_[np.zeros(n_actions), 1.0]
        self.blocks.append(block)
        self._scales.append(scale)
        self._missing.append(missing)
        self.index[key] = len(self.blocks) - 1
        return self.index[key]

    def scales(self) -> np.ndarray:
        """Per feature, the weight that makes each block's distances those of the docstring."""
        return np.concatenate(self._scales) if self._scales else np.zeros(0)

    def groups(self) -> np.ndarray:
        """Per feature, the index of its block (decision)."""
        return np.repeat(np.arange(len(self.blocks)), [b.width for b in self.blocks])

    def encode(self, children: Sequence[Mapping[str, int]]) -> np.ndarray:
        """Rows of features, shape ``(len(children), n_features)``; unknown keys are an error."""
        rows = np.tile(self.missing_row(), (len(children), 1))
        for r, child in enumerate(children):
            for key, action in child.items():
                block = self.blocks[self.index[key]]
                if not 0 <= action < block.n_actions:
                    raise ValueError(
                        f"action of {key!r} must be in [0, {block.n_actions}), but got {action}."
                    )
                cols = rows[r, block.start : block.start + block.width]
                if block.squared:
                    cols[0], cols[1] = action / (block.n_actions - 1), 0.0
                elif block.ordered:
                    cols[:-1] = np.arange(block.n_actions - 1) < action
                    cols[-1] = 0.0
                else:
                    cols[:] = 0.0
                    cols[action] = 1.0
        return rows

    def encode_steps(self, keys: Sequence[str], ids: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Rows of features for a batch of action sequences: ``keys[ids[i, t]]`` is row i's
        decision at step t and ``actions[i, t]`` its action (``ids`` -1: no step)."""
        rows = np.tile(self.missing_row(), (len(ids), 1))
        for t in range(ids.shape[1]):
            for d in np.unique(ids[:, t]).tolist():
                if d < 0:
                    continue
                at = np.flatnonzero(ids[:, t] == d)
                block = self.blocks[self.index[keys[d]]]
                acts = actions[at, t]
                if block.squared:
                    rows[at, block.start] = acts / (block.n_actions - 1)
                    rows[at, block.start + 1] = 0.0
                elif block.ordered:
                    steps = np.arange(block.n_actions - 1)
                    rows[at, block.start : block.start + block.n_actions - 1] = (
                        steps[None, :] < acts[:, None]
                    )
                    rows[at, block.start + block.n_actions - 1] = 0.0
                else:
                    rows[at, block.start : block.start + block.width] = 0.0
                    rows[at, block.start + acts] = 1.0
        return rows

    def missing_row(self) -> np.ndarray:
        """The row of a child that took no decision at all."""
        return np.concatenate(self._missing) if self._missing else np.zeros(0)

    def pad(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` encoded before blocks were added, with the new blocks read as missing."""
        if rows.shape[1] == self.n_features:
            return rows
        tail = self.missing_row()[rows.shape[1] :]
        return np.hstack([rows, np.tile(tail, (rows.shape[0], 1))])
