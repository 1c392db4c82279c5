"""What the dashboard shows, read from the study and the sampler; no plotting here.

Each function reads the study's trials once (Optuna's cache) and returns plain values that the
figure builders of :mod:`._figures`, :mod:`._policy` and :mod:`._architecture` draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna import Study
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._sampler import TRIAL_KEY
from optuna_rlnas._sampler import RLNASSampler
from optuna_rlnas.child import Architecture

# The user attribute in which optuna_rlnas.child.make_objective records the child it trained.
ARCHITECTURE_ATTR = "architecture_json"


@dataclass(frozen=True)
class RewardPoint:
    """One reward the controller learns from and the baseline b its advantage ``R - b`` was
    measured against (Eq. 2)."""

    number: int
    reward: float
    baseline: float
    pruned: bool


@dataclass(frozen=True)
class DecisionPolicy:
    """The current policy at one decision of a trial: a probability per choice.

    ``chosen`` is the position of the trial's own choice among ``labels`` (``None`` where it
    cannot be told, e.g. a binned float); ``value`` is the value the trial took.
    """

    name: str
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]
    chosen: int | None
    value: Any


@dataclass(frozen=True)
class PolicyAlongTrial:
    """The current policy at each decision of trial ``number``, in the controller's order, the
    earlier decisions forced to the trial's choices (teacher forcing)."""

    number: int
    decisions: tuple[DecisionPolicy, ...]


def finished_trials(study: Study) -> list[FrozenTrial]:
    """COMPLETE, PRUNED and FAIL trials in trial-number order."""
    trials = [t for t in _private.all_trials(study) if t.state.is_finished()]
    return sorted(trials, key=lambda t: t.number)


def reward_points(study: Study, sampler: RLNASSampler) -> list[RewardPoint]:
    """The rewards of the finished trials in trial-number order, each with its baseline.

    Rewards follow the sampler: its ``reward_fn`` if any, else the value signed by the study's
    direction; PRUNED trials count with their last intermediate value when the sampler
    considers them; FAIL trials and non-finite rewards are left out. This is the one place the
    dashboard reads rewards and baselines from.
    """
    # TODO(core): read sampler.reward_history (trial number, reward, baseline used, update, in
    # consumption order) instead of replaying the baseline here, then delete _baseline_trace:
    # the replay assumes trial-number order, which differs after an out-of-order finish or a
    # restart.
    rewarded = []
    for trial in finished_trials(study):
        reward = sampler.reward(study, trial)
        if reward is not None:
            rewarded.append((trial, reward))
    cfg = sampler.update_config
    baselines = _baseline_trace([r for _, r in rewarded], cfg.baseline_decay, cfg.trials_per_update)
    return [
        RewardPoint(trial.number, reward, baseline, trial.state == TrialState.PRUNED)
        for (trial, reward), baseline in zip(rewarded, baselines)
    ]


def _baseline_trace(rewards: Sequence[float], decay: float, trials_per_update: int) -> list[float]:
    """The baseline b of Eq. (2) each reward is measured against, replayed in the given order.

    b starts at the mean of the first update's rewards; after each update,
    ``b <- decay * b + (1 - decay) * R`` for every reward of its batch, in order. Rewards of the
    batch not yet complete get the current b (the one their update will use).

    Example:
        >>> _baseline_trace([1.0, 3.0, 5.0, 7.0, 9.0], decay=0.5, trials_per_update=2)
        [2.0, 2.0, 2.25, 2.25, 5.3125]
    """
    m = trials_per_update
    if not rewards:
        return []
    trace: list[float] = []
    baseline = sum(rewards[:m]) / len(rewards[:m])
    for start in range(0, len(rewards), m):
        batch = rewards[start : start + m]
        trace.extend([baseline] * len(batch))
        if len(batch) == m:
            for r in batch:
                baseline += (1 - decay) * (r - baseline)
    return trace


def entropy_by_update(study: Study) -> dict[int, list[float]]:
    """Each finished trial's recorded policy entropy, grouped by the controller update count at
    which the trial was sampled (sorted by update)."""
    groups: dict[int, list[float]] = {}
    for trial in finished_trials(study):
        record = trial.system_attrs.get(TRIAL_KEY)
        if not isinstance(record, dict) or record.get("sampled") == []:
            continue  # no record, or every decision fixed or enqueued: no policy entropy
        entropy, update = record.get("entropy"), record.get("update")
        if isinstance(entropy, (int, float)) and math.isfinite(entropy) and isinstance(update, int):
            groups.setdefault(update, []).append(float(entropy))
    return dict(sorted(groups.items()))


def best_trial(
    study: Study, sampler: RLNASSampler, *, with_architecture: bool = False
) -> FrozenTrial | None:
    """The trial with the largest reward (the sampler's notion of best, so multi-objective
    studies with a ``reward_fn`` work), optionally among those that record an architecture."""
    best, best_reward = None, -math.inf
    for trial in finished_trials(study):
        if with_architecture and ARCHITECTURE_ATTR not in trial.user_attrs:
            continue
        reward = sampler.reward(study, trial)
        if reward is not None and reward > best_reward:
            best, best_reward = trial, reward
    return best


def latest_recorded_trial(study: Study) -> FrozenTrial | None:
    """The latest finished trial that the sampler recorded decisions for."""
    for trial in reversed(finished_trials(study)):
        if isinstance(trial.system_attrs.get(TRIAL_KEY), dict):
            return trial
    return None


def policy_along(sampler: RLNASSampler, trial: FrozenTrial) -> PolicyAlongTrial:
    """The sampler's current policy along ``trial``'s decisions
    (:meth:`RLNASSampler.decision_probabilities`), with the trial's own choices."""
    decisions = []
    for name, probs in sampler.decision_probabilities(trial).items():
        value = trial.params.get(name)
        distribution = trial.distributions.get(name)
        chosen = None
        if isinstance(distribution, CategoricalDistribution) and name in trial.params:
            chosen = int(distribution.to_internal_repr(value))  # the choice's index
        decisions.append(DecisionPolicy(name, tuple(probs), tuple(probs.values()), chosen, value))
    return PolicyAlongTrial(trial.number, tuple(decisions))


def trial_architecture(trial: FrozenTrial) -> Architecture | None:
    """The child ``trial`` trained, from its ``architecture_json`` user attribute; ``None`` when
    it records none or something that is not an architecture."""
    text = trial.user_attrs.get(ARCHITECTURE_ATTR)
    if not isinstance(text, str):
        return None
    try:
        return Architecture.from_json(text)
    except (ValueError, TypeError):
        return None
