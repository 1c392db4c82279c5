"""What the dashboard shows, read from the study and the sampler; no plotting here.

Each function reads the study's trials once (Optuna's cache) and returns plain values that the
figure builders of :mod:`._figures`, :mod:`._policy` and :mod:`._architecture` draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optuna import Study
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._sampler import TRIAL_KEY
from optuna_rlnas._sampler import RLNASSampler
from optuna_rlnas.child._attributes import has_architecture


@dataclass(frozen=True)
class RewardPoint:
    """One reward the controller learns from and the baseline b its advantage ``R - b`` was
    measured against (Eq. 2)."""

    number: int
    reward: float
    baseline: float | None  # None before the controller's first update
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
    """The rewards the controller learned from, each with the baseline b it was compared with.

    Read from :attr:`RLNASSampler.reward_history`, the one record of the baseline (made by the
    update rule, rebuilt exactly by replay after a restart), after the sampler has consumed the
    trials finished so far. In consumption order, which is trial-number order except where a
    trial finished late. A reward still waiting for its batch gets the current b (the one its
    update will use), or ``None`` before the first update. FAIL trials and non-finite rewards
    teach nothing and are left out.
    """
    sampler.consume(study)  # rewards of trials finished since the last trial started
    pruned = {t.number for t in finished_trials(study) if t.state == TrialState.PRUNED}
    current = sampler.baseline
    return [
        RewardPoint(
            record.trial,
            record.reward,
            current if record.baseline is None else record.baseline,
            record.trial in pruned,
        )
        for record in sampler.reward_history
    ]


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
        if with_architecture and not has_architecture(trial):
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

