"""The controller of Zoph & Le (2017): a recurrent policy over a sequence of decisions.

Pure torch, no Optuna. A reader can check it against the paper:

* Sec. 3.1: a 2-layer LSTM (35 units, Sec. 4.1) emits one *decision* per step; each step's
  softmax head gives the distribution of the *action*, and the action's embedding is fed to the
  next step.
* Sec. 3.3: a skip-connection decision of layer ``i`` on layer ``j`` is not a softmax but the
  attention sigmoid  P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)).

Unlike the paper's fixed sequence, the decisions are not known in advance (define-by-run): the
input of each step is the embedding of the previous action *plus* an embedding of the decision now
being made, so one controller serves conditional spaces and a variable number of layers. Heads
and embeddings are created the first time a decision is seen.

:meth:`Controller.sample` draws a sequence, :meth:`Controller.score` gives the log-probability and
entropy of given actions by teacher forcing. Both run the same step, so
``score(sample(...))`` reproduces the probabilities used to draw (sampling runs the same maths
in numpy, see ``_rollout.py``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import TypeVar

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from optuna_rlnas._rollout import Rollout

_F = TypeVar("_F", bound=Callable)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread here: the controller's tensors are tiny (35 units), and on a busy
    machine a second intra-op thread that waits for a core made each step far slower (seen while
    developing: 2.4 s instead of 22 ms per trial at load 9 on 2 cores). Other threads are left
    alone."""
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _on_one_thread(fn: _F) -> _F:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class ControllerConfig:
    """Shape of the controller and of its logits.

    Args:
        hidden_size: LSTM units per layer (the paper: 35, Sec. 4.1).
        num_layers: LSTM layers (the paper: 2, Sec. 4.1).
        init_range: Weights start uniform in ``[-init_range, init_range]`` (the paper: 0.08).
        temperature: Logits are divided by it before sampling (ENAS, Pham et al. 2018: 5.0).
        tanh_constant: If set, logits become ``c * tanh(logits / temperature)``, which bounds them
            and keeps exploration alive (ENAS: 2.5). ``None`` leaves them unbounded (the paper).
            Default 1.5: at most about 0.83 of the mass on one of 5 choices, so a converged
            policy still mutates a few decisions per child; it measured best across the
            NAS-Bench-201 datasets (docs/benchmarks.md, Experiments).

    The shape is the paper's (Sec. 4.1); :meth:`paper` also drops the tanh constant.

    Example:
        >>> ControllerConfig(tanh_constant=2.5).hidden_size
        35
    """

    hidden_size: int = 35
    num_layers: int = 2
    init_range: float = 0.08
    temperature: float = 1.0
    tanh_constant: float | None = 1.5

    @classmethod
    def paper(cls) -> ControllerConfig:
        """Zoph & Le's controller: 2-layer LSTM, 35 units, init +-0.08, plain softmax logits."""
        return cls(
            hidden_size=35, num_layers=2, init_range=0.08, temperature=1.0, tanh_constant=None
        )

    def __post_init__(self) -> None:
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, but got {self.hidden_size}.")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, but got {self.num_layers}.")
        if not self.init_range > 0:
            raise ValueError(f"init_range must be > 0, but got {self.init_range}.")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(
                f"temperature must be a finite number > 0, but got {self.temperature}."
            )
        if self.tanh_constant is not None and not self.tanh_constant > 0:
            raise ValueError(f"tanh_constant must be None or > 0, but got {self.tanh_constant}.")


@dataclass(frozen=True)
class Decision:
    """One step of the controller.

    Args:
        key: Identity of the decision (the sampler uses the parameter name); one head per key.
        n_actions: Number of actions (choices) of the decision.
        skip_source: For a skip connection (Sec. 3.3), the index in the *same sequence* of the
            step whose hidden state is the source anchor ``h_j``; ``n_actions`` must be 2 and
            action 1 means "connected". ``None`` for an ordinary softmax decision.
    """

    key: str
    n_actions: int
    skip_source: int | None = None

    def __post_init__(self) -> None:
        if self.n_actions < 1:
            raise ValueError(f"n_actions of {self.key!r} must be >= 1, but got {self.n_actions}.")
        if self.skip_source is not None and self.n_actions != 2:
            raise ValueError(
                f"a skip decision has 2 actions (not connected, connected), but {self.key!r} "
                f"has {self.n_actions}."
            )


