"""A trial between ``before_trial`` and ``after_trial``: its sequence and the controller's state.

Each ``suggest_*`` the controller answers is one step of the trial's rollout. Parameters set
without the controller (fixed, enqueued, retried, single-valued) are fed to the rollout as
forced actions before the next drawn step, so that step is conditioned on them; parameters set
after the last drawn step are only encoded (nothing follows them to condition).

A trial whose child the reward model picked (``_guided.py``) holds the plan: a planned decision
is fed like a fixed parameter (an input of the LSTM, no policy-gradient term: the child is the
argmax of an acquisition over many draws, not a draw from the policy), and a decision the plan
did not foresee (a new conditional branch) is drawn, and keeps its gradient.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution

from optuna_rlnas._encoding import TrialSequence
from optuna_rlnas._policy import PolicySnapshot
from optuna_rlnas._policy import Rollout
from optuna_rlnas._record import TrialRecord


class RunningTrial:
    """One running trial.

    Args:
        sequence: Its (empty) sequence.
        policy: The policy it is drawn from; ``None`` for a startup trial (the independent
            sampler draws it, and every step is recorded as fed).
        update: The controller's update count when the trial started.
        plan: The actions the reward model picked, by decision key (``None``: no plan).
        prediction: What the model predicted for the planned child, for the record.
    """

    def __init__(
        self,
        sequence: TrialSequence,
        policy: PolicySnapshot | None,
        update: int,
        plan: Mapping[str, int] | None = None,
        prediction: Mapping[str, Any] | None = None,
    ) -> None:
        self.sequence = sequence
        self.startup = policy is None
        self.update = update
        self._rollout = None if policy is None else Rollout(policy)
        self._plan = plan or {}
        self._prediction = None if plan is None else dict(prediction or {})
        self.planned: list[str] = []  # names the plan set

    def draw(
        self,
        name: str,
        distribution: BaseDistribution,
        params: Mapping[str, Any],
        distributions: Mapping[str, BaseDistribution],
        rng: np.random.RandomState,
    ) -> Any:
        """The controller's value for ``name``, conditioned on every earlier parameter."""
        assert self._rollout is not None, "a startup trial is drawn by the independent sampler"
        for other in self.sequence.new_params(params):
            if other != name:
                self._feed(other, distributions[other], params[other])
        step = self.sequence.next_step(name, distribution)
        if step is None:  # a single value: nothing to decide
            return _single_value(distribution)
        planned = self._plan.get(step.decision.key)
        if planned is not None and 0 <= planned < step.decision.n_actions:
            # Fed, not drawn; the rollout catches up at the next drawn step, if any.
            self.sequence.append(step, planned, drawn=False)
            self.planned.append(name)
            return step.actions.value(planned, rng, distribution)
        while self._rollout.n_steps < len(self.sequence):  # the fed steps not yet in the LSTM
            t = self._rollout.n_steps
            self._rollout.step(self.sequence.decisions[t], action=self.sequence.actions[t])
        action = self._rollout.step(step.decision, rng=rng)
        self.sequence.append(step, action, drawn=True)
        return step.actions.value(action, rng, distribution)

    def finish(
        self, params: Mapping[str, Any], distributions: Mapping[str, BaseDistribution]
    ) -> TrialRecord:
        """The trial's record, once every parameter it holds has been encoded."""
        for name in self.sequence.new_params(params):
            self._feed(name, distributions[name], params[name])
        rollout = self._rollout
        record = self.sequence.record(
            log_prob=rollout.log_prob if rollout is not None else 0.0,
            entropy=rollout.entropy if rollout is not None else 0.0,
            update=self.update,
            startup=self.startup,
        )
        if self._prediction is None:
            return record
        return dataclasses.replace(record, planned=tuple(self.planned), model=self._prediction)

    def _feed(self, name: str, distribution: BaseDistribution, value: Any) -> None:
        step = self.sequence.next_step(name, distribution)
        if step is not None:
            self.sequence.append(step, step.actions.action(value), drawn=False)


def _single_value(distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    return distribution.low  # type: ignore[attr-defined]
