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

:meth:`Controller.sample` draws a sequence step by step, :meth:`Controller.score` gives the
log-probability and entropy of given actions by teacher forcing; ``score(sample(...))``
reproduces the probabilities used to draw. The sampler draws with the same maths in numpy
(``_policy.py``, which imports this module; this module never imports it).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn.functional import logsigmoid

from optuna_rlnas._config import ControllerConfig
from optuna_rlnas._decision import Child
from optuna_rlnas._decision import Decision

TABLES = ("decision_embedding", "action_embedding", "head_weight", "head_bias")
# (decisions, actions) or (decisions, actions, drawn)
ChildLike = Child | tuple[Sequence[Decision], Sequence[int]] | tuple[Any, ...]


_State = tuple[torch.Tensor, torch.Tensor]  # the LSTM's (h, c)


class Batch(NamedTuple):
    """Children as tensors, each (children, steps), padded to the longest child: the head
    index of each step (-1: padding), its action, its skip source (-1: none), drawn or not;
    and, per child, the head index of each step as a list and the child."""

    head: torch.Tensor
    action: torch.Tensor
    source: torch.Tensor
    drawn: torch.Tensor
    rows: list[list[int]]
    children: list[Child]


class Controller(nn.Module):
    """Recurrent policy over define-by-run decisions (Zoph & Le 2017, Sec. 3).

    Args:
        config: Its shape. The default ``ControllerConfig()`` has the paper's LSTM but bounds
            the logits (tanh constant 1.5); ``ControllerConfig.paper()`` is the paper's.
        seed: Seeds the initial weights; a decision's head is seeded from ``seed`` and the
            decision's key, so two controllers with one seed agree whatever order they meet
            decisions in.

    ``version`` counts the changes of the weights (a new decision, an update): a copy of the
    weights taken at one version is current while the version is unchanged. Code that edits the
    weights in place calls :meth:`mark_changed`.

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
        self.lstm = nn.LSTM(hidden, hidden, num_layers=self.config.num_layers, batch_first=True)
        self.start = nn.Parameter(torch.empty(hidden))  # input of the first step
        # Attention over anchors, Sec. 3.3: W_prev, W_curr and v.
        self.w_prev = nn.Linear(hidden, hidden, bias=False)
        self.w_curr = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)
        self._uniform_(list(self.parameters()), self._generator("core"))

        # The decisions' parameters, in the order the decisions were first seen: decision i owns
        # row i of decision_embedding and rows offsets[i] : offsets[i] + n_actions[i] of the
        # three action tables. One table per kind, not tensors per decision (the update's cost
        # grows with the number of tensors); the tables keep spare rows and double when full, so
        # registering n decisions copies O(n) rows in all. Rows past the used ones stay zero.
        self.keys: dict[str, int] = {}  # decision key -> index
        self.n_actions: list[int] = []
        self.offsets: list[int] = []
        self.n_rows = 0  # used rows of the action tables
        self.decision_embedding = nn.Parameter(torch.zeros(0, hidden))  # "which decision now"
        self.action_embedding = nn.Parameter(torch.zeros(0, hidden))  # fed to the next step
        self.head_weight = nn.Parameter(torch.zeros(0, hidden))  # softmax heads (Sec. 3.1)
        self.head_bias = nn.Parameter(torch.zeros(0))
        self.version = 0

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
        d, a = len(self.n_actions), self.n_rows  # its decision row and its first action row
        # From a generator of its own key: the rows do not depend on when the decision appeared.
        # One draw for its four blocks: its decision embedding, action embeddings, head weight
        # and head bias, in that order.
        r = self.config.init_range
        rows = torch.rand(hidden + n * (2 * hidden + 1), generator=self._generator(decision.key))
        rows = rows * 2 * r - r  # "uniformly between -0.08 and 0.08" (Sec. 4.1)
        self._reserve("decision_embedding", d + 1)
        for name in TABLES[1:]:
            self._reserve(name, a + n)
        with torch.no_grad():
            self.decision_embedding[d] = rows[:hidden]
            self.action_embedding[a : a + n] = rows[hidden : hidden + n * hidden].view(n, hidden)
            self.head_weight[a : a + n] = rows[hidden + n * hidden : -n].view(n, hidden)
            self.head_bias[a : a + n] = rows[-n:]
        self.keys[decision.key] = d
        self.offsets.append(a)
        self.n_actions.append(n)
        self.n_rows += n
        self.mark_changed()
        return d

    def _reserve(self, name: str, rows: int) -> None:
        table = getattr(self, name)
        if rows <= table.shape[0]:
            return
        grown = table.new_zeros((max(rows, 2 * table.shape[0], 8), *table.shape[1:]))
        grown[: table.shape[0]] = table.detach()
        setattr(self, name, nn.Parameter(grown))

    def mark_changed(self) -> None:
        """Record that the weights changed (copies taken at an older version are stale)."""
        self.version += 1

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

    def _next(
        self,
        decision: Decision,
        previous: torch.Tensor,
        state: _State | None,
        outputs: list[torch.Tensor],
    ) -> tuple[torch.Tensor, _State, torch.Tensor]:
        """One step: (log-probabilities of ``decision``'s actions, LSTM state, output h)."""
        index = self.register(decision)
        x = previous + self.decision_embedding[index]  # previous action + "which decision now"
        out, state = self.lstm(x.view(1, 1, -1), state)
        h = out.view(-1)  # (hidden,)
        if decision.skip_source is not None:  # Sec. 3.3: attention to the source anchor
            logit = self._skip_logit(outputs[decision.skip_source], h)
            log_probs = torch.stack([logsigmoid(-logit), logsigmoid(logit)])  # off, on
        else:  # Sec. 3.1: the decision's softmax head
            _, _, weight, bias = self.head(decision.key)
            log_probs = torch.log_softmax(self._shape_logits(weight @ h + bias), dim=-1)
        return log_probs, state, h

    @torch.no_grad()
    def sample(
        self, decisions: Sequence[Decision], rng: np.random.RandomState
    ) -> tuple[list[int], float, float]:
        """Draw one action per decision: ``(actions, log_prob, entropy)`` of the sequence."""
        actions: list[int] = []
        log_prob, entropy = 0.0, 0.0
        outputs: list[torch.Tensor] = []
        previous: torch.Tensor = self.start  # the first step reads a learned input
        state: _State | None = None
        for decision in decisions:
            log_probs, state, h = self._next(decision, previous, state, outputs)
            cdf = log_probs.exp().cumsum(0)  # inverse-CDF draw from the caller's generator
            draw = int(torch.searchsorted(cdf, rng.random_sample() * float(cdf[-1]), right=True))
            action = min(draw, decision.n_actions - 1)
            log_prob += float(log_probs[action])
            entropy -= float((log_probs.exp() * log_probs).sum())
            actions.append(action)
            outputs.append(h)
            previous = self.head(decision.key)[1][action]  # feed the action's embedding back
        return actions, log_prob, entropy

    @torch.no_grad()
    def probabilities(
        self, decisions: Sequence[Decision], actions: Sequence[int]
    ) -> list[list[float]]:
        """Per step, the probability of each action given the earlier ``actions`` (forced)."""
        probs: list[list[float]] = []
        outputs: list[torch.Tensor] = []
        previous: torch.Tensor = self.start
        state: _State | None = None
        for decision, action in zip(decisions, actions):
            log_probs, state, h = self._next(decision, previous, state, outputs)
            probs.append(log_probs.exp().tolist())
            outputs.append(h)
            previous = self.head(decision.key)[1][int(action)]
        return probs

    # ---------------------------------------------------------------- score (teacher forcing)
    def score(self, children: Sequence[ChildLike] | Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of given children, summed over their drawn steps.

        Args:
            children: :class:`Child` objects, or ``(decisions, actions)`` pairs (every step
                drawn), or ``(decisions, actions, drawn)``; lengths may differ. Or their
                :meth:`batch`.

        Returns:
            ``(log_prob, entropy)``, each of shape ``(len(children),)``: the sums over the drawn
            steps of ``log pi(a_t | a_{1:t-1})`` and of the entropy of each step's distribution.
            Steps not drawn are inputs only. Both carry gradients.
        """
        index, action, source, drawn, _, _ = self._as_batch(children)
        batch, steps = index.shape
        if steps == 0:
            return self.start.new_zeros(batch), self.start.new_zeros(batch)
        valid = index >= 0
        index = index.clamp(min=0)
        offsets = torch.tensor(self.offsets, device=index.device)
        # Inputs: start, then the embedding of each previous action (Sec. 3.1), plus the
        # embedding of the decision being made.
        previous = _rows(self.action_embedding, offsets[index[:, :-1]] + action[:, :-1])
        first = self.start.expand(batch, 1, self.config.hidden_size)
        x = torch.cat([first, previous], dim=1) + _rows(self.decision_embedding, index)
        out, _ = self.lstm(x)  # (batch, steps, hidden)

        step_logp, step_entropy = self._softmax_terms(out, index, action, offsets)
        is_skip = source >= 0
        if is_skip.any():
            # The source layer's anchor h_j, read from the same child's outputs.
            flat = out.reshape(batch * steps, -1)
            at = torch.arange(batch, device=index.device).unsqueeze(1) * steps + source.clamp(min=0)
            skip_logp, skip_entropy = self._skip_terms(_rows(flat, at), out, action)
            step_logp = torch.where(is_skip, skip_logp, step_logp)
            step_entropy = torch.where(is_skip, skip_entropy, step_entropy)
        # Only drawn steps have terms; padding and fed steps count for nothing (and pass no
        # gradient: their rows are not moved, see _reinforce.touched_rows).
        term = valid & drawn
        return step_logp.masked_fill(~term, 0.0).sum(1), step_entropy.masked_fill(~term, 0.0).sum(1)

    def _as_batch(self, children: Sequence[ChildLike] | Batch) -> Batch:
        return children if isinstance(children, Batch) else self.batch(children)

    def batch(self, children: Sequence[ChildLike]) -> Batch:
        """``children`` as tensors (registering their decisions), checked."""
        if not children:
            raise ValueError("a batch needs at least one child, but got none.")
        return self._tables([c if isinstance(c, Child) else Child.of(*c) for c in children])

    def _tables(self, children: Sequence[Child]) -> Batch:
        steps = max(len(c.decisions) for c in children)
        index, action, source, drawn, heads = [], [], [], [], []
        for child in children:
            rows = [self.register(d) for d in child.decisions]
            heads.append(rows)
            sources = [-1 if d.skip_source is None else d.skip_source for d in child.decisions]
            for t, (d, a, j) in enumerate(zip(child.decisions, child.actions, sources)):
                if not 0 <= a < d.n_actions:
                    raise ValueError(
                        f"action of {d.key!r} must be in [0, {d.n_actions}), but got {a}."
                    )
                if j >= t or (j < 0 and d.skip_source is not None):
                    raise ValueError(
                        f"skip_source of {d.key!r} must be an earlier step in [0, {t}), "
                        f"but got {d.skip_source}."
                    )
            pad = [-1] * (steps - len(rows))
            index.append(rows + pad)
            action.append(list(child.actions) + [0] * len(pad))
            source.append(sources + pad)
            drawn.append([int(d) for d in child.drawn] + [0] * len(pad))
        table = torch.tensor([index, action, source, drawn], device=self.start.device)
        return Batch(table[0], table[1], table[2], table[3].bool(), heads, list(children))

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
        weight, bias = _rows(self.head_weight, rows), _rows(self.head_bias, rows)
        logits = (weight * out.unsqueeze(2)).sum(-1) + bias
        logits = self._shape_logits(logits).masked_fill(~in_head, -math.inf)
        log_probs = torch.log_softmax(logits, dim=-1)
        logp = log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1)
        safe = log_probs.masked_fill(~in_head, 0.0)
        return logp, -(safe.exp() * safe).sum(-1)  # padded slots: exp(0) * 0 = 0

    def _skip_terms(
        self, h_source: torch.Tensor, h_current: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per step, log P(action) and the entropy of the skip attention (Sec. 3.3)."""
        logit = self._skip_logit(h_source, h_current)  # (batch, steps)
        logp_on = logsigmoid(logit)
        logp_off = logsigmoid(-logit)
        logp = torch.where(action == 1, logp_on, logp_off)
        return logp, -(logp_on.exp() * logp_on + logp_off.exp() * logp_off)


def _rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` through ``index_select``, whose backward adds rows in a fixed order:
    the backward of ``table[index]`` adds them with atomics over threads on large batches, and
    a policy that depends on thread timing could not be replayed exactly."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])
