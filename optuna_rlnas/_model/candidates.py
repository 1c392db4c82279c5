"""Many children drawn from the controller at once, before the trial asks for any decision.

The same maths as ``Rollout`` (``_policy.py``: Sec. 3.1's LSTM step and softmax, Sec. 3.3's skip
attention), on a batch: candidates that have drawn the same actions so far share one row of the
LSTM's state, and each step computes the softmax of all rows that make the same decision with
one product; each candidate then draws its own action. The decision a candidate
makes next comes from the paths of finished children (``paths.py``); a candidate whose next
decision they cannot tell stops there (its trial draws the rest step by step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from optuna_rlnas._decision import Decision
from optuna_rlnas._model.paths import END
from optuna_rlnas._model.paths import Paths
from optuna_rlnas._openmp import one_thread_here
from optuna_rlnas._policy import PolicySnapshot


@dataclass(frozen=True)
class Candidates:
    """Children drawn ahead of their trials, one row each, padded with -1 after their last step.

    ``decisions[ids[i, t]]`` is candidate i's decision at step t and ``actions[i, t]`` its
    action. ``complete[i]``: the paths say candidate i ends there; False: it stopped at a
    decision the paths could not tell. ``sequence[i]``: candidate i's whole sequence of
    (decision, action) steps as a number, equal for equal sequences (``None``: not known).
    """

    decisions: list[Decision]
    ids: np.ndarray  # (n, steps)
    actions: np.ndarray  # (n, steps)
    complete: np.ndarray  # (n,)
    sequence: np.ndarray | None = None  # (n,)

    def __len__(self) -> int:
        return len(self.ids)

    def child(self, i: int) -> dict[str, int]:
        """Candidate i as ``{decision key: action}``."""
        steps = self.ids[i] >= 0
        return {
            self.decisions[d].key: int(a)
            for d, a in zip(self.ids[i][steps].tolist(), self.actions[i][steps].tolist())
        }

    def take(self, rows: np.ndarray) -> Candidates:
        sequence = None if self.sequence is None else self.sequence[rows]
        return Candidates(
            self.decisions, self.ids[rows], self.actions[rows], self.complete[rows], sequence
        )


@one_thread_here()
def draw(policy: PolicySnapshot, paths: Paths, n: int, rng: np.random.RandomState) -> Candidates:
    """``n`` candidates drawn from the policy (one snapshot of the controller's weights) along
    the learnt paths.

    The LSTM's state after a prefix of actions is a function of that prefix alone, and a trained
    policy draws few distinct prefixes (all ``n`` share the first step, at most a few share
    each later one), so the state and the step's softmax are computed once per distinct prefix
    (:class:`_Tree`, kept with the snapshot: the draws of the next trials, from the same
    weights, read it again) and read by every row that has it. Each row still draws its own
    uniform: the candidates are the ``n`` independent draws they would be one row at a time.
    """
    tree = policy.memo.get("tree")
    if tree is None or tree.n_steps > _MAX_TREE_STEPS:  # a policy that stays long: start over
        tree = policy.memo["tree"] = _Tree(policy)
    node = np.zeros(n, dtype=np.int64)  # each row's node in the paths
    at = np.zeros(n, dtype=np.int64)  # each row's prefix: a node of the tree
    alive = np.ones(n, dtype=bool)
    complete = np.zeros(n, dtype=bool)
    ids: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    known: dict[Decision, int] = {}
    while True:
        groups = _next_decisions(paths, node, alive, actions, complete)
        if not groups:
            break
        steps = {key: tree.steps(at[rows], key[1]) for key, rows in groups.items()}
        step_ids = np.full(n, -1, dtype=np.int64)
        step_actions = np.full(n, -1, dtype=np.int64)
        for (u, decision), rows in groups.items():
            step = steps[(u, decision)]
            cdf = tree.cdf[step, : decision.n_actions]
            uniform = rng.random_sample(len(rows)) * cdf[:, -1]
            # Inverse CDF, as Rollout.step: the first action whose cumulative mass exceeds u.
            drawn = np.minimum((cdf <= uniform[:, None]).sum(axis=1), decision.n_actions - 1)
            step_ids[rows] = known.setdefault(decision, len(known))
            step_actions[rows] = drawn
            at[rows] = tree.children(step, drawn, decision)
            child = paths.child(u, decision)
            assert child is not None  # the paths' rule names a decision some child took
            node[rows] = child
        ids.append(step_ids)
        actions.append(step_actions)
    shape = (n, len(ids))
    return Candidates(
        list(known),
        np.stack(ids, axis=1) if ids else np.zeros(shape, dtype=np.int64),
        np.stack(actions, axis=1) if actions else np.zeros(shape, dtype=np.int64),
        complete,
        at,  # a node of the tree: its prefix is the candidate's whole sequence
    )


# Steps a snapshot's tree keeps (about 1 kB each with 35 units): the policy moves every few
# trials, but one that stops moving (no reward comes back) must not grow it without end.
_MAX_TREE_STEPS = 1 << 16


class _Tree:
    """The LSTM's work for one policy snapshot, kept across draws (Sec. 3.1's step and softmax,
    Sec. 3.3's skip attention), in arrays so that a draw reads it without a loop per prefix.

    A *node* is a prefix of (decision, action) steps; node 0 is the empty one. A *step* is a
    node and the decision it makes next: the LSTM's step from the node's state, its top-layer
    output, the state after it and the cumulative softmax of the decision's actions (padded
    with +inf to the widest decision). A node's child by an action has the step's state after,
    and the action's embedding as its next input. Everything is a function of the snapshot's
    weights and the prefix, so whatever a draw computed, a later draw from the same snapshot
    reads.
    """

    def __init__(self, policy: PolicySnapshot) -> None:
        self.w = policy
        hidden = policy.controller.config.hidden_size
        self._layers = len(policy.layers)
        self._decisions: dict[Decision, int] = {}
        # Per node: the step it comes out of (-1: the root), its next input, the step computed
        # from it and that step's decision (-1: none yet).
        self._nodes = 1
        self._parent = np.full(64, -1, dtype=np.int64)
        self._input = np.zeros((64, hidden), dtype=np.float32)
        self._input[0] = policy.start  # Sec. 3.1: the first step reads a learned input
        self._step = np.full(64, -1, dtype=np.int64)
        self._step_decision = np.full(64, -1, dtype=np.int64)
        # Per step: its node and depth, [top, h..., c...], the cumulative softmax, and the child
        # node by each action (-1: none yet).
        self._steps = 0
        self._node = np.zeros(64, dtype=np.int64)
        self._depth = np.zeros(64, dtype=np.int64)
        self._state = np.zeros((64, 1 + 2 * self._layers, hidden), dtype=np.float32)
        self.cdf = np.full((64, 1), np.inf, dtype=np.float32)
        self._child = np.full((64, 1), -1, dtype=np.int64)

    @property
    def n_steps(self) -> int:
        return self._steps

    def steps(self, nodes: np.ndarray, decision: Decision) -> np.ndarray:
        """The step of each node (a row each) at ``decision``, computed where missing."""
        index = self._decisions.setdefault(decision, len(self._decisions))
        step: np.ndarray = self._step[nodes]
        missing = (step < 0) | (self._step_decision[nodes] != index)
        if missing.any():
            new = np.unique(nodes[missing])
            self._step[new] = self._expand(new, decision)
            self._step_decision[new] = index
            step = self._step[nodes]
        return step

    def children(self, steps: np.ndarray, actions: np.ndarray, decision: Decision) -> np.ndarray:
        """The node of each (step, action) pair, created where new."""
        nodes: np.ndarray = self._child[steps, actions]
        missing = nodes < 0
        if missing.any():
            width = self._child.shape[1]
            pairs = np.unique(steps[missing] * width + actions[missing])
            parent, action = np.divmod(pairs, width)
            first, end = self._nodes, self._nodes + len(pairs)
            self._grow_nodes(end)
            self._parent[first:end] = parent
            embedding = self.w.decision(self.w.controller.keys[decision.key])[1]
            self._input[first:end] = embedding[action]
            self._child[parent, action] = np.arange(first, end)
            self._nodes = end
            nodes = self._child[steps, actions]
        return nodes

    def _expand(self, nodes: np.ndarray, decision: Decision) -> np.ndarray:
        """Compute the step of each node at ``decision``; their rows."""
        w, layers = self.w, self._layers
        x = self._input[nodes] + w.decision(w.controller.register(decision))[0]
        parents = self._parent[nodes]
        inner = parents >= 0
        if inner.all():  # below the root: every node has its parent step's state
            state = self._state[parents, 1:]
            depth = self._depth[parents] + 1
        else:
            state = np.zeros((len(nodes), 2 * layers, x.shape[1]), dtype=np.float32)
            state[inner] = self._state[parents[inner], 1:]
            depth = np.where(inner, self._depth[np.maximum(parents, 0)] + 1, 0)
        top, h, c = _lstm_step(
            w.layers, x, [state[:, k] for k in range(layers)],
            [state[:, layers + k] for k in range(layers)],
        )
        first, end = self._steps, self._steps + len(nodes)
        self._grow_steps(end, decision.n_actions)
        self._node[first:end] = nodes
        self._depth[first:end] = depth
        self._state[first:end] = np.stack([top, *h, *c], axis=1)
        source = None
        if decision.skip_source is not None:
            source = self._ancestor(parents, decision.skip_source)
        self.cdf[first:end, : decision.n_actions] = _cdf(w, decision, top, self._state, source)
        self._steps = end
        return np.arange(first, end)

    def _ancestor(self, steps: np.ndarray, depth: int) -> np.ndarray:
        """The steps at ``depth`` on the prefixes that go through ``steps``."""
        while True:
            deeper = self._depth[steps] > depth
            if not deeper.any():
                return steps
            steps = np.where(deeper, self._parent[self._node[steps]], steps)

    def _grow_nodes(self, end: int) -> None:
        if end > len(self._parent):
            size = 2 * end
            self._parent = _grown(self._parent, size, -1)
            self._input = _grown(self._input, size, 0.0)
            self._step = _grown(self._step, size, -1)
            self._step_decision = _grown(self._step_decision, size, -1)

    def _grow_steps(self, end: int, width: int) -> None:
        if end > len(self._node) or width > self.cdf.shape[1]:
            size = max(2 * end, len(self._node))
            self._node = _grown(self._node, size, 0)
            self._depth = _grown(self._depth, size, 0)
            self._state = _grown(self._state, size, 0.0)
            self.cdf = _grown(self.cdf, size, np.inf, width)
            self._child = _grown(self._child, size, -1, width)


def _grown(table: np.ndarray, rows: int, fill: float, width: int | None = None) -> np.ndarray:
    """``table`` with ``rows`` rows (and at least ``width`` columns), new cells ``fill``."""
    shape = (max(rows, len(table)), *table.shape[1:])
    if width is not None:
        shape = (shape[0], max(width, table.shape[1]))
    out = np.full(shape, fill, dtype=table.dtype)
    out[tuple(slice(0, k) for k in table.shape)] = table
    return out


def _cdf(
    w: PolicySnapshot,
    decision: Decision,
    out: np.ndarray,
    states: np.ndarray,
    source: np.ndarray | None,
) -> np.ndarray:
    """The cumulative softmax of ``decision``'s actions at steps whose top-layer outputs are
    ``out`` (one row each); ``source``: for a skip decision, the steps it attends to (rows of
    ``states``, whose first column is their top-layer output)."""
    if decision.skip_source is not None:
        assert source is not None
        # Sec. 3.3: P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).
        h_source = states[source, 0]
        logit = np.tanh(_matmul_t(h_source, w.w_prev) + _matmul_t(out, w.w_curr)) @ w.v
        logit *= w.inverse_temperature
        if w.tanh_constant is not None:
            logit = w.tanh_constant * np.tanh(logit)
        logits = np.stack([np.zeros_like(logit), logit], axis=1)
    else:
        _, _, head_w, head_b = w.decision(w.controller.keys[decision.key])
        logits = _matmul_t(out, head_w) + head_b  # already divided by the temperature
        if w.tanh_constant is not None:
            logits = w.tanh_constant * np.tanh(logits)
    cdf: np.ndarray = np.exp(logits - logits.max(axis=1, keepdims=True)).cumsum(axis=1)
    return cdf


def _next_decisions(
    paths: Paths,
    node: np.ndarray,
    alive: np.ndarray,
    actions: list[np.ndarray],
    complete: np.ndarray,
) -> dict[tuple[int, Decision], np.ndarray]:
    """The next decision of each live candidate, grouped by (node, decision); candidates that
    end or cannot tell stop (``alive`` and ``complete`` are updated in place)."""
    groups: dict[tuple[int, Decision], np.ndarray] = {}
    index = np.flatnonzero(alive)
    if not len(index):
        return groups
    nodes = node[index]
    first = int(nodes[0])
    # Each node once, in a fixed order; a static space keeps every row on one node.
    units = [first] if (nodes == first).all() else list(dict.fromkeys(nodes.tolist()))
    for u in units:
        at = index if len(units) == 1 else index[nodes == u]
        rule = paths.rule(u)
        if rule is None:
            alive[at] = False
            continue
        if rule[0] == "same":
            split = {rule[1]: at}  # ``at`` is sorted already
        else:  # the action at an earlier step tells
            _, step, table = rule
            parts: dict[object, list[np.ndarray]] = {}
            for a in dict.fromkeys(actions[step][at].tolist()):
                parts.setdefault(table.get(a), []).append(at[actions[step][at] == a])
            split = {d: np.sort(np.concatenate(p)) for d, p in parts.items()}
        for decision, rows in split.items():
            if decision is None or decision == END:
                alive[rows] = False
                complete[rows] = decision == END
            else:
                assert isinstance(decision, Decision)  # the paths hold the children's decisions
                groups[(u, decision)] = rows
    return groups


def _lstm_step(
    layers: list[np.ndarray], x: np.ndarray, h: list[np.ndarray], c: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """One LSTM step (``Rollout._policy``'s maths) on rows of inputs and states: the top
    layer's output, and the new h and c of each layer."""
    hidden = x.shape[1]
    # [x; h; 1] of a layer, in one buffer that every layer refills (the 1 carries the bias).
    xh1 = np.empty((len(x), 2 * hidden + 1), dtype=np.float32)
    xh1[:, 2 * hidden] = 1.0
    xh1[:, :hidden] = x
    new_h, new_c = [], []
    for weight, h_k, c_k in zip(layers, h, c):
        xh1[:, hidden : 2 * hidden] = h_k
        z = np.tanh(_matmul_t(xh1, weight))
        s = 0.5 * z + 0.5  # the sigmoids of i, f and o; g is z's third quarter
        cell = s[:, hidden : 2 * hidden] * c_k + s[:, :hidden] * z[:, 2 * hidden : 3 * hidden]
        out = s[:, 3 * hidden :] * np.tanh(cell)
        xh1[:, :hidden] = out
        new_h.append(out)
        new_c.append(cell)
    return new_h[-1], new_h, new_c


def _matmul_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b.T through torch on the caller's thread: numpy's OpenBLAS spreads a product of this
    size over every core, which on a busy machine made it 25x slower (measured: 3.6 ms instead
    of 0.13 ms for 256 x 71 x 140).

    A single row is computed as two: MKL takes its matrix-vector path for one row, whose
    rounding differs from the matrix product's, and a row's result should not depend on how
    many distinct prefixes share its step."""
    if len(a) == 1:
        return (torch.from_numpy(np.repeat(a, 2, axis=0)) @ torch.from_numpy(b).T).numpy()[:1]
    return (torch.from_numpy(a) @ torch.from_numpy(b).T).numpy()
