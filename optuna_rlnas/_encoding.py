"""Parameters to the controller's decisions and actions, and back.

A trial's ``suggest_*`` calls become a sequence of decisions, one per parameter with more than
one value, each with an action (an index into its :class:`~optuna_rlnas._actions.ActionMap`).
:class:`TrialSequence` owns one trial's sequence: the names in step order, their decisions,
actions and drawn flags, and the anchors of the layers (Sec. 3.3). The same object is built
while a trial runs (step by step, in ``RLNASSampler``) and when a finished trial is replayed
from storage (:meth:`Encoder.replay`), so the two cannot disagree.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import NamedTuple

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial

from optuna_rlnas._actions import ActionMap
from optuna_rlnas._decision import Child
from optuna_rlnas._decision import Decision
from optuna_rlnas._naming import LayerName
from optuna_rlnas._naming import parse_param_name
from optuna_rlnas._record import TrialRecord

_SKIP_CHOICES = ((False, True), (0, 1))
# Each decision is a softmax over its actions; 1,024 bins cut a range finer than any
# architecture or training choice needs, and a head costs a row per action (docs/sampler.md).
MAX_BINS = 1024


class Step(NamedTuple):
    """What one parameter becomes at the next step of a sequence."""

    name: str
    decision: Decision
    actions: ActionMap
    layer: LayerName | None


class Encoder:
    """The action maps and decisions of one sampler, shared by all its trials.

    Args:
        n_bins: Numeric distributions with more values than this are cut into this many bins.
    """

    def __init__(self, n_bins: int) -> None:
        if not (type(n_bins) is int and n_bins >= 2):
            raise ValueError(f"n_bins must be an int >= 2, but got {n_bins!r}.")
        if n_bins > MAX_BINS:
            raise ValueError(f"n_bins must be at most {MAX_BINS}, but got {n_bins!r}.")
        self.n_bins = n_bins
        # name -> [(distribution, key, actions)]: distributions compared by ==, not hashed
        # (docs/decisions.md).
        self._maps: dict[str, list[tuple[BaseDistribution, str, ActionMap]]] = {}
        self._layers: dict[str, LayerName | None] = {}
        self._ordered: dict[str, bool] = {}  # key -> its actions are ordered (not a categorical)
        self._decisions: dict[tuple[str, int, int | None], Decision] = {}

    def action_map(self, name: str, distribution: BaseDistribution) -> tuple[str, ActionMap]:
        """The controller's key for (name, distribution) and its action map."""
        variants = self._maps.setdefault(name, [])
        for known, key, actions in variants:
            # Equal fields imply Optuna's equality, which stays the fallback (it also equates
            # NaN choices).
            if (
                known is distribution
                or (type(known) is type(distribution) and known.__dict__ == distribution.__dict__)
                or known == distribution
            ):
                return key, actions
        # A name whose range changed between trials gets a head of its own per range.
        key = name if not variants else f"{name}#{distribution!r}"
        actions = ActionMap(distribution, self.n_bins)
        variants.append((distribution, key, actions))
        self._ordered[key] = not isinstance(distribution, CategoricalDistribution)
        return key, actions

    def ordered(self, key: str) -> bool:
        """Whether the actions of the decision ``key`` are ordered (an integer or a float's grid
        or bins) rather than unordered choices (a categorical)."""
        return self._ordered[key]

    def layer(self, name: str) -> LayerName | None:
        if name not in self._layers:
            self._layers[name] = parse_param_name(name)
        return self._layers[name]

    def decision(self, key: str, n_actions: int, skip_source: int | None) -> Decision:
        """One immutable object per (key, n_actions, source) serves every trial."""
        decision = self._decisions.get((key, n_actions, skip_source))
        if decision is None:
            decision = Decision(key, n_actions, skip_source)
            self._decisions[(key, n_actions, skip_source)] = decision
        return decision

    def sequence(self) -> TrialSequence:
        return TrialSequence(self)

    def replay(self, trial: FrozenTrial) -> tuple[TrialSequence, float | None] | None:
        """The sequence of a finished trial, whoever chose it, and the recorded log-probability
        of its drawn steps (``None`` when unknown); ``None`` when it has no decision or cannot
        be replayed (a warning says which trial and why).

        The trial's ``rlnas:trial`` record gives the order of the decisions, their actions and
        which were drawn; without a usable record, the parameters in storage order give the
        decisions, their values the actions, and no step counts as drawn.
        """
        record = TrialRecord.of(trial)
        params, distributions = trial.params, trial.distributions
        names = [n for n in params if not distributions[n].single()]
        if record is not None and set(record.decisions) != set(names):
            record = None  # not this trial's record: corrupt, or written by something else
        sequence = TrialSequence(self)
        for t, name in enumerate(record.decisions if record is not None else names):
            try:
                step = sequence.next_step(name, distributions[name])
            except ValueError as e:
                _warn(trial, str(e))
                return None
            assert step is not None  # single-valued parameters are not in names
            if record is not None and record.n_actions is not None:
                if record.n_actions[t] != step.decision.n_actions:
                    _warn(
                        trial,
                        f"its record gives {name!r} {record.n_actions[t]} actions, but this "
                        f"sampler's encoding has {step.decision.n_actions} (a sampler with "
                        "another n_bins wrote it), so its actions mean other values",
                    )
                    return None
                action = record.actions[t]
            else:
                action = step.actions.action(params[name])
            sequence.append(step, action, drawn=record is not None and record.drawn[t])
        if not sequence.decisions:
            return None
        if record is None or record.n_actions is None:  # no log-probability to trust
            return sequence, None
        return sequence, record.log_prob


