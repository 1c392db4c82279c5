"""Sampling from the controller one decision at a time, in numpy.

Sampling needs no gradient, and at 35 units a torch call costs more in dispatch than in maths:
the same step in numpy on a float64 copy of the weights is several times faster, and it keeps
the sampler's hot path off torch's thread pool. ``Controller.score`` (torch, with gradients) is
the reference; ``tests/test_controller.py`` checks that both give the same probabilities.
"""

from __future__ import annotations

import numpy as np

from optuna_rlnas._controller import Controller
from optuna_rlnas._controller import Decision


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _log_sigmoid(x: float) -> float:
    return -np.logaddexp(0.0, -x)


class _Weights:
    """A float64 copy of the controller's weights, renewed when torch changes them.

    Staleness is read from torch's per-tensor version counters (bumped by every in-place
    update: optimizer steps, ``copy_``, ``mul_``), so no caller has to remember to refresh.
    """

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        c = controller
        self._core = [c.start, c.w_prev.weight, c.w_curr.weight, c.v.weight, *c.lstm.parameters()]
        self.versions = self._core_versions()
        self.start = _np(c.start)
        self.w_prev, self.w_curr, self.v = (
            _np(c.w_prev.weight),
            _np(c.w_curr.weight),
            _np(c.v.weight)[0],
        )
        self.layers = []
        for k in range(c.config.num_layers):
            w_ih, w_hh = (
                _np(getattr(c.lstm, f"weight_ih_l{k}")),
                _np(getattr(c.lstm, f"weight_hh_l{k}")),
            )
            bias = _np(getattr(c.lstm, f"bias_ih_l{k}")) + _np(getattr(c.lstm, f"bias_hh_l{k}"))
            # [W_ih | W_hh] @ [x; h]: one product per layer instead of two.
            self.layers.append((np.concatenate([w_ih, w_hh], axis=1), bias))
        self._decisions: dict[int, tuple[tuple[int, ...], tuple[np.ndarray, ...]]] = {}

    def _core_versions(self) -> tuple[int, ...]:
        return tuple(p._version for p in self._core)

    def fresh(self) -> bool:
        return self._core_versions() == self.versions

    def decision(self, index: int) -> tuple[np.ndarray, ...]:
        """(decision embedding, action embeddings, head weight, head bias) of one decision."""
        params = self.controller.decision_params[index]
        versions = tuple(p._version for p in params)
        cached = self._decisions.get(index)
        if cached is None or cached[0] != versions:
            cached = self._decisions[index] = (versions, tuple(_np(p) for p in params))
        return cached[1]

    def shape_logits(self, logits: np.ndarray) -> np.ndarray:
        # Same as Controller._shape_logits (ENAS temperature and tanh constant).
        config = self.controller.config
        logits = logits / config.temperature
        if config.tanh_constant is not None:
            logits = config.tanh_constant * np.tanh(logits)
        return logits


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
        self._h = [np.zeros(hidden) for _ in range(layers)]
        self._c = [np.zeros(hidden) for _ in range(layers)]
        self._outputs: list[np.ndarray] = []
        self._input: tuple[int, int] | None = None  # (decision index, action) of the last step
        self._pending: tuple[Decision, np.ndarray, list, list] | None = None

    def distribution(self, decision: Decision) -> np.ndarray:
        """Probabilities of ``decision``'s actions at the current step."""
        return np.exp(self._log_probs(decision))

    def _log_probs(self, decision: Decision) -> np.ndarray:
        if decision.skip_source is not None and not 0 <= decision.skip_source < len(self.actions):
            raise ValueError(
                f"skip_source of {decision.key!r} must be an earlier step in "
                f"[0, {len(self.actions)}), but got {decision.skip_source}."
            )
        index = self.controller.register(decision)
        w = weights(self.controller)
        embedding, _, head_w, head_b = w.decision(index)
        if self._input is None:
            x = w.start  # Sec. 3.1: the first step reads a learned start input
        else:
            x = w.decision(self._input[0])[1][self._input[1]]  # the last action's embedding
        x = x + embedding  # ... plus "which decision now" (define-by-run)
        hs, cs = [], []
        hidden = len(x)
        for (weight, bias), h, c in zip(w.layers, self._h, self._c):
            gates = weight @ np.concatenate((x, h)) + bias  # PyTorch's gate order: i, f, g, o
            s = _sigmoid(gates)  # i, f and o; g's slot is replaced by its tanh below
            i, f, o = s[:hidden], s[hidden : 2 * hidden], s[3 * hidden :]
            g = np.tanh(gates[2 * hidden : 3 * hidden])
            c = f * c + i * g
            x = h = o * np.tanh(c)
            hs.append(h), cs.append(c)
        if decision.skip_source is not None:
            # Sec. 3.3: P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).
            h_source = self._outputs[decision.skip_source]
            logit = float(w.shape_logits(w.v @ np.tanh(w.w_prev @ h_source + w.w_curr @ x)))
            log_probs = np.array([_log_sigmoid(-logit), _log_sigmoid(logit)])
        else:
            logits = w.shape_logits(head_w @ x + head_b)
            log_probs = logits - np.logaddexp.reduce(logits)
        self._pending = (decision, log_probs, hs, cs)
        return log_probs

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
        if self._pending is None or self._pending[0] != decision:
            self._log_probs(decision)
        assert self._pending is not None
        _, log_probs, hs, cs = self._pending
        self._pending = None
        probs = np.exp(log_probs)
        if action is None:
            assert rng is not None
            # Inverse-CDF draw from the sampler's own generator: one seed drives every draw.
            cdf = np.cumsum(probs)
            draw = np.searchsorted(cdf, rng.random_sample() * cdf[-1], side="right")
            action = int(min(draw, len(probs) - 1))
        elif not 0 <= action < decision.n_actions:
            raise ValueError(
                f"action of {decision.key!r} must be in [0, {decision.n_actions}), "
                f"but got {action}."
            )
        self.log_prob += float(log_probs[action])
        self.entropy += float(-(probs * log_probs).sum())
        self.decisions.append(decision)
        self.actions.append(action)
        self._h, self._c = hs, cs
        self._outputs.append(hs[-1])
        self._input = (self.controller.keys[decision.key], action)
        return action