class Controller(nn.Module):
    """Recurrent policy over define-by-run decisions (Zoph & Le 2017, Sec. 3).

    Args:
        config: Its shape; the defaults are the paper's.
        seed: Seeds the initial weights; a decision's head is seeded from ``seed`` and the
            decision's key, so two controllers with one seed agree whatever order they meet
            decisions in.

    Example:
        >>> import numpy as np
        >>> controller = Controller(ControllerConfig(), seed=0)
        >>> decisions = [Decision("filters", 4), Decision("height", 4)]
        >>> actions, log_prob, entropy = controller.sample(decisions, np.random.RandomState(0))
        >>> len(actions)
        2
    """

    def __init__(self, config: ControllerConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config or ControllerConfig()
        self.seed = int(seed)
        hidden = self.config.hidden_size
        generator = self._generator("core")
        self.lstm = nn.LSTM(hidden, hidden, num_layers=self.config.num_layers, batch_first=True)
        self.start = nn.Parameter(torch.empty(hidden))  # input of the first step
        # Attention over anchors, Sec. 3.3: W_prev, W_curr and v.
        self.w_prev = nn.Linear(hidden, hidden, bias=False)
        self.w_curr = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)
        self._uniform_(list(self.parameters()), generator)

        self.keys: dict[str, int] = {}  # decision key -> index in the lists below
        self.n_actions: list[int] = []
        self.decision_embedding = nn.ParameterList()  # (hidden,) each: "which decision now"
        self.action_embedding = nn.ParameterList()  # (n_actions, hidden): fed to the next step
        self.head_weight = nn.ParameterList()  # (n_actions, hidden)
        self.head_bias = nn.ParameterList()  # (n_actions,)
        self.decision_params: list[tuple[nn.Parameter, ...]] = []

    # ---------------------------------------------------------------- decisions
    def register(self, decision: Decision) -> int:
        """Index of ``decision``'s head, creating the head the first time the key is seen."""
        index = self.keys.get(decision.key)
        if index is not None:
            if self.n_actions[index] != decision.n_actions:
                raise ValueError(
                    f"decision {decision.key!r} was registered with {self.n_actions[index]} "
                    f"actions, but now has {decision.n_actions}."
                )
            return index
        hidden, n = self.config.hidden_size, decision.n_actions
        params = [
            nn.Parameter(torch.empty(hidden)),
            nn.Parameter(torch.empty(n, hidden)),
            nn.Parameter(torch.empty(n, hidden)),
            nn.Parameter(torch.empty(n)),
        ]
        self._uniform_(params, self._generator(decision.key))
        device = self.start.device
        self.decision_embedding.append(params[0].to(device))
        self.action_embedding.append(params[1].to(device))
        self.head_weight.append(params[2].to(device))
        self.head_bias.append(params[3].to(device))
        self.keys[decision.key] = len(self.n_actions)
        self.n_actions.append(n)
        # The same four tensors without ParameterList's per-access overhead (sampling hot path).
        self.decision_params.append(
            (
                self.decision_embedding[-1],
                self.action_embedding[-1],
                self.head_weight[-1],
                self.head_bias[-1],
            )
        )
        return self.keys[decision.key]

    def _generator(self, name: str) -> torch.Generator:
        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))

    def _uniform_(self, params: list[nn.Parameter], generator: torch.Generator) -> None:
        # "weights initialized uniformly between -0.08 and 0.08" (Sec. 4.1).
        r = self.config.init_range
        with torch.no_grad():
            for p in params:
                p.copy_(torch.rand(p.shape, generator=generator) * 2 * r - r)

    # ---------------------------------------------------------------- the step
    def _shape_logits(self, logits: torch.Tensor) -> torch.Tensor:
        # ENAS (Pham et al. 2018, Sec. 2.2 and its code): temperature, then c * tanh.
        logits = logits / self.config.temperature
        if self.config.tanh_constant is not None:
            logits = self.config.tanh_constant * torch.tanh(logits)
        return logits

    def _skip_logit(self, h_source: torch.Tensor, h_current: torch.Tensor) -> torch.Tensor:
        # Sec. 3.3: P(j -> i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)); returns the logit.
        logit = self.v(torch.tanh(self.w_prev(h_source) + self.w_curr(h_current))).squeeze(-1)
        return self._shape_logits(logit)

    # ---------------------------------------------------------------- sample / score
    def rollout(self) -> Rollout:
        """An incremental sampler for decisions that arrive one at a time (define-by-run)."""
        from optuna_rlnas._rollout import Rollout

        return Rollout(self)

    def sample(
        self, decisions: Sequence[Decision], rng: np.random.RandomState
    ) -> tuple[list[int], float, float]:
        """Draw one action per decision: ``(actions, log_prob, entropy)`` of the sequence."""
        rollout = self.rollout()
        actions = [rollout.step(decision, rng=rng) for decision in decisions]
        return actions, rollout.log_prob, rollout.entropy

    @_on_one_thread
    def score(
        self, sequences: Sequence[tuple[Sequence[Decision], Sequence[int]]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of given action sequences (teacher forcing).

        Args:
            sequences: ``(decisions, actions)`` pairs, one per child; lengths may differ.

        Returns:
            ``(log_prob, entropy)``, each of shape ``(len(sequences),)``: the sums over the steps
            of ``log pi(a_t | a_{1:t-1})`` and of the entropy of each step's distribution. Both
            carry gradients.
        """
        if not sequences:
            raise ValueError("score needs at least one sequence, but got none.")
        batch, hidden = len(sequences), self.config.hidden_size
        lengths = [len(decisions) for decisions, _ in sequences]
        steps = max(lengths)
        device = self.start.device
        # Index tables as Python lists first: one tensor per table, not one write per step.
        index = [[0] * steps for _ in range(batch)]
        action = [[0] * steps for _ in range(batch)]
        source = [[0] * steps for _ in range(batch)]
        is_skip = [[False] * steps for _ in range(batch)]
        valid = [[False] * steps for _ in range(batch)]
        for b, (decisions, actions) in enumerate(sequences):
            if len(decisions) != len(actions):
                raise ValueError(
                    f"each sequence needs one action per decision, but sequence {b} has "
                    f"{len(decisions)} decisions and {len(actions)} actions."
                )
            for t, (decision, a) in enumerate(zip(decisions, actions)):
                if not 0 <= a < decision.n_actions:
                    raise ValueError(
                        f"action of {decision.key!r} must be in [0, {decision.n_actions}), "
                        f"but got {a}."
                    )
                index[b][t], action[b][t], valid[b][t] = self.register(decision), int(a), True
                if decision.skip_source is not None:
                    if not 0 <= decision.skip_source < t:
                        raise ValueError(
                            f"skip_source of {decision.key!r} must be an earlier step in "
                            f"[0, {t}), but got {decision.skip_source}."
                        )
                    is_skip[b][t], source[b][t] = True, decision.skip_source
        index = torch.tensor(index, dtype=torch.long, device=device)
        action = torch.tensor(action, dtype=torch.long, device=device)
        source = torch.tensor(source, dtype=torch.long, device=device)
        is_skip = torch.tensor(is_skip, dtype=torch.bool, device=device)
        valid = torch.tensor(valid, dtype=torch.bool, device=device)

        # Inputs: start, then the embedding of each previous action (Sec. 3.1), plus the
        # embedding of the decision being made.
        offsets = torch.tensor([0] + self.n_actions[:-1], device=device).cumsum(0)
        action_table = torch.cat(list(self.action_embedding))  # (total actions, hidden)
        flat = offsets[index] + action  # (batch, steps) rows of action_table
        previous = action_table[flat[:, :-1]]  # (batch, steps - 1, hidden)
        first = self.start.expand(batch, 1, hidden)
        x = torch.cat([first, previous], dim=1) + torch.stack(list(self.decision_embedding))[index]
        out, _ = self.lstm(x)  # (batch, steps, hidden)

        # Softmax decisions: every head at once, masked to the rows of each step's decision.
        weight = torch.cat(list(self.head_weight))  # (total actions, hidden)
        bias = torch.cat(list(self.head_bias))
        logits = self._shape_logits(out @ weight.T + bias)  # (batch, steps, total actions)
        columns = torch.arange(weight.shape[0], device=device)
        n_actions = torch.tensor(self.n_actions, device=device)
        in_head = (columns >= offsets[index].unsqueeze(-1)) & (
            columns < (offsets[index] + n_actions[index]).unsqueeze(-1)
        )
        log_probs = torch.log_softmax(logits.masked_fill(~in_head, -math.inf), dim=-1)
        softmax_logp = log_probs.gather(-1, flat.unsqueeze(-1)).squeeze(-1)
        safe = log_probs.masked_fill(~in_head, 0.0)
        softmax_entropy = -(safe.exp() * safe).masked_fill(~in_head, 0.0).sum(-1)

        # Skip decisions: the attention sigmoid between the anchors (Sec. 3.3).
        h_source = out.gather(1, source.unsqueeze(-1).expand(-1, -1, hidden))
        skip_logit = self._skip_logit(h_source, out)  # (batch, steps)
        logp_on = nn.functional.logsigmoid(skip_logit)
        logp_off = nn.functional.logsigmoid(-skip_logit)
        skip_logp = torch.where(action == 1, logp_on, logp_off)
        skip_entropy = -(logp_on.exp() * logp_on + logp_off.exp() * logp_off)

        step_logp = torch.where(is_skip, skip_logp, softmax_logp).masked_fill(~valid, 0.0)
        step_entropy = torch.where(is_skip, skip_entropy, softmax_entropy).masked_fill(~valid, 0.0)
        return step_logp.sum(1), step_entropy.sum(1)

    def probabilities(
        self, decisions: Sequence[Decision], actions: Sequence[int]
    ) -> list[list[float]]:
        """Per step, the probability of each action given the earlier ``actions`` (forced)."""
        rollout = self.rollout()
        probs = []
        for decision, action in zip(decisions, actions):
            probs.append(rollout.distribution(decision).tolist())
            rollout.step(decision, action=action)
        return probs