class TrialSequence:
    """One trial's decisions in step order: names, decisions, actions, drawn flags, anchors.

    The anchor of a layer is its latest step so far (Sec. 3.3): a skip decision
    ``layer_i/skip_j`` attends to the step of layer ``j``'s latest decision; a skip whose source
    layer has no decision yet in the trial is an ordinary softmax decision.
    """

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self.names: list[str] = []
        self.decisions: list[Decision] = []
        self.actions: list[int] = []
        self.drawn: list[bool] = []
        self._steps: dict[str, int] = {}  # name -> step
        self._anchors: dict[tuple[str, int], int] = {}  # (scope, layer) -> step
        self._n_params = 0  # leading entries of the trial's params already looked at

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def __len__(self) -> int:
        return len(self.decisions)

    def next_step(self, name: str, distribution: BaseDistribution) -> Step | None:
        """What ``name`` becomes at the next step; ``None`` for a single value (no decision)."""
        if distribution.single():
            return None
        key, actions = self._encoder.action_map(name, distribution)
        layer = self._encoder.layer(name)
        source = None
        if layer is not None and layer.skip_source is not None:
            _check_skip_distribution(name, distribution)
            source = self._anchors.get((layer.scope, layer.skip_source))
        decision = self._encoder.decision(key, actions.n_actions, source)
        return Step(name, decision, actions, layer)

    def append(self, step: Step, action: int, drawn: bool) -> None:
        """Take ``step`` with ``action``; ``drawn``: the controller drew it (else it was fed)."""
        if step.name in self._steps:
            raise ValueError(f"{step.name!r} is already step {self._steps[step.name]}.")
        self._steps[step.name] = len(self.decisions)
        if step.layer is not None:
            self._anchors[(step.layer.scope, step.layer.layer)] = len(self.decisions)
        self.names.append(step.name)
        self.decisions.append(step.decision)
        self.actions.append(int(action))
        self.drawn.append(bool(drawn))

    def new_params(self, params: Mapping[str, Any]) -> Iterator[str]:
        """Names of ``params`` not looked at by an earlier call (params only grow) and not in
        the sequence: parameters set without the controller (fixed, enqueued, retried)."""
        if len(params) <= self._n_params:
            return iter(())
        names = list(itertools.islice(params, self._n_params, None))
        self._n_params = len(params)
        return (name for name in names if name not in self._steps)

    def child(self) -> Child:
        return Child(tuple(self.decisions), tuple(self.actions), tuple(self.drawn))

    def record(self, log_prob: float, entropy: float, update: int, startup: bool) -> TrialRecord:
        return TrialRecord(
            decisions=tuple(self.names),
            actions=tuple(self.actions),
            n_actions=tuple(d.n_actions for d in self.decisions),
            drawn=tuple(self.drawn),
            log_prob=log_prob,
            entropy=entropy,
            update=update,
            startup=startup,
        )


def _check_skip_distribution(name: str, distribution: BaseDistribution) -> None:
    if not (
        isinstance(distribution, CategoricalDistribution)
        and tuple(distribution.choices) in _SKIP_CHOICES
    ):
        raise ValueError(
            f"{name!r} is named as a skip connection (layer_i/skip_j, see "
            "optuna_rlnas.skip_param), "
            f"so it must be a categorical with the choices (False, True), but got {distribution!r}."
        )


def _warn(trial: FrozenTrial, why: str) -> None:
    warnings.warn(
        f"RLNASSampler does not learn from trial {trial.number}: {why}.", UserWarning, stacklevel=3
    )
