"""``RLNASSampler``: the controller of Zoph & Le (2017) as an Optuna sampler.

The Optuna hooks only. Each ``trial.suggest_*`` is one controller step (``sample_independent``,
``_running.py``), conditioned on the trial's earlier actions; before each trial the learner
consumes the finished trials (``_learner.py``). By default a reward model screens the
controller's candidates before each trial (``_guided.py``, ``_model/``). The map of the code is in
docs/how-it-works.md.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_rlnas import _optuna_private as _private
from optuna_rlnas._config import ControllerConfig
from optuna_rlnas._config import UpdateConfig
from optuna_rlnas._controller import Controller
from optuna_rlnas._decision import Decision
from optuna_rlnas._encoding import Encoder
from optuna_rlnas._guided import Guided
from optuna_rlnas._learner import Learner
from optuna_rlnas._learner import RewardFn
from optuna_rlnas._learner import RewardRecord
from optuna_rlnas._learner import paper_reward
from optuna_rlnas._model import ModelConfig
from optuna_rlnas._record import PLAN_KEY
from optuna_rlnas._record import TRIAL_KEY
from optuna_rlnas._running import RunningTrial

__all__ = ["RLNASSampler", "TRIAL_KEY"]

_MAX_RUNNING = 1024  # trials that never reach after_trial are dropped past this many
DEFAULT_MODEL = ModelConfig()  # the model-guided controller (issue 11); None: the controller alone


class RLNASSampler(BaseSampler):
    """Neural Architecture Search with reinforcement learning (Zoph & Le, ICLR 2017).

    A recurrent controller emits one decision per ``trial.suggest_*`` call and is trained with
    REINFORCE on the trials' values. By default it is model-guided: before each trial it draws
    many candidate children and a reward model fitted on the finished trials picks one
    (``model``); :meth:`paper` is the controller alone, as in the paper. Works with any
    define-by-run objective, conditional spaces and a variable number of layers included. Skip
    connections named by the convention of :func:`optuna_rlnas.skip_param` go through the
    paper's attention over anchor points.

    Args:
        seed: Seeds the controller's initial weights and every draw.
        controller: The controller's shape (:class:`ControllerConfig`).
        update: The update rule (:class:`UpdateConfig`); the defaults are tuned for sample
            efficiency, :meth:`paper` restores Zoph & Le's.
        reward_fn: Maps a trial's raw value (a list of values in multi-objective studies, where
            it is required) to a reward, larger is better, whatever the study's direction. Without
            it, the reward is the value for ``maximize`` and its negative for ``minimize``.
        consider_pruned_trials: PRUNED trials teach with their last intermediate value (turned
            into a reward like a final value). ``False`` ignores them. FAIL trials never teach.
        n_startup_trials: Trials sampled by ``independent_sampler`` before the controller takes
            over (0, as in the paper); decided once per trial. They teach the controller only
            through the priority queue (the controller drew none of their values).
        independent_sampler: Sampler of the startup trials (random search by default).
        n_bins: Numeric distributions with at most this many values are a grid of actions;
            wider ones are this many bins; in [2, 1024] (see ``docs/sampler.md``).
        record_user_attrs: Also write the log-probability and entropy of each trial's drawn
            actions as user attributes (``rlnas:log_prob``, ``rlnas:entropy``).
        model: The model-guided controller (:class:`ModelConfig`): the controller draws
            ``n_candidates`` children, those already evaluated are dropped, and a Gaussian
            process fitted on the finished trials picks the one with the best expected
            improvement. Its steps are fed to the controller as not drawn (no policy-gradient
            term). ``None``: the controller alone.

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
        if model is not None and not isinstance(model, ModelConfig):
            raise TypeError(f"model must be a ModelConfig or None, but got {model!r}.")
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])  # from the OS's entropy
        self._seed = int(seed)
        self._rng = _private.lazy_random_state(self._seed)
        self._controller = Controller(controller or ControllerConfig(), seed=self._seed)
        self._encoder = Encoder(n_bins)
        self._guided = None if model is None else Guided(model, self._seed, self._encoder)
        self._learner = Learner(
            self._controller,
            update or UpdateConfig(),
            self._encoder,
            reward_fn=reward_fn,
            consider_pruned_trials=consider_pruned_trials,
            observer=None if self._guided is None else self._guided.observe,
        )
        self._n_startup_trials = n_startup_trials
        self._independent_sampler = independent_sampler or RandomSampler(seed=self._seed)
        self._record_user_attrs = record_user_attrs
        self._lock = threading.RLock()
        self._running: dict[int, RunningTrial] = {}

    @classmethod
    def paper(
        cls,
        *,
        seed: int | None = None,
        controller: ControllerConfig | None = None,
        update: UpdateConfig | None = None,
        reward_fn: RewardFn | None = paper_reward,
        model: ModelConfig | None = None,
        **kwargs: Any,
    ) -> RLNASSampler:
        """Zoph & Le's setting: 2x35 LSTM, init +-0.08, plain softmax, Adam 6e-4, m = 8, reward
        accuracy cubed (Sec. 4.1), for a maximising study of accuracies in [0, 1]; the controller
        alone, no reward model. Any argument of the constructor overrides the paper's;
        ``reward_fn=None`` follows the direction."""
        controller = controller or ControllerConfig.paper()
        update = update or UpdateConfig.paper()
        return cls(
            seed=seed,
            controller=controller,
            update=update,
            reward_fn=reward_fn,
            model=model,
            **kwargs,
        )

    # ------------------------------------------------------------------ properties
    @property
    def controller(self) -> Controller:
        """The controller (a ``torch.nn.Module``)."""
        return self._controller

    @property
    def update_config(self) -> UpdateConfig:
        return self._learner.trainer.config

    @property
    def controller_config(self) -> ControllerConfig:
        return self._controller.config

    @property
    def model_config(self) -> ModelConfig | None:
        """The model-guided controller's settings, or ``None`` for the controller alone."""
        return None if self._guided is None else self._guided.config

    @property
    def n_consumed(self) -> int:
        """Finished trials this sampler has consumed (rewards taken, or FAIL trials skipped)."""
        return self._learner.ledger.n_consumed

    @property
    def n_updates(self) -> int:
        return self._learner.trainer.n_updates

    @property
    def baseline(self) -> float | None:
        """The moving-average baseline b of Eq. (2); ``None`` before the first update."""
        return self._learner.trainer.baseline

    @property
    def reward_fn(self) -> RewardFn | None:
        """Value -> reward, as given (``None``: the value, in the study's direction)."""
        return self._learner.reward_fn

    @property
    def reward_history(self) -> tuple[RewardRecord, ...]:
        """Each consumed reward, in consumption order: trial number, reward, the baseline b its
        advantage was measured against and the update's index (both ``None`` while pending)."""
        return self._learner.history

    def reward(self, study: Study, trial: FrozenTrial) -> float | None:
        """The reward R that ``trial`` teaches, ``None`` for FAIL and unfinished trials, PRUNED
        ones unless ``consider_pruned_trials`` (then: their last intermediate value), and
        non-finite rewards."""
        return self._learner.reward(study, trial)

    def consume(self, study: Study) -> int:
        """Learn now from the finished trials not consumed yet; returns :attr:`n_consumed`.

        What ``before_trial`` does, callable outside ``study.optimize``: a worker calls it after
        its last trial to catch up, and a process that joins a study calls it to rebuild the
        policy by replaying the history (docs/scale-out.md).
        """
        _private.forget_cached_trials(study)  # see trials finished since the last read
        with self._lock:
            self._learner.learn(study)
            return self.n_consumed

    def recommended_trial(self, study: Study) -> FrozenTrial | None:
        """The trial of the child the reward model recommends, after consuming ``study``.

        Under noise the best observed value is often a lucky evaluation; when the model finds
        the noise large, the recommendation is the child with the best posterior mean (of its
        evaluations, the one with the best value), else the best observed trial. Without a
        model (``model=None``) it is Optuna's ``best_trial``. ``None`` before any reward.
        """
        self.consume(study)
        with self._lock:
            if self._guided is not None:
                number = self._guided.recommend()
                return None if number is None else _private.trial_by_number(study, number)
            if not self.n_consumed:
                return None
        try:
            return study.best_trial
        except (ValueError, RuntimeError):  # no complete trial; a multi-objective study
            return None

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
        self._learner.check(study)
        return {}

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        try:
            with self._lock:
                self._learner.check(study)
                self._learner.learn(study, before=trial.number)
                self._open(trial, study)
        except Exception:
            # As if the objective had raised: the trial ends FAIL, the error surfaces. Nothing
            # of the read was consumed, so the next trial retries it.
            _private.fail_trial(study, trial)
            raise

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        self._learner.check(study)
        with self._lock:
            running = self._open(trial)
            if not running.startup:
                rng = self._rng.rng
                return running.draw(
                    param_name, param_distribution, trial.params, trial.distributions, rng
                )
        sampler = self._independent_sampler
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        with self._lock:
            running = self._running.pop(_private.trial_id(trial), None)
            if running is None:
                return
            record = running.finish(trial.params, trial.distributions)
            if not record.decisions:
                return
            self._learner.remember(trial, running.sequence.child(), record.log_prob)
        _private.set_trial_system_attr(study, trial, TRIAL_KEY, record.to_json())
        if self._record_user_attrs:
            _private.set_trial_user_attr(study, trial, "rlnas:log_prob", record.log_prob)
            _private.set_trial_user_attr(study, trial, "rlnas:entropy", record.entropy)

    def _open(self, trial: FrozenTrial, study: Study | None = None) -> RunningTrial:
        key = _private.trial_id(trial)
        running = self._running.get(key)
        if running is None:
            if len(self._running) >= _MAX_RUNNING:
                self._running.pop(next(iter(self._running)))
            # Startup or not is decided once per trial, here: never per suggest.
            startup = self.n_consumed < self._n_startup_trials
            policy = None if startup else self._learner.policy()
            plan = None
            if policy is not None and self._guided is not None:
                # The model picks the child before the first suggest; trials with fixed
                # parameters (enqueued, retried) are left to the controller.
                if not _private.has_fixed_params(trial):
                    since = self._learner.ledger.first_unconsumed
                    pending = [] if study is None else _pending_plans(study, trial, since)
                    plan = self._guided.plan(policy, self._rng.rng, pending)
            if plan is not None and study is not None:
                _private.set_trial_system_attr(study, trial, PLAN_KEY, plan[0])
            running = RunningTrial(
                self._encoder.sequence(), policy, self.n_updates, *(plan or (None, None))
            )
            self._running[key] = running
        return running

    # ------------------------------------------------------------------ introspection
    def decision_probabilities(self, trial: FrozenTrial) -> dict[str, dict[str, float]]:
        """The current policy's probability of each choice at each of ``trial``'s decisions,
        the earlier decisions forced to the trial's actions (teacher forcing)."""
        with self._lock:
            return self._learner.decision_probabilities(trial)

    def _replay(self, trial: FrozenTrial) -> tuple[tuple[Decision, ...], tuple[int, ...]] | None:
        """(decisions, actions) of a finished trial, as the controller scores them."""
        replayed = self._encoder.replay(trial)
        if replayed is None:
            return None
        child = replayed[0].child()
        return child.decisions, child.actions

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


def _pending_plans(study: Study, trial: FrozenTrial, since: int = 0) -> list[dict[str, int]]:
    """The children the model picked for the study's other running trials (any worker's):
    training already, so not to be picked again (a second worker planning at the same moment
    sees the same model and would often pick the same child)."""
    plans = []
    for other in _private.running_trials(study, since):
        plan = other.system_attrs.get(PLAN_KEY)
        if other.number != trial.number and isinstance(plan, dict):
            plans.append({str(k): int(v) for k, v in plan.items()})
    return plans
