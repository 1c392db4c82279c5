"""The controller's update rule: REINFORCE with a moving-average baseline (Zoph & Le, Sec. 3.2).

Eq. (2) of the paper, for m children with rewards R_k and actions a_{1:T}:

    grad J ~= 1/m sum_k sum_t grad log P(a_t | a_{1:t-1}) (R_k - b),

b an exponential moving average of earlier rewards. As a loss to minimise (the sign is the one a
reader checks):

    loss = -mean_k[(R_k - b) * log pi(a^k)] - entropy_weight * mean_k[H(pi, a^k)]

Options beyond the paper, each off in :meth:`UpdateConfig.paper`:

* ``normalize_advantage``: divide R - b by a moving estimate of the rewards' standard deviation,
  so the step size does not depend on the objective's scale (accuracy in [0, 1] or in %).
* ``ppo_epochs`` / ``clip_ratio``: PPO's clipped surrogate with several gradient steps per batch
  (Schulman et al. 2017; used for NASNet, Zoph et al. 2018). The ratio pi_new / pi_old uses the
  log-probability recorded when the child was sampled, which also corrects for children drawn
  by an older policy or by another worker.
* ``priority_queue_size`` / ``priority_queue_weight``: priority-queue training (Abolafia et al.
  2018): also maximise the log-likelihood of the best children seen so far.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace

import torch

from optuna_rlnas._controller import Controller
from optuna_rlnas._controller import Decision
from optuna_rlnas._controller import single_thread

Sequence_ = tuple[tuple[Decision, ...], tuple[int, ...]]


@dataclass(frozen=True)
class UpdateConfig:
    """How the controller learns from rewards.

    Args:
        learning_rate: Adam's step size (the paper: 6e-4, Sec. 4.1; default 2e-2).
        trials_per_update: Children per update, m in Eq. (2) (the paper: 8 per controller
            replica, Sec. 3.4; default 4).
        baseline_decay: Weight of the old baseline in b <- decay * b + (1 - decay) * R.
        entropy_weight: Weight of the entropy bonus (0 in the paper; ENAS: 1e-4).
        normalize_advantage: Scale R - b by a moving estimate of the rewards' std (default on).
        ppo_epochs: Gradient steps per batch; more than 1 needs ``clip_ratio``.
        clip_ratio: PPO's epsilon; ``None`` is plain REINFORCE.
        priority_queue_size: Best children kept for priority-queue training; 0 turns it off
            (default 5).
        priority_queue_weight: Weight of their log-likelihood in the loss (default 1).

    The defaults are not the paper's: they are what measured best for sample efficiency across
    the NAS-Bench-201 datasets and a synthetic landscape (docs/benchmarks.md, Experiments).
    :meth:`paper` is Zoph & Le's setting.

    Example:
        >>> UpdateConfig.paper().learning_rate
        0.0006
    """

    learning_rate: float = 2e-2
    trials_per_update: int = 4
    baseline_decay: float = 0.95
    entropy_weight: float = 0.0
    normalize_advantage: bool = True
    ppo_epochs: int = 1
    clip_ratio: float | None = None
    priority_queue_size: int = 5
    priority_queue_weight: float = 1.0

    def __post_init__(self) -> None:
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be > 0, but got {self.learning_rate}.")
        if self.trials_per_update < 1:
            raise ValueError(f"trials_per_update must be >= 1, but got {self.trials_per_update}.")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), but got {self.baseline_decay}.")
        if not self.entropy_weight >= 0:
            raise ValueError(f"entropy_weight must be >= 0, but got {self.entropy_weight}.")
        if self.ppo_epochs < 1:
            raise ValueError(f"ppo_epochs must be >= 1, but got {self.ppo_epochs}.")
        if self.clip_ratio is not None and not 0 < self.clip_ratio < 1:
            raise ValueError(f"clip_ratio must be None or in (0, 1), but got {self.clip_ratio}.")
        if self.ppo_epochs > 1 and self.clip_ratio is None:
            raise ValueError(
                f"ppo_epochs > 1 needs clip_ratio (several steps on one batch without clipping "
                f"diverge), but got ppo_epochs={self.ppo_epochs} and clip_ratio=None."
            )
        if self.priority_queue_size < 0:
            raise ValueError(
                f"priority_queue_size must be >= 0, but got {self.priority_queue_size}."
            )
        if not self.priority_queue_weight >= 0:
            raise ValueError(
                f"priority_queue_weight must be >= 0, but got {self.priority_queue_weight}."
            )

    @classmethod
    def paper(cls) -> UpdateConfig:
        """Zoph & Le's setting: REINFORCE, Adam lr 6e-4, m = 8, EMA baseline, nothing else."""
        return cls(
            learning_rate=6e-4,
            trials_per_update=8,
            baseline_decay=0.95,
            entropy_weight=0.0,
            normalize_advantage=False,
            ppo_epochs=1,
            clip_ratio=None,
            priority_queue_size=0,
            priority_queue_weight=0.0,
        )

    def replace(self, **changes: object) -> UpdateConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass
