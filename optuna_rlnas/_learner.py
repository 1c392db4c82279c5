"""From finished trials to controller updates: rewards, the pending batch, the baseline's history.

Before each trial the sampler asks the learner to consume the finished trials it has not
consumed yet (``_ledger.py``), in number order: each gives a reward (or nothing: FAIL trials,
non-finite rewards), its child is rebuilt (``_encoding.py``; a process's own trials come from
memory), and every ``trials_per_update`` rewards make one REINFORCE update (``_reinforce.py``).
Consumption is all or nothing: if a reward cannot be computed (a ``reward_fn`` that raises),
no trial of the read is consumed and the next read retries them.

An infeasible child (a constraint of ``trial.set_constraint`` above 0, COMPLETE or PRUNED) teaches
the lowest reward taught so far: worse than every feasible child seen, on the rewards' own scale,
as Optuna's constrained samplers rank infeasible trials below feasible ones. Before any reward
it teaches nothing (there is no scale yet). The constraint's amount is not used: REINFORCE needs
only that the child be discouraged, and "how infeasible" has no meaning on the reward's scale.

The learner keeps, for every consumed reward, the baseline its advantage was measured against
(:attr:`Learner.history`): the one copy of the baseline that the dashboard reads. A replay
rebuilds it exactly, as it rebuilds the policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from typing import NamedTuple

from optuna import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._config import UpdateConfig
from optuna_rlnas._controller import Controller
from optuna_rlnas._decision import Child
from optuna_rlnas._encoding import Encoder
from optuna_rlnas._ledger import Ledger
from optuna_rlnas._policy import PolicySnapshot
from optuna_rlnas._reinforce import Reinforce

RewardFn = Callable[[Any], float]
Observer = Callable[[int, Child, float], None]  # (trial number, child, reward)
_MAX_OWN = 1024  # children of this process's trials kept for the learner; older ones are replayed


def paper_reward(accuracy: float) -> float:
    """The paper's reward: the validation accuracy, a fraction in [0, 1], cubed (Sec. 4.1).

    Larger is better, so it needs a maximising study. A percentage is refused rather than
    cubed (97 would become 912,673): divide it by 100 first.

    Example:
        >>> paper_reward(0.9)
        0.7290000000000001
    """
    if isinstance(accuracy, (list, tuple)):
        raise ValueError(
            f"paper_reward takes one accuracy, but got {len(accuracy)} values; a multi-objective "
            "study needs a reward_fn that turns them into one number."
        )
    value = float(accuracy)
    if not 0.0 <= value <= 1.0:
        raise ValueError(
            f"paper_reward takes a validation accuracy in [0, 1], but got {accuracy!r}; for a "
            "percentage pass reward_fn=lambda value: (value / 100) ** 3."
        )
    return value**3


class RewardRecord(NamedTuple):
    """One consumed reward: its trial, and the baseline b of Eq. (2) it was compared with.

    ``baseline`` and ``update`` (the 0-based index of the update that used the reward) are
    ``None`` while the reward waits for its batch to fill.
    """

    trial: int
    reward: float
    baseline: float | None
    update: int | None


class _Pending(NamedTuple):
    trial: int
    child: Child
    reward: float
    old_log_prob: float | None


def _infeasible(trial: FrozenTrial) -> bool:
    # Optuna's rule: feasible when every constraint value is zero or less.
    return any(value > 0 for value in trial.constraints.values())


class Learner:
    """Turns finished trials into REINFORCE updates of ``controller``.

    Args:
        controller: The policy to train.
        config: The update rule.
        encoder: Rebuilds the children of trials from storage.
        reward_fn: Value -> reward, larger is better; ``None``: the value in the study's
            direction.
        consider_pruned_trials: PRUNED trials teach with their last intermediate value.
        observer: Also told of every consumed reward, in consumption order (the reward model
            of the model-guided controller learns from the same rewards as the controller).
    """

    def __init__(
        self,
        controller: Controller,
        config: UpdateConfig,
        encoder: Encoder,
        *,
        reward_fn: RewardFn | None,
        consider_pruned_trials: bool,
        observer: Observer | None = None,
    ) -> None:
        self.controller = controller
        self.trainer = Reinforce(controller, config)
        self.encoder = encoder
        self.ledger = Ledger()
        self.reward_fn = reward_fn
        self._consider_pruned_trials = consider_pruned_trials
        self._observer = observer
        self._pending: list[_Pending] = []
        self._history: list[RewardRecord] = []
        self._own: dict[int, tuple[Child, float | None]] = {}  # trial id -> child, log_prob
        self._snapshot: PolicySnapshot | None = None

    # ------------------------------------------------------------------ rewards
    def check(self, study: Study) -> None:
        """Refuse a study whose objectives the rewards cannot follow."""
        if self.reward_fn is None and _private.is_multi_objective(study):
            raise ValueError(
                f"RLNASSampler needs a reward_fn that turns the {len(study.directions)} objective "
                "values into one reward in a multi-objective study, but got reward_fn=None."
            )
        if self.reward_fn is paper_reward and study.directions != [StudyDirection.MAXIMIZE]:
            directions = ", ".join(d.name.lower() for d in study.directions)
            raise ValueError(
                "reward_fn=paper_reward (the cube of a validation accuracy, larger is better) "
                f"needs a study with direction='maximize', but the study's direction is "
                f"{directions}; create the study with direction='maximize', or pass "
                "reward_fn=None to follow the study's direction."
            )

    def reward(
        self, study: Study, trial: FrozenTrial, earlier: tuple[float, ...] = ()
    ) -> float | None:
        """The reward ``trial`` teaches, or ``None`` if it teaches nothing (see RLNASSampler).
        ``earlier``: rewards read before this one and not consumed yet (an infeasible child
        teaches the lowest of all rewards before it)."""
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and _infeasible(trial):
            taught = [r.reward for r in self._history] + [p.reward for p in self._pending]
            taught += earlier
            return min(taught) if taught else None
        if trial.state == TrialState.COMPLETE:
            values: list[float] | None = trial.values
        elif trial.state == TrialState.PRUNED and self._consider_pruned_trials:
            steps = trial.intermediate_values
            values = [steps[max(steps)]] if steps else None
        else:
            return None
        if values is None:
            return None
        if self.reward_fn is not None:
            reward = self.reward_fn(values[0] if len(values) == 1 else list(values))
        elif len(values) != 1:
            return None  # a multi-objective study without reward_fn never gets this far
        else:
            sign = 1.0 if study.directions[0] == StudyDirection.MAXIMIZE else -1.0
            reward = sign * values[0]
        reward = float(reward)
        return reward if math.isfinite(reward) else None

    # ------------------------------------------------------------------ consumption
    def learn(self, study: Study, before: int | None = None) -> None:
        """Consume the finished trials not consumed yet; one update per full batch."""
        read: list[tuple[FrozenTrial, float | None, tuple[Child, float | None] | None]] = []
        for trial in self.ledger.unconsumed(study, before):
            earlier = tuple(r for _, r, c in read if r is not None and c is not None)
            # may raise (a user's reward_fn): nothing consumed
            reward = self.reward(study, trial, earlier)
            read.append((trial, reward, None if reward is None else self._child(trial)))
        for trial, reward, child in read:
            self.ledger.consume(trial.number)
            self._own.pop(_private.trial_id(trial), None)
            if reward is not None and child is not None:
                self._pending.append(_Pending(trial.number, child[0], reward, child[1]))
                if self._observer is not None:
                    self._observer(trial.number, child[0], reward)
        m = self.trainer.config.trials_per_update
        while len(self._pending) >= m:
            batch = self._pending[:m]
            stats = self.trainer.update(
                [p.child for p in batch], [p.reward for p in batch], [p.old_log_prob for p in batch]
            )
            del self._pending[:m]  # only once the update went through
            baseline, update = stats["baseline_used"], self.trainer.n_updates - 1
            self._history += [RewardRecord(p.trial, p.reward, baseline, update) for p in batch]

    def _child(self, trial: FrozenTrial) -> tuple[Child, float | None] | None:
        own = self._own.get(_private.trial_id(trial))
        if own is not None:
            return own  # what the replay would rebuild from storage, kept from after_trial
        replayed = self.encoder.replay(trial)
        return None if replayed is None else (replayed[0].child(), replayed[1])

    def remember(self, trial: FrozenTrial, child: Child, log_prob: float | None) -> None:
        """Keep the child of a trial this process ran, so that learning need not replay it."""
        if len(self._own) >= _MAX_OWN:
            self._own.pop(next(iter(self._own)))
        self._own[_private.trial_id(trial)] = (child, log_prob)

    @property
    def history(self) -> tuple[RewardRecord, ...]:
        """Every consumed reward in consumption order, the pending ones last."""
        pending = (RewardRecord(p.trial, p.reward, None, None) for p in self._pending)
        return (*self._history, *pending)

    def decision_probabilities(self, trial: FrozenTrial) -> dict[str, dict[str, float]]:
        """Per decision of ``trial``, the current policy's probability of each choice, the
        earlier decisions forced to the trial's actions; choices labelled by their values."""
        replayed = self.encoder.replay(trial)
        if replayed is None:
            return {}
        sequence = replayed[0]
        probs = self.controller.probabilities(sequence.decisions, sequence.actions)
        out = {}
        for name, p in zip(sequence.names, probs):
            action_map = self.encoder.action_map(name, trial.distributions[name])[1]
            out[name] = {action_map.label(a): float(q) for a, q in enumerate(p)}
        return out

    # ------------------------------------------------------------------ sampling
    def policy(self) -> PolicySnapshot:
        """The numpy copy of the controller's weights at its current version."""
        if self._snapshot is None or self._snapshot.version != self.controller.version:
            self._snapshot = PolicySnapshot(self.controller)
        return self._snapshot

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_snapshot": None}  # a cache: rebuilt on demand
