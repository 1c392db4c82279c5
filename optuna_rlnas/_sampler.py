"""``RLNASSampler``: the controller of Zoph & Le (2017) as an Optuna sampler.

A thin adapter. Each ``trial.suggest_*`` is one controller step (``sample_independent``),
conditioned on the trial's earlier actions; each finished trial's value is a reward. The sampler
learns from storage, not from its own process: before each trial it reads the finished trials
that it has not consumed yet, in trial-number order, and runs one REINFORCE update per
``trials_per_update`` of them. So one sampler per worker process, fifty workers on one database,
each learns from every trial exactly once.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._actions import ActionMap
from optuna_rlnas._controller import Controller
from optuna_rlnas._controller import ControllerConfig
from optuna_rlnas._controller import Decision
from optuna_rlnas._model import ModelConfig
from optuna_rlnas._model import ModelGuide
from optuna_rlnas._model import Plan
from optuna_rlnas._naming import LayerName
from optuna_rlnas._naming import parse_param_name
from optuna_rlnas._reinforce import Reinforce
from optuna_rlnas._reinforce import UpdateConfig
from optuna_rlnas._rollout import Rollout

TRIAL_KEY = "rlnas:trial"  # system attr, JSON: decisions, actions, log_prob, entropy, update
_MAX_OPEN_ROLLOUTS = 1024  # rollouts of trials that never reach after_trial are dropped past this
_SKIP_CHOICES = ((False, True), (0, 1))
_DRAW = object()  # marks a decision the controller draws rather than one forced to a value
_DIRECT_READS = 2  # unconsumed trials read one by one before a trial; more: one bulk read
DEFAULT_MODEL = ModelConfig()  # the model-guided controller (issue 11); None: the controller alone

RewardFn = Callable[[Any], float]


def paper_reward(accuracy: float) -> float:
    """The paper's reward: the validation accuracy cubed (Sec. 4.1)."""
    if isinstance(accuracy, (list, tuple)):
        raise ValueError(
            f"paper_reward takes one accuracy, but got {len(accuracy)} values; a multi-objective "
            "study needs a reward_fn that turns them into one number."
        )
    return float(accuracy) ** 3


@dataclass
class _TrialRollout:
    """What the sampler holds for one running trial."""

    rollout: Rollout
    update: int  # the controller's update count when the trial started
    names: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    sampled: list[str] = field(default_factory=list)  # names the controller drew (not forced)
    anchors: dict[tuple[str, int], int] = field(default_factory=dict)  # (scope, layer) -> step
    n_params: int = 0  # leading entries of trial.params already fed or drawn
    # MODEL SEAM (issue 11): the child the model picked, and the names it decided.
    plan: Plan | None = None
    planned: list[str] = field(default_factory=list)


