"""Many children drawn from the controller at once, before the trial asks for any decision.

The same maths as ``Rollout`` (``_policy.py``: Sec. 3.1's LSTM step and softmax, Sec. 3.3's skip
attention), on a batch: every candidate is one row of the LSTM's state, and each step draws the
actions of all candidates that make the same decision with one product. The decision a candidate
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
    the learnt paths."""
    w, controller = policy, policy.controller
    hidden = controller.config.hidden_size
    h = [np.zeros((n, hidden), dtype=np.float32) for _ in w.layers]
    c = [np.zeros((n, hidden), dtype=np.float32) for _ in w.layers]
    previous = np.tile(w.start, (n, 1))  # Sec. 3.1: the first step reads the start input
    node = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    complete = np.zeros(n, dtype=bool)
    ids: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    known: dict[Decision, int] = {}
    outputs: list[np.ndarray] = []  # the top layer's h per step, for skip attention (Sec. 3.3)
    while True:
        groups = _next_decisions(paths, node, alive, actions, complete)
        if not groups:
            break
        index = np.flatnonzero(alive)
        x = np.empty((n, hidden), dtype=np.float32)
        for (_, decision), rows in groups.items():
            embedding = w.decision(controller.register(decision))[0]
            x[rows] = previous[rows] + embedding  # ... plus "which decision now"
        top = _lstm_step(w.layers, x, h, c, index, hidden)
        outputs.append(top)
        step_ids = np.full(n, -1, dtype=np.int64)
        step_actions = np.full(n, -1, dtype=np.int64)
        for (u, decision), rows in groups.items():
            drawn = _draw(w, decision, top[rows], outputs, rows, rng)
            _, action_embedding, _, _ = w.decision(controller.keys[decision.key])
            previous[rows] = action_embedding[drawn]
            step_ids[rows] = known.setdefault(decision, len(known))
            step_actions[rows] = drawn
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
    layers: list[np.ndarray],
    x: np.ndarray,
    h: list[np.ndarray],
    c: list[np.ndarray],
    index: np.ndarray,
    hidden: int,
) -> np.ndarray:
    """One LSTM step (``Rollout._policy``'s maths) for the rows ``index``; updates h and c in
    place and returns the top layer's output for every row (other rows: unchanged)."""
    everyone = len(index) == len(x)  # a static space: no row has stopped, no gathering
    inp = x if everyone else x[index]
    ones = np.ones((len(index), 1), dtype=np.float32)
    for k, weight in enumerate(layers):
        h_k, c_k = (h[k], c[k]) if everyone else (h[k][index], c[k][index])
        z = np.tanh(_matmul_t(np.concatenate((inp, h_k, ones), axis=1), weight))
        s = 0.5 * z + 0.5  # the sigmoids of i, f and o; g is z's third quarter
        cell = s[:, hidden : 2 * hidden] * c_k + s[:, :hidden] * z[:, 2 * hidden : 3 * hidden]
        inp = s[:, 3 * hidden :] * np.tanh(cell)
        if everyone:
            c[k], h[k] = cell, inp
        else:
            c[k][index], h[k][index] = cell, inp
    return h[-1].copy()


def _draw(
    w: PolicySnapshot,
    decision: Decision,
    out: np.ndarray,
    outputs: list[np.ndarray],
    rows: np.ndarray,
    rng: np.random.RandomState,
) -> np.ndarray:
    """Draw one action per row of ``out`` (the LSTM's output at this decision)."""
    if decision.skip_source is not None:
        # Sec. 3.3: P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).
        h_source = outputs[decision.skip_source][rows]
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
    cdf = np.exp(logits - logits.max(axis=1, keepdims=True)).cumsum(axis=1)
    u = rng.random_sample(len(rows)) * cdf[:, -1]
    # Inverse CDF, as Rollout.step: the first action whose cumulative mass exceeds u.
    drawn: np.ndarray = np.minimum((cdf <= u[:, None]).sum(axis=1), decision.n_actions - 1)
    return drawn


def _matmul_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b.T through torch on the caller's thread: numpy's OpenBLAS spreads a product of this
    size over every core, which on a busy machine made it 25x slower (measured: 3.6 ms instead
    of 0.13 ms for 256 x 71 x 140)."""
    return (torch.from_numpy(a) @ torch.from_numpy(b).T).numpy()
