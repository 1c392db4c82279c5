"""The controller's update rule: REINFORCE with a moving-average baseline (Zoph & Le, Sec. 3.2).

Eq. (2) of the paper, for m children with rewards R_k and actions a_{1:T}:

    grad J ~= 1/m sum_k sum_t grad log P(a_t | a_{1:t-1}) (R_k - b),

b an exponential moving average of earlier rewards. As a loss to minimise (the sign is the one a
reader checks):

    loss = -mean_k[(R_k - b) * log pi(a^k)] - entropy_weight * mean_k[H(pi, a^k)]

The sums over t run over the steps the controller drew. A step whose value it did not draw (an
enqueued or fixed parameter, a startup trial, a retried trial, a child picked by someone else)
is an input of the LSTM and nothing more: its log P(a_t) is not the probability of a choice the
policy made, so it gets no policy-gradient and no entropy term (``Child.drawn``).

Options beyond the paper, each off in :meth:`UpdateConfig.paper`:

* ``normalize_advantage``: divide R - b by a moving estimate of the rewards' standard deviation,
  so the step size does not depend on the objective's scale (accuracy in [0, 1] or in %).
* ``ppo_epochs`` / ``clip_ratio``: PPO's clipped surrogate with several gradient steps per batch
  (Schulman et al. 2017; used for NASNet, Zoph et al. 2018). The ratio pi_new / pi_old uses the
  log-probability of the drawn steps recorded when the child was sampled, which also corrects
  for children drawn by an older policy or by another worker.
* ``priority_queue_size`` / ``priority_queue_weight``: priority-queue training (Abolafia et al.
  2018): also maximise the log-likelihood of the best children seen so far. A maximum-likelihood
  term is valid whoever picked the child, so it covers every step, drawn or not.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

import torch

from optuna_rlnas._adam import RowAdam
from optuna_rlnas._config import UpdateConfig
from optuna_rlnas._controller import TABLES
from optuna_rlnas._controller import Batch
from optuna_rlnas._controller import ChildLike
from optuna_rlnas._controller import Controller
from optuna_rlnas._decision import Child
from optuna_rlnas._openmp import one_thread_here


class Reinforce:
    """Owns the optimizer, the baseline and the priority queue of one controller.

    Example:
        >>> from optuna_rlnas import Controller, Decision
        >>> controller = Controller(seed=0)
        >>> trainer = Reinforce(controller, UpdateConfig(trials_per_update=2))
        >>> child = ((Decision("x", 3),), (1,))
        >>> stats = trainer.update([child, child], rewards=[1.0, 0.0])
        >>> trainer.n_updates, stats["baseline_used"]
        (1, 0.5)
    """

    def __init__(self, controller: Controller, config: UpdateConfig | None = None) -> None:
        self.controller = controller
        self.config = config or UpdateConfig()
        self.optimizer = RowAdam(controller, self.config.learning_rate)
        self.baseline: float | None = None
        self.reward_var: float | None = None
        self.n_updates = 0
        self.n_rewards = 0
        self._queue: list[tuple[float, int, Child]] = []  # min-heap of the best children

    def update(
        self,
        children: Sequence[ChildLike],
        rewards: Sequence[float],
        old_log_probs: Sequence[float | None] | None = None,
    ) -> dict[str, float]:
        """One update on a batch of children (Eq. 2); returns the batch's statistics.

        Args:
            children: :class:`Child` objects or ``(decisions, actions[, drawn])`` tuples.
            rewards: One reward per child.
            old_log_probs: For PPO, each child's recorded log-probability of its drawn steps
                (``None`` where unknown: ratio 1).

        Returns:
            ``loss``, ``reward`` (the batch mean), ``baseline_used`` (the b every advantage of
            this batch was measured against), ``baseline`` (b after the update) and ``entropy``.
        """
        if len(children) != len(rewards) or not children:
            raise ValueError(
                f"update needs one reward per child and at least one of each, but got "
                f"{len(children)} children and {len(rewards)} rewards."
            )
        cfg = self.config
        batch = [c if isinstance(c, Child) else Child.of(*c) for c in children]
        reward = torch.tensor(rewards, dtype=torch.float32)
        if self.baseline is None:
            self.baseline = float(reward.mean())
            self.reward_var = float(reward.var()) if len(rewards) > 1 else 0.0
        baseline_used = self.baseline
        advantage = reward - baseline_used
        if cfg.normalize_advantage:
            advantage = advantage / (math.sqrt(self.reward_var or 0.0) + 1e-8)
            if not self.reward_var:
                advantage = torch.sign(reward - baseline_used)
        old = None
        if cfg.clip_ratio is not None and old_log_probs is not None:
            old = torch.tensor([math.nan if v is None else v for v in old_log_probs])

        for _ in range(cfg.ppo_epochs):
            with one_thread_here():  # tiny tensors; and only this thread (see _openmp.py)
                loss, entropy = self._step(batch, advantage, old)

        # Moving averages after the step: b is the mean of *earlier* rewards (Eq. 2).
        for r in rewards:
            delta = r - self.baseline
            self.baseline += (1 - cfg.baseline_decay) * delta
            self.reward_var = cfg.baseline_decay * (
                (self.reward_var or 0.0) + (1 - cfg.baseline_decay) * delta * delta
            )
        self._push_queue(batch, rewards)  # uses n_rewards as a tie-breaker: before the +=
        self.n_updates += 1
        self.n_rewards += len(rewards)
        return {
            "loss": float(loss.detach()),
            "reward": float(reward.mean()),
            "baseline_used": float(baseline_used),
            "baseline": float(self.baseline),
            "entropy": float(entropy.detach().mean()),
        }

    def _step(
        self, children: list[Child], advantage: torch.Tensor, old: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One gradient step on the batch; returns the loss and the entropies."""
        cfg = self.config
        best: list[Child] = []
        if cfg.priority_queue_size and cfg.priority_queue_weight:
            # Maximum likelihood of every step of the best children, drawn or not.
            best = [child._replace(drawn=(True,) * len(child.drawn)) for _, _, child in self._queue]
        batch = self.controller.batch([*children, *best])
        # One teacher-forced pass over the batch and the queue's children together.
        all_log_prob, all_entropy = self.controller.score(batch)
        log_prob, entropy = all_log_prob[: len(children)], all_entropy[: len(children)]
        if old is None:
            # Eq. (2): loss = -mean[(R - b) * log pi(a)]
            policy_loss = -(advantage * log_prob).mean()
        else:
            # PPO: clipped ratio; children without a recorded log-prob use ratio 1.
            ratio = torch.exp(log_prob - torch.where(old.isnan(), log_prob.detach(), old))
            eps = cfg.clip_ratio or 0.0  # set whenever old is (see update)
            clipped = ratio.clamp(1 - eps, 1 + eps)
            policy_loss = -torch.minimum(ratio * advantage, clipped * advantage).mean()
        loss = policy_loss - cfg.entropy_weight * entropy.mean()
        if best:
            # Priority-queue training: raise the likelihood of the best children so far.
            loss = loss - cfg.priority_queue_weight * all_log_prob[len(children) :].mean()
        # A batch with no drawn step (every child fed: picked by the reward model, enqueued, a
        # startup trial) and no queue has no term: its loss is a constant that still carries a
        # graph, whose zero gradients would let Adam's momentum alone move the LSTM.
        if best or any(True in child.drawn for child in children):
            self.controller.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is untyped
            self.optimizer.step(touched_rows(self.controller, batch))
            self.controller.mark_changed()
        return loss, entropy

    def _push_queue(self, children: Sequence[Child], rewards: Sequence[float]) -> None:
        size = self.config.priority_queue_size
        if not size:
            return
        for i, (child, r) in enumerate(zip(children, rewards)):
            item = (float(r), self.n_rewards + i, child)
            # Distinct children only: the same actions are the same child, however drawn.
            if any(c[:2] == child[:2] for _, _, c in self._queue):
                continue
            if len(self._queue) < size:
                heapq.heappush(self._queue, item)
            elif item[0] > self._queue[0][0]:
                heapq.heapreplace(self._queue, item)