class RLNASSampler(BaseSampler):
    """Neural Architecture Search with reinforcement learning (Zoph & Le, ICLR 2017).

    A recurrent controller emits one decision per ``trial.suggest_*`` call and is trained with
    REINFORCE on the trials' values. Works with any define-by-run objective, conditional spaces
    and a variable number of layers included. Skip connections named by the convention of
    :func:`optuna_rlnas.skip_param` go through the paper's attention over anchor points.

    Args:
        seed: Seeds the controller's initial weights and every draw.
        controller: The controller's shape (:class:`ControllerConfig`): the paper's LSTM, with
            logits bounded by a tanh constant by default.
        update: The update rule (:class:`UpdateConfig`); the defaults are tuned for sample
            efficiency, :meth:`paper` restores Zoph & Le's.
        reward_fn: Maps a trial's value to a reward, larger is better (for example
            :func:`paper_reward`, the cube of accuracy). It receives the raw value (a list of
            values in multi-objective studies, where it is required). Without it, the reward is
            the value for ``maximize`` and its negative for ``minimize``.
        consider_pruned_trials: PRUNED trials teach with their last intermediate value (turned
            into a reward like a final value). ``False`` ignores them. FAIL trials never teach.
        n_startup_trials: Trials sampled by ``independent_sampler`` before the controller takes
            over (0, as in the paper). They still teach the controller.
        independent_sampler: Sampler of the startup trials (random search by default).
        n_bins: Numeric distributions with at most this many values are a grid of actions;
            wider ones are this many bins (see ``docs/sampler.md``).
        record_user_attrs: Also write the log-probability and entropy of each trial's actions as
            user attributes (``rlnas:log_prob``, ``rlnas:entropy``), which optuna-dashboard shows.
        model: The model-guided controller (:class:`ModelConfig`): before each trial the
            controller draws many candidates and a reward model fitted on the finished trials
            picks one. ``None``: the controller alone, as in the paper (:meth:`paper`).

    Example:
        >>> import optuna
        >>> from optuna_rlnas import RLNASSampler
        >>> def objective(trial):
        ...     n = trial.suggest_int("num_layers", 1, 3)
        ...     return sum(trial.suggest_categorical(f"layer_{i}/width", [8, 16]) for i in range(n))
        >>> study = optuna.create_study(direction="maximize", sampler=RLNASSampler(seed=0))
        >>> study.optimize(objective, n_trials=10)
        >>> len(study.trials)
        10
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        controller: ControllerConfig | None = None,
        update: UpdateConfig | None = None,
        reward_fn: RewardFn | None = None,
        consider_pruned_trials: bool = True,
        n_startup_trials: int = 0,
        independent_sampler: BaseSampler | None = None,
        n_bins: int = 16,
        record_user_attrs: bool = True,
        model: ModelConfig | None = DEFAULT_MODEL,
    ) -> None:
        if seed is not None and not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**32):
            raise ValueError(f"seed must be None or an int in [0, 2**32), but got {seed!r}.")
        if controller is not None and not isinstance(controller, ControllerConfig):
            raise TypeError(f"controller must be a ControllerConfig, but got {controller!r}.")
        if update is not None and not isinstance(update, UpdateConfig):
            raise TypeError(f"update must be an UpdateConfig, but got {update!r}.")
        if reward_fn is not None and not callable(reward_fn):
            raise TypeError(f"reward_fn must be callable or None, but got {reward_fn!r}.")
        if not (isinstance(n_startup_trials, int) and n_startup_trials >= 0):
            raise ValueError(f"n_startup_trials must be an int >= 0, but got {n_startup_trials!r}.")
        if not (isinstance(n_bins, int) and n_bins >= 2):
            raise ValueError(f"n_bins must be an int >= 2, but got {n_bins!r}.")
        if model is not None and not isinstance(model, ModelConfig):
            raise TypeError(f"model must be a ModelConfig or None, but got {model!r}.")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**32)
        self._seed = int(seed)
        self._rng = _private.lazy_random_state(self._seed)
        self._controller_config = controller or ControllerConfig()
        self._update_config = update or UpdateConfig()
        self._reward_fn = reward_fn
        self._consider_pruned_trials = consider_pruned_trials
        self._n_startup_trials = n_startup_trials
        self._independent_sampler = independent_sampler or RandomSampler(seed=self._seed)
        self._n_bins = n_bins
        self._record_user_attrs = record_user_attrs

        self._controller = Controller(self._controller_config, seed=self._seed)
        self._trainer = Reinforce(self._controller, self._update_config)
        self._lock = threading.RLock()
        self._rollouts: dict[int, _TrialRollout] = {}
        self._finished: dict[int, tuple[tuple[Decision, ...], tuple[int, ...]]] = {}
        # name -> [(distribution, key, actions)]: compared by ==, since hashing an Optuna
        # distribution sorts its fields and showed up in profiles of the suggest path.
        self._maps: dict[str, list[tuple[BaseDistribution, str, ActionMap]]] = {}
        self._names: dict[str, LayerName | None] = {}
        self._decision_objects: dict[tuple[str, int | None], Decision] = {}
        # Consumption of finished trials: every number below _next is consumed; _done holds
        # consumed numbers at or above it (trials that finished out of order).
        self._next = 0
        self._done: set[int] = set()
        self._pending: list[
            tuple[tuple[Decision, ...], tuple[int, ...], float, float | None, bool]
        ] = []
        self._n_consumed = 0
        # MODEL SEAM (issue 11): the reward model, fed in _learn, asked in before_trial.
        self._model_config = model
        self._guide = None if model is None else ModelGuide(model, self._seed)

    @classmethod
    def paper(cls, *, seed: int | None = None, **kwargs: Any) -> RLNASSampler:
        """The paper's exact setting: 2x35 LSTM, init +-0.08, Adam 6e-4, m = 8, reward acc^3."""
        kwargs.setdefault("reward_fn", paper_reward)
        kwargs.setdefault("model", None)
        return cls(
            seed=seed, controller=ControllerConfig.paper(), update=UpdateConfig.paper(), **kwargs
        )

    # ------------------------------------------------------------------ properties
    @property
    def controller(self) -> Controller:
        """The controller (a ``torch.nn.Module``)."""
        return self._controller

    @property
    def update_config(self) -> UpdateConfig:
        """The update rule in use."""
        return self._update_config

    @property
    def controller_config(self) -> ControllerConfig:
        """The controller's shape in use."""
        return self._controller_config

    @property
    def model_config(self) -> ModelConfig | None:
        """The model-guided controller's settings, or ``None`` for the controller alone."""
        return self._model_config

    @property
    def n_consumed(self) -> int:
        """Finished trials this sampler has consumed (rewards taken, or FAIL trials skipped)."""
        return self._n_consumed

    @property
    def n_updates(self) -> int:
        """Controller updates so far."""
        return self._trainer.n_updates

    @property
    def baseline(self) -> float | None:
        """The moving-average baseline b of Eq. (2); ``None`` before the first update."""
        return self._trainer.baseline

    def reward(self, study: Study, trial: FrozenTrial) -> float | None:
        """The reward R that ``trial`` teaches the controller, or ``None`` if it teaches nothing.

        COMPLETE trials give their value through ``reward_fn`` (without it, the value for
        ``maximize`` and its negative for ``minimize``); PRUNED trials their last intermediate
        value when ``consider_pruned_trials``; FAIL and unfinished trials, and non-finite
        rewards, ``None``.
        """
        return self._reward(study, trial)

    def recommended_trial(self, study: Study) -> FrozenTrial | None:
        """The trial of the child the reward model recommends, after consuming ``study``.

        Under noise the best observed value is often a lucky evaluation; the recommendation is
        the child with the best posterior mean (of its evaluations, the one with the best
        value), when the model finds the noise large, else the best observed trial. Without a
        model (``model=None``) it is Optuna's ``best_trial``. ``None`` before any reward.
        """
        self.consume(study)
        with self._lock:
            if self._guide is None:
                number = None
                if self._n_consumed:
                    try:
                        return study.best_trial
                    except ValueError:
                        return None
            else:
                number = self._guide.recommend()
        return None if number is None else _private.trial_by_number(study, number)

    def consume(self, study: Study) -> int:
        """Learn now from the finished trials not consumed yet; returns :attr:`n_consumed`.

        What ``before_trial`` does, callable outside ``study.optimize``: a worker calls it after
        its last trial to catch up with trials other workers finished, and a process that joins
        a study calls it to rebuild the learned policy by replaying the history (each finished
        trial in number order, the same updates as an uninterrupted sampler with this seed).
        """
        _private.forget_cached_trials(study)  # see trials finished since the last read
        with self._lock:
            self._learn(study)
            return self._n_consumed

    # ------------------------------------------------------------------ BaseSampler
    def reseed_rng(self) -> None:
        self._rng.rng.seed()
        self._independent_sampler.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self._check_objectives(study)
        return {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._check_objectives(study)
        with self._lock:
            self._learn(study, before=trial.number)
            state = self._open(trial)
            # MODEL SEAM (issue 11): the model picks the child before the first suggest. Trials
            # with fixed parameters (enqueued, retried) and startup trials are left alone.
            if (
                self._guide is not None
                and self._n_consumed >= self._n_startup_trials
                and "fixed_params" not in trial.system_attrs
            ):
                state.plan = self._guide.plan(self._controller, self._rng.rng)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        self._check_objectives(study)
        if self._n_consumed < self._n_startup_trials:
            return self._independent_sampler.sample_independent(
                study, trial, param_name, param_distribution
            )
        with self._lock:
            state = self._open(trial)
            # Parameters set without us (fixed, enqueued, single-valued) since the last call are
            # fed to the LSTM first, so this decision is conditioned on them.
            params = trial.params
            if len(params) > state.n_params:  # params only grow: look at the new ones only
                for name in itertools.islice(params, state.n_params, None):
                    if name not in state.seen and name != param_name:
                        self._step(state, name, trial.distributions[name], value=params[name])
                state.n_params = len(params)
            key, action_map = self._lookup(param_name, param_distribution)
            planned = None if state.plan is None else state.plan.actions.get(key)
            if planned is not None and not param_distribution.single():
                # MODEL SEAM (issue 11): the model's pick is fed as a forced action (no draw).
                action = self._step(state, param_name, param_distribution, action=planned)
                state.planned.append(param_name)
            else:
                action = self._step(state, param_name, param_distribution)
                state.sampled.append(param_name)
            return action_map.value(action, self._rng.rng)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        with self._lock:
            held = self._rollouts.pop(_private.trial_id(trial), None)
            if held is None:
                return
            for name, value in trial.params.items():  # params set after the last suggest
                if name not in held.seen:
                    self._step(held, name, trial.distributions[name], value=value)
            if not held.names:
                return
            # What _replay would rebuild from storage for this trial, kept so that _learn need
            # not: a process learns mostly from its own trials.
            if len(self._finished) >= _MAX_OPEN_ROLLOUTS:
                self._finished.pop(next(iter(self._finished)))
            self._finished[_private.trial_id(trial)] = (
                tuple(held.rollout.decisions),
                tuple(held.rollout.actions),
            )
            record = {
                "decisions": held.names,
                "actions": held.rollout.actions,
                "sampled": held.sampled,
                "log_prob": held.rollout.log_prob,
                "entropy": held.rollout.entropy,
                "update": held.update,
            }
            if held.plan is not None:  # MODEL SEAM (issue 11)
                record["planned"] = held.planned
                record["model"] = {  # the prediction in normal-score units (None: not scored)
                    "mean": None if math.isnan(held.plan.mean) else held.plan.mean,
                    "sd": None if math.isnan(held.plan.sd) else held.plan.sd,
                    "candidates": held.plan.n_candidates,
                    "reevaluates": held.plan.reevaluates,
                }
        _private.set_trial_system_attr(study, trial, TRIAL_KEY, record)
        if self._record_user_attrs:
            _private.set_trial_user_attr(study, trial, "rlnas:log_prob", record["log_prob"])
            _private.set_trial_user_attr(study, trial, "rlnas:entropy", record["entropy"])

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ internals
    def _check_objectives(self, study: Study) -> None:
        if self._reward_fn is None and _private.is_multi_objective(study):
            raise ValueError(
                f"RLNASSampler needs a reward_fn that turns the {len(study.directions)} objective "
                "values into one reward in a multi-objective study, but got reward_fn=None."
            )

    def _open(self, trial: FrozenTrial) -> _TrialRollout:
        key = _private.trial_id(trial)
        state = self._rollouts.get(key)
        if state is None:
            if len(self._rollouts) >= _MAX_OPEN_ROLLOUTS:
                self._rollouts.pop(next(iter(self._rollouts)))
            state = _TrialRollout(self._controller.rollout(), update=self._trainer.n_updates)
            self._rollouts[key] = state
        return state

    def _lookup(self, name: str, distribution: BaseDistribution) -> tuple[str, ActionMap]:
        """The controller's key for (name, distribution) and its action map."""
        variants = self._maps.setdefault(name, [])
        for known, key, actions in variants:
            # Equal fields imply Optuna's equality (which also equates NaN choices, so it stays
            # the fallback); comparing fields first skips its per-choice isinstance calls.
            if (
                known is distribution
                or (type(known) is type(distribution) and known.__dict__ == distribution.__dict__)
                or known == distribution
            ):
                return key, actions
        # A name whose range changed between trials gets a head of its own per range.
        key = name if not variants else f"{name}#{distribution!r}"
        actions = ActionMap(distribution, self._n_bins)
        variants.append((distribution, key, actions))
        if self._guide is not None and not distribution.single():  # MODEL SEAM (issue 11)
            ordered = not isinstance(distribution, CategoricalDistribution)
            self._guide.register(key, actions.n_actions, ordered)
        return key, actions

    def _decision(
        self,
        name: str,
        distribution: BaseDistribution,
        anchors: dict[tuple[str, int], int],
        step: int,
    ) -> tuple[Decision, ActionMap]:
        """The controller's decision for ``name`` at ``step``, and its action map; updates the
        layer anchors."""
        key, actions = self._lookup(name, distribution)
        if name not in self._names:
            self._names[name] = parse_param_name(name)
        parsed = self._names[name]
        source = None
        if parsed is not None:
            if parsed.skip_source is not None:
                _check_skip_distribution(name, distribution)
                source = anchors.get((parsed.scope, parsed.skip_source))
            # The anchor of a layer is its latest step (Sec. 3.3).
            anchors[(parsed.scope, parsed.layer)] = step
        decision = self._decision_objects.get((key, source))
        if decision is None:  # immutable, so one object per (key, source) serves every trial
            decision = Decision(key, actions.n_actions, source)
            self._decision_objects[(key, source)] = decision
        return decision, actions

    def _step(
        self,
        state: _TrialRollout,
        name: str,
        distribution: BaseDistribution,
        value: Any = _DRAW,
        action: int | None = None,
    ) -> int:
        """Feed one decision to the trial's rollout: force ``value`` (or the index ``action``)
        if given, else draw."""
        state.seen.add(name)
        if distribution.single():
            return 0  # nothing to decide
        decision, actions = self._decision(name, distribution, state.anchors, len(state.names))
        state.names.append(name)
        if action is not None:
            return state.rollout.step(decision, action=action)
        if value is _DRAW:
            return state.rollout.step(decision, rng=self._rng.rng)
        return state.rollout.step(decision, action=actions.action(value))

    # ------------------------------------------------------------------ learning
    def _learn(self, study: Study, before: int | None = None) -> None:
        """Consume the finished trials not consumed yet, in number order; update per batch.

        ``before``: the number of the trial about to start, when known (every lower number
        exists), which lets a few candidates be read one by one.
        """
        for trial in self._unconsumed(study, before):
            self._done.add(trial.number)
            self._n_consumed += 1
            own = self._finished.pop(_private.trial_id(trial), None)
            reward = self._reward(study, trial)
            if reward is not None:
                sequence = own or self._replay(trial)
                if sequence is not None:
                    record = trial.system_attrs.get(TRIAL_KEY)
                    old = record.get("log_prob") if isinstance(record, dict) else None
                    # MODEL SEAM (issue 11): a child the model picked is no draw from the
                    # policy, so it carries no policy-gradient term (priority queue only).
                    drawn = not (isinstance(record, dict) and record.get("planned"))
                    self._pending.append((*sequence, reward, old, drawn))
                    if self._guide is not None:
                        self._guide.observe(*sequence, reward, trial.number)
        while self._next in self._done:
            self._done.remove(self._next)
            self._next += 1
        m = self._update_config.trials_per_update
        while len(self._pending) >= m:
            batch, self._pending = self._pending[:m], self._pending[m:]
            self._trainer.update(
                [(d, a) for d, a, _, _, _ in batch],
                [r for _, _, r, _, _ in batch],
                [old for _, _, _, old, _ in batch],
                drawn=[drawn for *_, drawn in batch],
            )

    def _unconsumed(self, study: Study, before: int | None) -> list[FrozenTrial]:
        """The finished trials not consumed yet, in number order."""
        if before is not None:
            candidates = [n for n in range(self._next, before) if n not in self._done]
            if len(candidates) <= _DIRECT_READS:
                # One by one: a bulk read copies and sorts every trial of the study (Optuna's
                # cached RDB storage does), a cost that grows with the study.
                trials = [_private.trial_by_number(study, n) for n in candidates]
                return [t for t in trials if t.state.is_finished()]
        trials = _private.all_trials(study)
        if trials and trials[-1].number != len(trials) - 1:
            trials = sorted(trials, key=lambda t: t.number)
        return [
            t for t in trials[self._next :] if t.state.is_finished() and t.number not in self._done
        ]

    def _reward(self, study: Study, trial: FrozenTrial) -> float | None:
        if trial.state == TrialState.COMPLETE:
            values: list[float] | None = trial.values
        elif trial.state == TrialState.PRUNED and self._consider_pruned_trials:
            steps = trial.intermediate_values
            values = [steps[max(steps)]] if steps else None
        else:
            return None
        if values is None:
            return None
        if self._reward_fn is not None:
            reward = self._reward_fn(values[0] if len(values) == 1 else list(values))
        elif len(values) != 1:
            return None  # a multi-objective study without reward_fn never gets this far
        else:
            sign = 1.0 if study.directions[0] == StudyDirection.MAXIMIZE else -1.0
            reward = sign * values[0]
        reward = float(reward)
        return reward if math.isfinite(reward) else None

    def _replay(self, trial: FrozenTrial) -> tuple[tuple[Decision, ...], tuple[int, ...]] | None:
        """The decisions and actions of a finished trial, whoever chose them."""
        replay = self._replay_named(trial)
        return None if replay is None else replay[1:]

    def _replay_named(
        self, trial: FrozenTrial
    ) -> tuple[list[str], tuple[Decision, ...], tuple[int, ...]] | None:
        """``_replay`` with the parameter name of each decision."""
        record = trial.system_attrs.get(TRIAL_KEY)
        names = list(trial.params)
        recorded: list[int] | None = None
        if isinstance(record, dict) and set(record.get("decisions", ())) == {
            n for n in names if not trial.distributions[n].single()
        }:
            names, recorded = record["decisions"], record.get("actions")
        anchors: dict[tuple[str, int], int] = {}
        decisions, actions, kept = [], [], []
        for name in names:
            distribution = trial.distributions[name]
            if distribution.single():
                continue
            kept.append(name)
            decision, action_map = self._decision(name, distribution, anchors, len(decisions))
            decisions.append(decision)
            if recorded is not None and len(recorded) == len(names):
                action = int(recorded[len(actions)])
                if not 0 <= action < action_map.n_actions:
                    action = action_map.action(trial.params[name])
            else:
                action = action_map.action(trial.params[name])
            actions.append(action)
        if not decisions:
            return None
        return kept, tuple(decisions), tuple(actions)

    # ------------------------------------------------------------------ introspection
    def decision_probabilities(self, trial: FrozenTrial) -> dict[str, dict[str, float]]:
        """The current policy's probability of each choice at each of ``trial``'s decisions.

        The earlier decisions are forced to the trial's actions (teacher forcing), so this is
        what the controller would do now along that trial's path.
        """
        with self._lock:
            replay = self._replay_named(trial)
            if replay is None:
                return {}
            names, decisions, actions = replay
            probs = self._controller.probabilities(decisions, actions)
            out = {}
            for name, p in zip(names, probs):
                action_map = self._lookup(name, trial.distributions[name])[1]
                out[name] = {action_map.label(a): float(q) for a, q in enumerate(p)}
            return out


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
