"""Sampling from the controller one decision at a time, in numpy.

Sampling needs no gradient, and at 35 units a torch call costs more in dispatch than in maths:
the same step in numpy on a float32 copy of the weights (torch's precision, and faster than
float64 in numpy's tanh and products) is several times faster, and it keeps the sampler's hot
path off torch's thread pool. ``Controller.score`` (torch, with gradients) is the reference;
``tests/test_controller.py`` checks that both give the same probabilities.

At this size a numpy call costs more in dispatch than in arithmetic, so the step is written to
make few of them: the bias is folded into the gate matrix, one ``tanh`` serves all four gates,
and the softmax of a few actions is done once and read twice (draw and entropy).
"""

from __future__ import annotations

import math

import numpy as np

from optuna_rlnas._controller import Controller
from optuna_rlnas._controller import Decision

_ONE = np.ones(1, dtype=np.float32)  # appended to [x; h] so that the bias rides in the gate matrix


class _Weights:
    """A float32 copy of the controller's weights, renewed when torch changes them.

    Staleness is read from torch's per-tensor version counters (bumped by every in-place
    update: optimizer steps, ``copy_``, ``mul_``) and from ``Controller.generation`` (bumped when
    a new decision replaces the tables). A rollout holds one copy from its first step to its
    last: a child is drawn from one policy, the one its recorded log-probability and update
    count describe, even if another thread updates the controller meanwhile.
    """

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        c, config = controller, controller.config
        lstm = [
            getattr(c.lstm, f"{name}_l{k}")
            for k in range(config.num_layers)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        tables = [c.decision_embedding, c.action_embedding, c.head_weight, c.head_bias]
        self._generation = c.generation
        self._tracked = [c.start, c.w_prev.weight, c.w_curr.weight, c.v.weight, *lstm, *tables]
        self._versions = [p._version for p in self._tracked]
        arrays = [p.detach().cpu().float().numpy().copy() for p in self._tracked]
        self.start, self.w_prev, self.w_curr, v = arrays[:4]
        self.v = v[0]
        hidden = config.hidden_size
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: with the rows of the i, f and o gates halved, one
        # tanh gives all four gates (PyTorch's order: i, f, g, o).
        scale = np.full((4 * hidden, 1), 0.5, dtype=np.float32)
        scale[2 * hidden : 3 * hidden] = 1.0
        self.layers = []
        for k in range(config.num_layers):
            w_ih, w_hh, b_ih, b_hh = arrays[4 + 4 * k : 8 + 4 * k]
            # [W_ih | W_hh | b] @ [x; h; 1]: one product per layer.
            gates = np.concatenate([w_ih, w_hh, (b_ih + b_hh)[:, None]], axis=1)
            self.layers.append(gates * scale)
        self.inverse_temperature = 1.0 / config.temperature
        self.tanh_constant = config.tanh_constant
        # The heads are divided by the temperature here, once, rather than at every step.
        embedding, actions, head_w, head_b = arrays[-4:]
        head_w, head_b = head_w * self.inverse_temperature, head_b * self.inverse_temperature
        self._decisions = []  # per decision: views of its rows
        for i, (start, n) in enumerate(zip(c.offsets, c.n_actions)):
            rows = slice(start, start + n)
            self._decisions.append((embedding[i], actions[rows], head_w[rows], head_b[rows]))

    def fresh(self) -> bool:
        if self.controller.generation != self._generation:
            return False
        return self._versions == [p._version for p in self._tracked]

    def decision(self, index: int) -> tuple[np.ndarray, ...]:
        """(decision embedding, action embeddings, head weight, head bias) of one decision."""
        if index >= len(self._decisions):
            # A head created after this copy was taken, met by a rollout still running: its
            # rows are read now; the rest of the policy stays the one the rollout started with.
            self._decisions.extend(_Weights(self.controller)._decisions[len(self._decisions) :])
        return self._decisions[index]


def weights(controller: Controller) -> _Weights:
    cached = getattr(controller, "_numpy_weights", None)
    if cached is None or not cached.fresh():
        cached = _Weights(controller)
        controller._numpy_weights = cached  # not a torch attribute: plain cache
    return cached


class Rollout:
    """The controller's state while one child is being sampled, one decision at a time.

    Each :meth:`step` either draws an action (``rng`` given) or takes a forced one (``action``
    given: parameters fixed or enqueued by the user are still fed to the recurrent state, so the
    following decisions are conditioned on them).
    """

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.decisions: list[Decision] = []
        self.actions: list[int] = []
        self.log_prob = 0.0
        self.entropy = 0.0
        hidden, layers = controller.config.hidden_size, controller.config.num_layers
        self._h = [np.zeros(hidden, dtype=np.float32) for _ in range(layers)]
        self._c = [np.zeros(hidden, dtype=np.float32) for _ in range(layers)]
        self._outputs: list[np.ndarray] = []
        self._input: tuple[int, int] | None = None  # (decision index, action) of the last step
        self._weights: _Weights | None = None  # taken at the first step, kept to the last
        self._pending: tuple | None = None  # what _policy computed for the next decision

    def distribution(self, decision: Decision) -> np.ndarray:
        """Probabilities of ``decision``'s actions at the current step."""
        _, _, unnormalised, cdf, _, _ = self._policy(decision)
        return unnormalised / cdf[-1]

    def _policy(self, decision: Decision) -> tuple:
        """(decision, logits, exp(logits), its cumulative sum, h per layer, c per layer) of this
        step."""
        if self._pending is not None and self._pending[0] == decision:
            return self._pending
        if decision.skip_source is not None and not 0 <= decision.skip_source < len(self.actions):
            raise ValueError(
                f"skip_source of {decision.key!r} must be an earlier step in "
                f"[0, {len(self.actions)}), but got {decision.skip_source}."
            )
        index = self.controller.register(decision)
        if self._weights is None:
            self._weights = weights(self.controller)
        w = self._weights
        embedding, _, head_w, head_b = w.decision(index)
        if self._input is None:
            x = w.start  # Sec. 3.1: the first step reads a learned start input
        else:
            x = w.decision(self._input[0])[1][self._input[1]]  # the last action's embedding
        x = x + embedding  # ... plus "which decision now" (define-by-run)
        hidden = len(x)
        hs, cs = [], []
        for weight, h, c in zip(w.layers, self._h, self._c):
            z = np.tanh(weight.dot(np.concatenate((x, h, _ONE))))
            s = 0.5 * z + 0.5  # the sigmoids of i, f and o; g is z's third quarter
            c = s[hidden : 2 * hidden] * c + s[:hidden] * z[2 * hidden : 3 * hidden]
            x = h = s[3 * hidden :] * np.tanh(c)
            hs.append(h), cs.append(c)
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
        self._pending = (decision, logits, unnormalised, unnormalised.cumsum(), hs, cs)
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
        _, logits, unnormalised, cdf, hs, cs = self._policy(decision)
        self._pending = None
        total = float(cdf[-1])
        if action is None:
            assert rng is not None
            # Inverse-CDF draw from the sampler's own generator: one seed drives every draw.
            draw = int(cdf.searchsorted(rng.random_sample() * total, side="right"))
            action = min(draw, len(cdf) - 1)
        elif not 0 <= action < decision.n_actions:
            raise ValueError(
                f"action of {decision.key!r} must be in [0, {decision.n_actions}), "
                f"but got {action}."
            )
        # log pi(a) = logit_a - log Z, and H = log Z - E_pi[logit], with Z = sum exp(logits).
        log_z = math.log(total)
        self.log_prob += float(logits[action]) - log_z
        self.entropy += log_z - float(unnormalised @ logits) / total
        self.decisions.append(decision)
        self.actions.append(action)
        self._h, self._c = hs, cs
        self._outputs.append(hs[-1])
        self._input = (self.controller.keys[decision.key], action)
        return action