def touched_rows(controller: Controller, batch: Batch) -> dict[str, torch.Tensor]:
    """Per table of ``controller``, the rows whose value reaches a term of the loss for
    ``batch``: the rows an update moves (every other row is left alone, ``_adam.py``).

    A child's steps after its last drawn step feed nothing; a step not drawn reads no head.
    """
    decisions: set[int] = set()
    fed: set[int] = set()
    drawn: set[int] = set()  # decisions whose softmax head a drawn step read
    offsets, n_actions = controller.offsets, controller.n_actions
    for child, index in zip(batch.children, batch.rows):
        if True not in child.drawn:
            continue
        reach = len(child.drawn) - 1 - child.drawn[::-1].index(True)  # the last drawn step
        decisions.update(index[: reach + 1])
        fed.update(offsets[i] + a for i, a in zip(index[:reach], child.actions))  # inputs
        drawn.update(
            i
            for i, d, was_drawn in zip(index, child.decisions, child.drawn)
            if was_drawn and d.skip_source is None
        )
    heads = [r for i in sorted(drawn) for r in range(offsets[i], offsets[i] + n_actions[i])]
    rows = (sorted(decisions), sorted(fed), heads, heads)
    device = controller.start.device
    return {n: torch.tensor(r, dtype=torch.long, device=device) for n, r in zip(TABLES, rows)}
