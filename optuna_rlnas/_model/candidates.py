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
    decision the paths could not tell.
    """

    decisions: list[Decision]
    ids: np.ndarray  # (n, steps)
    actions: np.ndarray  # (n, steps)
    complete: np.ndarray  # (n,)

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
        return Candidates(self.decisions, self.ids[rows], self.actions[rows], self.complete[rows])


@one_thread_here()
def draw(policy: PolicySnapshot, paths: Paths, n: int, rng: np.random.RandomState) -> Candidates:
    """``n`` candidates drawn from the policy (one snapshot of the controller's weights) along
    the learnt paths.

    The LSTM's state after a prefix of actions is a function of that prefix alone, and a trained
    policy draws few distinct prefixes (all ``n`` share the first step, at most a few share
    each later one), so the state and the step's softmax are computed once per distinct prefix
    and read by every row that has it. Each row still draws its own uniform: the candidates are
    the ``n`` independent draws they would be one row at a time.
    """
    w, controller = policy, policy.controller
    hidden = controller.config.hidden_size
    # Per distinct prefix ("prefix" p): h and c of each layer, and the next step's input.
    h = [np.zeros((1, hidden), dtype=np.float32) for _ in w.layers]
    c = [np.zeros((1, hidden), dtype=np.float32) for _ in w.layers]
    previous = w.start[None, :].copy()  # Sec. 3.1: the first step reads the start input
    prefix = np.zeros(n, dtype=np.int64)  # each row's prefix
    node = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    complete = np.zeros(n, dtype=bool)
    ids: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    known: dict[Decision, int] = {}
    # Per step, the top layer's h per prefix and each row's prefix: skip attention (Sec. 3.3).
    outputs: list[tuple[np.ndarray, np.ndarray]] = []
    while True:
        groups = _next_decisions(paths, node, alive, actions, complete)
        if not groups:
            break
        index = np.flatnonzero(alive)
        live, position = np.unique(prefix[index], return_inverse=True)
        at = np.full(n, -1, dtype=np.int64)  # each live row's prefix, as a position in ``live``
        at[index] = position
        x = np.empty((len(live), hidden), dtype=np.float32)
        for (_, decision), rows in groups.items():
            embedding = w.decision(controller.register(decision))[0]
            ps = np.unique(at[rows])
            x[ps] = previous[live[ps]] + embedding  # ... plus "which decision now"
        top, h, c = _lstm_step(w.layers, x, [hk[live] for hk in h], [ck[live] for ck in c])
        outputs.append((top, at))
        step_ids = np.full(n, -1, dtype=np.int64)
        step_actions = np.full(n, -1, dtype=np.int64)
        embeddings = {}
        for (u, decision), rows in groups.items():
            drawn = _draw(w, decision, top, at, outputs, rows, rng)
            embeddings[decision] = w.decision(controller.keys[decision.key])[1]
            step_ids[rows] = known.setdefault(decision, len(known))
            step_actions[rows] = drawn
            child = paths.child(u, decision)
            assert child is not None  # the paths' rule names a decision some child took
            node[rows] = child
        # The new prefixes: (old prefix, action) pairs; their state is the old prefix's after
        # this step, their next input the action's embedding.
        width = max(d.n_actions for _, d in groups)
        pairs, first, prefix[index] = np.unique(
            at[index] * width + step_actions[index], return_index=True, return_inverse=True
        )
        parents = at[index[first]]
        h, c = [hk[parents] for hk in h], [ck[parents] for ck in c]
        previous = np.empty((len(pairs), hidden), dtype=np.float32)
        for decision, embedding in embeddings.items():
            rows = index[first][step_ids[index[first]] == known[decision]]
            previous[prefix[rows]] = embedding[step_actions[rows]]
        ids.append(step_ids)
        actions.append(step_actions)
    shape = (n, len(ids))
    return Candidates(
        list(known),
        np.stack(ids, axis=1) if ids else np.zeros(shape, dtype=np.int64),
        np.stack(actions, axis=1) if actions else np.zeros(shape, dtype=np.int64),
        complete,
    )


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
    nodes = node[index]
    for u in dict.fromkeys(nodes.tolist()):  # each node once, in a fixed order
        at = index[nodes == u]
        rule = paths.rule(u)
        if rule is None:
            alive[at] = False
            continue
        if rule[0] == "same":
            split = {rule[1]: at}
        else:  # the action at an earlier step tells
            _, step, table = rule
            split = {}
            for a in dict.fromkeys(actions[step][at].tolist()):
                split.setdefault(table.get(a), []).append(at[actions[step][at] == a])
            split = {d: np.concatenate(parts) for d, parts in split.items()}
        for decision, rows in split.items():
            if decision is None or decision == END:
                alive[rows] = False
                complete[rows] = decision == END
            else:
                assert isinstance(decision, Decision)  # the paths hold the children's decisions
                groups[(u, decision)] = np.sort(rows)
    return groups


def _lstm_step(
    layers: list[np.ndarray], x: np.ndarray, h: list[np.ndarray], c: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """One LSTM step (``Rollout._policy``'s maths) on rows of inputs and states: the top
    layer's output, and the new h and c of each layer."""
    hidden = x.shape[1]
    inp = x
    ones = np.ones((len(x), 1), dtype=np.float32)
    new_h, new_c = [], []
    for weight, h_k, c_k in zip(layers, h, c):
        z = np.tanh(_matmul_t(np.concatenate((inp, h_k, ones), axis=1), weight))
        s = 0.5 * z + 0.5  # the sigmoids of i, f and o; g is z's third quarter
        cell = s[:, hidden : 2 * hidden] * c_k + s[:, :hidden] * z[:, 2 * hidden : 3 * hidden]
        inp = s[:, 3 * hidden :] * np.tanh(cell)
        new_h.append(inp)
        new_c.append(cell)
    return inp, new_h, new_c


def _draw(
    w: PolicySnapshot,
    decision: Decision,
    top: np.ndarray,
    at: np.ndarray,
    outputs: list[tuple[np.ndarray, np.ndarray]],
    rows: np.ndarray,
    rng: np.random.RandomState,
) -> np.ndarray:
    """Draw one action for each of ``rows``: the softmax once per prefix (``top[at[row]]`` is a
    row's LSTM output at this decision), the uniform once per row."""
    ps, first, inverse = np.unique(at[rows], return_index=True, return_inverse=True)
    out = top[ps]
    if decision.skip_source is not None:
        # Sec. 3.3: P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).
        source_top, source_at = outputs[decision.skip_source]
        h_source = source_top[source_at[rows[first]]]
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
    cdf = np.exp(logits - logits.max(axis=1, keepdims=True)).cumsum(axis=1)[inverse]
    u = rng.random_sample(len(rows)) * cdf[:, -1]
    # Inverse CDF, as Rollout.step: the first action whose cumulative mass exceeds u.
    drawn: np.ndarray = np.minimum((cdf <= u[:, None]).sum(axis=1), decision.n_actions - 1)
    return drawn


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
