"""The ``rlnas:trial`` record: what the sampler writes about each trial, and how it is read back.

One owner for the format: the sampler writes it in ``after_trial``; the replay (a restarted or
joining worker rebuilding the policy) and the dashboard read it. None of them imports another.

The record is a trial system attribute, JSON (never pickle)::

    {"decisions": ["num_layers", "layer_0/width", ...],  # parameter names, in step order
     "actions": [2, 0, ...],       # the action of each step
     "n_actions": [3, 4, ...],     # the number of actions of each step's decision
     "sampled": ["layer_0/width"], # the steps the controller drew (the rest were fed to it)
     "log_prob": -1.38,            # log pi of the drawn steps under the policy that drew them
     "entropy": 1.38,              # the entropy of the drawn steps' distributions
     "update": 12,                 # the controller's update count when the trial started
     "startup": false}             # sampled by the independent sampler (n_startup_trials)

A trial whose child the reward model picked (the model-guided controller) also has::

     "planned": ["layer_0/width"], # the steps the model set (fed to the controller, not drawn)
     "model": {"mean": 0.8, "sd": 0.3, "candidates": 240, "reevaluates": null}

``model`` is the model's prediction for the child in normal-score units (``null``: not scored),
the number of distinct new candidates it screened, and the number of the trial whose child it
evaluates again (``null`` for a new child). Neither is read back by the replay: a planned step
is a step not drawn, like any other.

``n_actions`` ties the actions to an encoding: a numeric distribution's actions depend on the
sampler's ``n_bins``, so a record whose counts differ from the reader's encoding was made with
another ``n_bins`` and its actions mean other values. Records written before ``n_actions`` was
added have none; their actions are not trusted (the parameters give them instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from typing import TypeGuard
from typing import TypeVar

from optuna.trial import FrozenTrial

TRIAL_KEY = "rlnas:trial"
# The child the reward model picked for a running trial, by decision key, written when the trial
# starts: other workers leave it out of their candidates while it trains.
PLAN_KEY = "rlnas:plan"


@dataclass(frozen=True)
class TrialRecord:
    """One trial's record (see the module's docstring for each field)."""

    decisions: tuple[str, ...]
    actions: tuple[int, ...]
    n_actions: tuple[int, ...] | None  # None: an old record, actions not to be trusted
    drawn: tuple[bool, ...]
    log_prob: float
    entropy: float
    update: int
    startup: bool = False
    planned: tuple[str, ...] = ()
    model: dict[str, Any] | None = None  # None: the model did not pick this child

    def to_json(self) -> dict[str, Any]:
        out = {
            "decisions": list(self.decisions),
            "actions": list(self.actions),
            "n_actions": None if self.n_actions is None else list(self.n_actions),
            "sampled": [name for name, d in zip(self.decisions, self.drawn) if d],
            "log_prob": self.log_prob,
            "entropy": self.entropy,
            "update": self.update,
            "startup": self.startup,
        }
        if self.model is not None:
            out["planned"], out["model"] = list(self.planned), dict(self.model)
        return out

    @classmethod
    def from_json(cls, data: object) -> TrialRecord | None:
        """The record, or ``None`` when ``data`` is not a well-formed record (corrupt, foreign)."""
        if not isinstance(data, dict):
            return None
        decisions, actions = data.get("decisions"), data.get("actions")
        n_actions, sampled = data.get("n_actions"), data.get("sampled", [])
        if not (
            _list_of(decisions, str)
            and _list_of(actions, int)
            and len(actions) == len(decisions)
            and len(set(decisions)) == len(decisions)
            and _list_of(sampled, str)
            and set(sampled) <= set(decisions)
        ):
            return None
        if n_actions is not None and not (
            _list_of(n_actions, int)
            and len(n_actions) == len(decisions)
            and all(0 <= a < n for a, n in zip(actions, n_actions))
        ):
            return None
        log_prob, entropy = data.get("log_prob"), data.get("entropy")
        update, startup = data.get("update"), data.get("startup", False)
        if not (_number(log_prob) and _number(entropy) and isinstance(update, int)):
            return None
        planned, model = data.get("planned", []), data.get("model")
        if not (_list_of(planned, str) and set(planned) <= set(decisions) - set(sampled)):
            return None
        if model is not None and not isinstance(model, dict):
            return None
        drawn = set(sampled)
        return cls(
            decisions=tuple(decisions),
            actions=tuple(actions),
            n_actions=None if n_actions is None else tuple(n_actions),
            drawn=tuple(name in drawn for name in decisions),
            log_prob=float(log_prob),
            entropy=float(entropy),
            update=update,
            startup=bool(startup),
            planned=tuple(planned),
            model=model,
        )

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRecord | None:
        """The record of ``trial``, or ``None`` when it has none (or a malformed one)."""
        return cls.from_json(trial.system_attrs.get(TRIAL_KEY))


_T = TypeVar("_T")


def _list_of(value: object, kind: type[_T]) -> TypeGuard[list[_T]]:
    return isinstance(value, list) and all(
        isinstance(v, kind) and not (kind is int and isinstance(v, bool)) for v in value
    )


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
