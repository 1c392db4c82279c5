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
_TABLES = ("decision_embedding", "action_embedding", "head_weight", "head_bias")


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

        # The decisions' parameters, in the order the decisions were first seen: decision i owns
        # row i of decision_embedding and rows offsets[i] : offsets[i] + n_actions[i] of the
        # three action tables (its action embeddings and its softmax head). One table per kind,
        # not one tensor per decision: the update's cost grows with the number of tensors.
        self.keys: dict[str, int] = {}  # decision key -> index
        self.n_actions: list[int] = []
        self.offsets: list[int] = []
        self.decision_embedding = nn.Parameter(torch.empty(0, hidden))  # "which decision now"
        self.action_embedding = nn.Parameter(torch.empty(0, hidden))  # fed to the next step
        self.head_weight = nn.Parameter(torch.empty(0, hidden))  # softmax heads (Sec. 3.1)
        self.head_bias = nn.Parameter(torch.empty(0))
        self.generation = 0  # bumped when a new decision replaces the tables (see _rollout.py)

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
        # From a generator of its own key: the rows do not depend on when the decision appeared.
        rows = [torch.empty(shape) for shape in ((1, hidden), (n, hidden), (n, hidden), (n,))]
        self._uniform_(rows, self._generator(decision.key))
        with torch.no_grad():
            for name, new in zip(_TABLES, rows):
                table = getattr(self, name)
                grown = torch.cat([table.detach(), new.to(table.device)])
                setattr(self, name, nn.Parameter(grown))
        self.keys[decision.key] = len(self.n_actions)
        self.offsets.append(self.offsets[-1] + self.n_actions[-1] if self.offsets else 0)
        self.n_actions.append(n)
        self.generation += 1
        return self.keys[decision.key]

    def head(self, key: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Views of one decision's rows: (decision embedding, action embeddings, head weight,
        head bias), of shapes (hidden,), (n_actions, hidden), (n_actions, hidden), (n_actions,).
        """
        i = self.keys[key]
        rows = slice(self.offsets[i], self.offsets[i] + self.n_actions[i])
        return (
            self.decision_embedding[i],
            self.action_embedding[rows],
            self.head_weight[rows],
            self.head_bias[rows],
        )

    def _generator(self, name: str) -> torch.Generator:
        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))

    def _uniform_(self, params: list[torch.Tensor], generator: torch.Generator) -> None:
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
        index, action, source = self._tables(sequences)
        valid, is_skip = index >= 0, source >= 0
        index, source = index.clamp(min=0), source.clamp(min=0)

        # Inputs: start, then the embedding of each previous action (Sec. 3.1), plus the
        # embedding of the decision being made.
        offsets = torch.tensor(self.offsets, device=index.device)
        previous = self.action_embedding[offsets[index[:, :-1]] + action[:, :-1]]
        first = self.start.expand(len(sequences), 1, self.config.hidden_size)
        x = torch.cat([first, previous], dim=1) + self.decision_embedding[index]
        out, _ = self.lstm(x)  # (batch, steps, hidden)

        step_logp, step_entropy = self._softmax_terms(out, index, action, offsets)
        if is_skip.any():
            skip_logp, skip_entropy = self._skip_terms(out, source, action)
            step_logp = torch.where(is_skip, skip_logp, step_logp)
            step_entropy = torch.where(is_skip, skip_entropy, step_entropy)
        log_prob = step_logp.masked_fill(~valid, 0.0).sum(1)  # padding steps count for nothing
        entropy = step_entropy.masked_fill(~valid, 0.0).sum(1)
        return log_prob, entropy

    def _tables(
        self, sequences: Sequence[tuple[Sequence[Decision], Sequence[int]]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(head index, action, skip source) per step, each (batch, steps), padded to the longest
        sequence: -1 marks the padding in the index and the steps without a skip in the source."""
        steps = max(len(decisions) for decisions, _ in sequences)
        index, action, source = [], [], []
        for b, (decisions, actions) in enumerate(sequences):
            if len(decisions) != len(actions):
                raise ValueError(
                    f"each sequence needs one action per decision, but sequence {b} has "
                    f"{len(decisions)} decisions and {len(actions)} actions."
                )
            rows = [self.register(d) for d in decisions]
            acts = [int(a) for a in actions]
            sources = [-1 if d.skip_source is None else d.skip_source for d in decisions]
            for t, (d, a, j) in enumerate(zip(decisions, acts, sources)):
                if not 0 <= a < d.n_actions:
                    raise ValueError(
                        f"action of {d.key!r} must be in [0, {d.n_actions}), but got {a}."
                    )
                if j >= t or (j < 0 and d.skip_source is not None):
                    raise ValueError(
                        f"skip_source of {d.key!r} must be an earlier step in [0, {t}), "
                        f"but got {d.skip_source}."
                    )
            pad = [-1] * (steps - len(decisions))
            index.append(rows + pad), action.append(acts + [0] * len(pad))
            source.append(sources + pad)
        table = torch.tensor([index, action, source], dtype=torch.long, device=self.start.device)
        return table[0], table[1], table[2]

    def _softmax_terms(
        self, out: torch.Tensor, index: torch.Tensor, action: torch.Tensor, offsets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per step, log pi(action) and the entropy under the step's softmax head (Sec. 3.1).

        Each step reads only its own head's rows, padded to the widest head in the batch, so
        the cost grows with the widest decision, not with the number of decisions.
        """
        n_actions = torch.tensor(self.n_actions, device=index.device)[index]
        slot = torch.arange(int(n_actions.max()), device=index.device)
        in_head = slot < n_actions.unsqueeze(-1)  # (batch, steps, width)
        rows = torch.where(in_head, offsets[index].unsqueeze(-1) + slot, 0)
        weight, bias = self.head_weight[rows], self.head_bias[rows]
        logits = (weight * out.unsqueeze(2)).sum(-1) + bias
        logits = self._shape_logits(logits).masked_fill(~in_head, -math.inf)
        log_probs = torch.log_softmax(logits, dim=-1)
        logp = log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1)
        safe = log_probs.masked_fill(~in_head, 0.0)
        return logp, -(safe.exp() * safe).sum(-1)  # padded slots: exp(0) * 0 = 0

    def _skip_terms(
        self, out: torch.Tensor, source: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per step, log P(action) and the entropy of the skip attention (Sec. 3.3)."""
        h_source = out.gather(1, source.unsqueeze(-1).expand(-1, -1, out.shape[-1]))
        logit = self._skip_logit(h_source, out)  # (batch, steps)
        logp_on = nn.functional.logsigmoid(logit)
        logp_off = nn.functional.logsigmoid(-logit)
        logp = torch.where(action == 1, logp_on, logp_off)
        return logp, -(logp_on.exp() * logp_on + logp_off.exp() * logp_off)

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