class _AdamState:
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    steps: int | torch.Tensor  # one count for the tensor, or one per row (float64) once it grew


class _Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1; torch's defaults), with a step count per row.

    The controller keeps every decision's parameters in shared tables that grow when a new
    decision is first seen (define-by-run). A step count per row gives each decision's rows the
    bias correction of an Adam started when the decision appeared, as if each had tensors of
    its own; with one count per table, a head created after many updates would take its first
    step (1 - beta1) / sqrt(1 - beta2), about 3.2, times larger than the ones before it did.
    A tensor whose rows share one count (all of them, until a table grows after an update)
    takes torch's own arithmetic, through the ``torch._foreach_*`` kernels that
    ``torch.optim.Adam`` uses.

    Example:
        >>> layer = torch.nn.Linear(2, 1)
        >>> adam = _Adam(layer, lr=0.1)
        >>> layer(torch.ones(2)).sum().backward()
        >>> adam.step()
    """

    def __init__(
        self, module: torch.nn.Module, lr: float, betas=(0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.module, self.lr, self.betas, self.eps = module, lr, betas, eps
        self.state: dict[str, _AdamState] = {}

    def zero_grad(self) -> None:
        self.module.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        # As torch's Adam, a tensor without a gradient is left alone, its state included.
        named = [(n, p) for n, p in self.module.named_parameters() if p.grad is not None]
        params, grads = [p for _, p in named], [p.grad for _, p in named]
        states = [self._state(name, p) for name, p in named]
        exp_avgs, exp_avg_sqs = [s.exp_avg for s in states], [s.exp_avg_sq for s in states]
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
        uniform = []
        for p, state in zip(params, states):
            state.steps += 1
            if isinstance(state.steps, int):
                uniform.append((p, state))
                continue
            per_row = state.steps.view((-1,) + (1,) * (p.dim() - 1))
            step_size = (self.lr / (1 - beta1**per_row)).to(p.dtype)
            bias_correction2_sqrt = (1 - beta2**per_row).sqrt().to(p.dtype)
            denom = (state.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.sub_(step_size * state.exp_avg / denom)
        if uniform:
            denoms = torch._foreach_sqrt([s.exp_avg_sq for _, s in uniform])
            torch._foreach_div_(denoms, [(1 - beta2**s.steps) ** 0.5 for _, s in uniform])
            torch._foreach_add_(denoms, self.eps)
            step_sizes = [-self.lr / (1 - beta1**s.steps) for _, s in uniform]
            exp_avgs = [s.exp_avg for _, s in uniform]
            torch._foreach_addcdiv_([p for p, _ in uniform], exp_avgs, denoms, step_sizes)

    def _state(self, name: str, p: torch.Tensor) -> _AdamState:
        state = self.state.get(name)
        if state is None:
            state = self.state[name] = _AdamState(torch.zeros_like(p), torch.zeros_like(p), 0)
        elif state.exp_avg.shape != p.shape:  # a table grew: its new rows start from zero
            rows = state.exp_avg.shape[0]
            grown = _AdamState(torch.zeros_like(p), torch.zeros_like(p), state.steps)
            grown.exp_avg[:rows], grown.exp_avg_sq[:rows] = state.exp_avg, state.exp_avg_sq
            if not isinstance(state.steps, int) or state.steps > 0:
                steps = torch.zeros(p.shape[0], dtype=torch.float64, device=p.device)
                steps[:rows] = state.steps
                grown.steps = steps
            state = self.state[name] = grown
        return state


class Reinforce:
    """Owns the optimizer, the baseline and the priority queue of one controller.

    Example:
        >>> controller = Controller(seed=0)
        >>> trainer = Reinforce(controller, UpdateConfig(trials_per_update=2))
        >>> seq = ((Decision("x", 3),), (1,))
        >>> stats = trainer.update([seq, seq], rewards=[1.0, 0.0])
        >>> trainer.n_updates
        1
    """

    def __init__(self, controller: Controller, config: UpdateConfig | None = None) -> None:
        self.controller = controller
        self.config = config or UpdateConfig()
        self.optimizer = _Adam(controller, self.config.learning_rate)
        self.baseline: float | None = None
        self.reward_var: float | None = None
        self.n_updates = 0
        self.n_rewards = 0
        self._queue: list[tuple[float, int, Sequence_]] = []  # min-heap of the best children

    def update(
        self,
        sequences: Sequence[Sequence_],
        rewards: Sequence[float],
        old_log_probs: Sequence[float | None] | None = None,
        drawn: Sequence[bool] | None = None,
    ) -> dict[str, float]:
        """One update on a batch of children (Eq. 2); returns the batch's statistics.

        ``drawn``: per child, whether the policy drew its actions; a child that it did not
        (picked by the reward model) enters the baseline and the priority queue but carries no
        policy-gradient term, since Eq. (2) holds for draws from the policy only.
        """
        if len(sequences) != len(rewards) or not sequences:
            raise ValueError(
                f"update needs one reward per sequence and at least one of each, but got "
                f"{len(sequences)} sequences and {len(rewards)} rewards."
            )
        cfg = self.config
        reward = torch.tensor(rewards, dtype=torch.float32)
        if self.baseline is None:
            self.baseline = float(reward.mean())
            self.reward_var = float(reward.var()) if len(rewards) > 1 else 0.0
        advantage = reward - self.baseline
        if cfg.normalize_advantage:
            advantage = advantage / (math.sqrt(self.reward_var or 0.0) + 1e-8)
            if not self.reward_var:
                advantage = torch.sign(reward - self.baseline)
        old = None
        if cfg.clip_ratio is not None and old_log_probs is not None:
            old = torch.tensor([math.nan if v is None else v for v in old_log_probs])

        # MODEL SEAM (issue 11); core's per-step flags supersede it.
        mask = torch.ones(len(rewards), dtype=torch.bool)
        if drawn is not None:
            mask = torch.tensor([bool(d) for d in drawn], dtype=torch.bool)
        for _ in range(cfg.ppo_epochs):
            with single_thread():  # backward and Adam too (see single_thread)
                loss, entropy = self._step(sequences, advantage, old, mask)

        # Moving averages after the step: b is the mean of *earlier* rewards (Eq. 2).
        for r in rewards:
            delta = r - self.baseline
            self.baseline += (1 - cfg.baseline_decay) * delta
            self.reward_var = cfg.baseline_decay * (
                (self.reward_var or 0.0) + (1 - cfg.baseline_decay) * delta * delta
            )
        self._push_queue(sequences, rewards)  # uses n_rewards as a tie-breaker: before the +=
        self.n_updates += 1
        self.n_rewards += len(rewards)
        return {
            "loss": float(loss.detach()),
            "reward": float(reward.mean()),
            "baseline": float(self.baseline),
            "entropy": float(entropy.detach().mean()),
        }

    def _step(
        self,
        sequences: Sequence[Sequence_],
        advantage: torch.Tensor,
        old: torch.Tensor | None,
        drawn: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One gradient step on the batch; returns the loss and the entropies.

        Only the children the policy drew (``drawn``) enter the policy-gradient and entropy
        terms, averaged over them; with none drawn and no priority queue there is no gradient,
        and no step (Adam's momentum would otherwise move the weights on its own).
        """
        cfg = self.config
        best = []
        if cfg.priority_queue_size and cfg.priority_queue_weight:
            best = [seq for _, _, seq in self._queue]
        if not drawn.any() and not best:
            return torch.zeros(()), torch.zeros(len(sequences))
        # One teacher-forced pass over the batch and the queue's children together.
        all_log_prob, all_entropy = self.controller.score([*sequences, *best])
        log_prob, entropy = all_log_prob[: len(sequences)], all_entropy[: len(sequences)]
        batch_entropy = entropy
        if not drawn.all():
            log_prob, entropy, advantage = log_prob[drawn], entropy[drawn], advantage[drawn]
            old = None if old is None else old[drawn]
        loss = torch.zeros(())
        if len(log_prob):
            if old is None:
                # Eq. (2): loss = -mean[(R - b) * log pi(a)]
                policy_loss = -(advantage * log_prob).mean()
            else:
                # PPO: clipped ratio; children without a recorded log-prob use ratio 1.
                ratio = torch.exp(log_prob - torch.where(old.isnan(), log_prob.detach(), old))
                clipped = ratio.clamp(1 - cfg.clip_ratio, 1 + cfg.clip_ratio)
                policy_loss = -torch.minimum(ratio * advantage, clipped * advantage).mean()
            loss = policy_loss - cfg.entropy_weight * entropy.mean()
        if best:
            # Priority-queue training: raise the likelihood of the best children so far.
            loss = loss - cfg.priority_queue_weight * all_log_prob[len(sequences) :].mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss, batch_entropy

    def _push_queue(self, sequences: Sequence[Sequence_], rewards: Sequence[float]) -> None:
        size = self.config.priority_queue_size
        if not size:
            return
        for i, (seq, r) in enumerate(zip(sequences, rewards)):
            item = (float(r), self.n_rewards + i, (tuple(seq[0]), tuple(seq[1])))
            if any(s == item[2] for _, _, s in self._queue):
                continue  # keep distinct children only
            if len(self._queue) < size:
                heapq.heappush(self._queue, item)
            elif item[0] > self._queue[0][0]:
                heapq.heapreplace(self._queue, item)
