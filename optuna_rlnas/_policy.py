"""Sampling from the controller one decision at a time, in numpy.

Sampling needs no gradient, and at 35 units a torch call costs more in dispatch than in maths:
the same step in numpy on a float32 copy of the weights (torch's precision) is several times
faster, and it keeps the sampler's hot path off torch's thread pool. ``Controller.sample`` and
``Controller.score`` (torch) are the reference; ``tests/test_controller.py`` checks that this
module draws the same actions with the same probabilities.

The step is written to make few numpy calls: the bias is folded into the gate matrix, one
``tanh`` serves all four gates, and the softmax of a few actions is done once and read twice
(draw and entropy).

This module imports the controller; the controller never imports it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from optuna_rlnas._controller import Controller
from optuna_rlnas._decision import Decision

# What Rollout._policy computes for a step: the decision, logits, exp(logits), its cumulative
# sum, h and c per LSTM layer, the decision's rows of the tables.
_Step = tuple[Decision, np.ndarray, np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray], Any]
_ONE = np.ones(1, dtype=np.float32)  # appended to [x; h] so that the bias rides in the gate matrix


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().float().numpy().copy()


class PolicySnapshot:
    """A float32 copy of the controller's weights at one ``Controller.version``.

    Current while ``controller.version == snapshot.version``; whoever owns the controller and
    the optimizer keeps one and renews it when the version moves. A rollout holds one snapshot
    from its first step to its last: a child is drawn from one policy, the one its recorded
    log-probability and update count describe, even if another thread updates the controller
    meanwhile. A decision registered after the copy was taken is read row by row when a rollout
    first meets it (its rows are still its initial ones: rows move only when a batch uses them),
    so a trial that registers many decisions never recopies the tables.
    """

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.version = controller.version
        c, config = controller, controller.config
        self.start = _numpy(c.start)
        self.w_prev, self.w_curr = _numpy(c.w_prev.weight), _numpy(c.w_curr.weight)  # Sec. 3.3
        self.v = _numpy(c.v.weight)[0]
        hidden = config.hidden_size
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: with the rows of the i, f and o gates halved, one
        # tanh gives all four gates (PyTorch's order: i, f, g, o).
        scale = np.full((4 * hidden, 1), 0.5, dtype=np.float32)
        scale[2 * hidden : 3 * hidden] = 1.0
        self.layers = []
        for k in range(config.num_layers):
            w_ih, w_hh, b_ih, b_hh = (
                _numpy(getattr(c.lstm, f"{name}_l{k}"))
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            # [W_ih | W_hh | b] @ [x; h; 1]: one product per layer.
            gates = np.concatenate([w_ih, w_hh, (b_ih + b_hh)[:, None]], axis=1)
            self.layers.append(gates * scale)
        self.inverse_temperature = 1.0 / config.temperature
        self.tanh_constant = config.tanh_constant
        self._n_decisions = len(c.n_actions)
        self._offsets, self._n_actions = list(c.offsets), list(c.n_actions)
        self._embedding = _numpy(c.decision_embedding[: self._n_decisions])
        self._action_embedding = _numpy(c.action_embedding[: c.n_rows])
        # The heads are divided by the temperature here, once, rather than at every step.
        self._head_w = _numpy(c.head_weight[: c.n_rows]) * self.inverse_temperature
        self._head_b = _numpy(c.head_bias[: c.n_rows]) * self.inverse_temperature
        self._rows: dict[int, tuple[np.ndarray, ...]] = {}
        # What others computed from these weights and may read again while they are current
        # (the candidates' LSTM states: ``_model/candidates.py``).
        self.memo: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "memo": {}}  # caches: recomputed from the weights on demand

    def decision(self, index: int) -> tuple[np.ndarray, ...]:
        """(decision embedding, action embeddings, head weight, head bias) of one decision."""
        rows = self._rows.get(index)
        if rows is None:
            if index < self._n_decisions:
                span = slice(self._offsets[index], self._offsets[index] + self._n_actions[index])
                rows = (
                    self._embedding[index],
                    self._action_embedding[span],
                    self._head_w[span],
                    self._head_b[span],
                )
            else:  # registered after this copy: read its rows alone
                c, t = self.controller, self.inverse_temperature
                span = slice(c.offsets[index], c.offsets[index] + c.n_actions[index])
                rows = (
                    _numpy(c.decision_embedding[index]),
                    _numpy(c.action_embedding[span]),
                    _numpy(c.head_weight[span]) * t,
                    _numpy(c.head_bias[span]) * t,
                )
            self._rows[index] = rows
        return rows


class Rollout:
    """The controller's recurrent state while one child is sampled, one decision at a time.

    Each :meth:`step` either draws an action (``rng`` given) or takes a forced one (``action``
    given: the value was set without the controller, and is fed to the recurrent state so the
    following decisions are conditioned on it). ``log_prob`` and ``entropy`` sum over the drawn
    steps only, as the update does (``_reinforce.py``).
    """

    def __init__(self, snapshot: PolicySnapshot) -> None:
        self.snapshot = snapshot
        self.log_prob = 0.0
        self.entropy = 0.0
        self.n_steps = 0
        hidden, layers = snapshot.controller.config.hidden_size, len(snapshot.layers)
        self._h = [np.zeros(hidden, dtype=np.float32) for _ in range(layers)]
        self._c = [np.zeros(hidden, dtype=np.float32) for _ in range(layers)]
        self._outputs: list[np.ndarray] = []
        self._input: np.ndarray = snapshot.start  # Sec. 3.1: the first step reads a learned input
        self._pending: _Step | None = None  # what _policy computed for the next decision

    def distribution(self, decision: Decision) -> np.ndarray:
        """Probabilities of ``decision``'s actions at the current step."""
        _, _, unnormalised, cdf, _, _, _ = self._policy(decision)
        probabilities: np.ndarray = unnormalised / cdf[-1]
        return probabilities

    def _policy(self, decision: Decision) -> _Step:
        """(decision, logits, exp(logits), its cumulative sum, h per layer, c per layer, rows)
        of this step."""
        if self._pending is not None and self._pending[0] == decision:
            return self._pending
        if decision.skip_source is not None and not 0 <= decision.skip_source < self.n_steps:
            raise ValueError(
                f"skip_source of {decision.key!r} must be an earlier step in "
                f"[0, {self.n_steps}), but got {decision.skip_source}."
            )
        w = self.snapshot
        rows = w.decision(w.controller.register(decision))
        embedding, _, head_w, head_b = rows
        x = self._input + embedding  # the last action's embedding + "which decision now"
        hidden = len(x)
        hs: list[np.ndarray] = []
        cs: list[np.ndarray] = []
        for weight, h, c in zip(w.layers, self._h, self._c):
            z = np.tanh(weight.dot(np.concatenate((x, h, _ONE))))
            s = 0.5 * z + 0.5  # the sigmoids of i, f and o; g is z's third quarter
            c = s[hidden : 2 * hidden] * c + s[:hidden] * z[2 * hidden : 3 * hidden]
            x = h = s[3 * hidden :] * np.tanh(c)
            hs.append(h)
            cs.append(c)
        if decision.skip_source is not None:
            # Sec. 3.3: P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).
            h_source = self._outputs[decision.skip_source]
            logit = float(w.v @ np.tanh(w.w_prev @ h_source + w.w_curr @ x))
            logit *= w.inverse_temperature
            if w.tanh_constant is not None:
                logit = w.tanh_constant * math.tanh(logit)
            # As logits (0, logit): softmax([0, logit]) = [1 - sigmoid(logit), sigmoid(logit)];
            # shifted by their maximum so that exp cannot overflow.
            logits = np.array([0.0, logit]) - max(0.0, logit)
        else:
            logits = head_w @ x + head_b  # already divided by the temperature
            if w.tanh_constant is not None:
                # ENAS's bound on the logits, which also keeps exp from overflowing.
                logits = w.tanh_constant * np.tanh(logits)
            else:
                logits -= logits.max()
        # Unnormalised: the cumulative sum of exp(logits) serves the draw, and its last entry is
        # the softmax's normaliser, so no separate sum or division is needed.
        unnormalised = np.exp(logits)
        self._pending = (decision, logits, unnormalised, unnormalised.cumsum(), hs, cs, rows)
        return self._pending

    def step(
        self,
        decision: Decision,
        *,
        rng: np.random.RandomState | None = None,
        action: int | None = None,
    ) -> int:
        """Take the next decision: draw its action with ``rng``, or force ``action``."""
        if (rng is None) == (action is None):
            raise ValueError("step needs exactly one of rng (to draw) and action (to force).")
        _, logits, unnormalised, cdf, hs, cs, rows = self._policy(decision)
        self._pending = None
        if action is None:
            assert rng is not None
            total = float(cdf[-1])
            # Inverse-CDF draw from the sampler's own generator: one seed drives every draw.
            draw = int(cdf.searchsorted(rng.random_sample() * total, side="right"))
            action = min(draw, len(cdf) - 1)
            # log pi(a) = logit_a - log Z, and H = log Z - E_pi[logit], with Z = sum exp(logits).
            log_z = math.log(total)
            self.log_prob += float(logits[action]) - log_z
            self.entropy += log_z - float(unnormalised @ logits) / total
        elif not 0 <= action < decision.n_actions:
            raise ValueError(
                f"action of {decision.key!r} must be in [0, {decision.n_actions}), "
                f"but got {action}."
            )
        self._h, self._c = hs, cs
        self._outputs.append(hs[-1])
        self._input = rows[1][action]  # the action's embedding is the next step's input
        self.n_steps += 1
        return action
