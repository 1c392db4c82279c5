"""The objective: suggest a child, train it with Lightning, return the reward (Zoph & Le, Sec. 4.1).

Invalid-architecture policy: with odd filters and 'same' padding no sampled architecture has a
map below 1x1, so nothing is rejected for its strides. An architecture that still cannot be built
(a ``ValueError`` from :class:`ChildNet`) ends its trial as ``PRUNED`` with the reason in the
message and in the user attribute ``invalid_reason``, before any training.

Constraints (``max_params``, ``max_latency_ms``) go through Optuna's own mechanism: the trial's
``set_constraint`` records ``measured / bound - 1`` (feasible when <= 0, as Optuna defines it)
before training; an infeasible child is not trained and ends ``PRUNED`` with ``feasible=False``
and its ``invalid_reason``, so every COMPLETE trial is within the bounds.

Every value the trial reports, per epoch and at the end, is on one scale: the reward of the
epochs so far (``RewardConfig``: the best validation accuracy of the last 5 epochs, times the
MnasNet factor with a cost). A pruned trial's last intermediate value is therefore the reward it
would have returned had it stopped there.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import torch

from optuna_rlnas.child._architecture import Architecture
from optuna_rlnas.child._attributes import record_architecture
from optuna_rlnas.child._data import ImageDataModule
from optuna_rlnas.child._lightning import ChildModule
from optuna_rlnas.child._lightning import EpochHistory
from optuna_rlnas.child._lightning import TrainingConfig
from optuna_rlnas.child._lightning import make_trainer
from optuna_rlnas.child._lightning import pl
from optuna_rlnas.child._lightning import run_trainer
from optuna_rlnas.child._network import ChildNet
from optuna_rlnas.child._search_space import CNNSearchSpace
from optuna_rlnas.child._search_space import suggest_architecture

REWARD_METRIC = "reward"  # the metric the pruning callback reports, on the final value's scale
_AGGREGATES = ("max", "min", "mean", "last")
_COSTS = (None, "params", "latency")


@dataclass(frozen=True)
class RewardConfig:
    """What a trial returns.

    By default the paper's reward (Sec. 4.1): the best validation accuracy over the last
    ``last_epochs`` epochs (5). With ``cost="params"`` or ``cost="latency"`` (milliseconds for
    one image on the CPU) and a ``target`` T, the reward is MnasNet's soft constraint (Tan et
    al., 2019, Eq. 2): ``ACC * (cost / T) ** weight``, ``weight = -0.07``.

    Example:
        >>> from optuna_rlnas.child import RewardConfig
        >>> round(RewardConfig(cost="params", target=10_000).reward(0.9, cost=20_000), 4)
        0.8574
    """

    monitor: str = "val_acc"
    last_epochs: int = 5
    aggregate: str = "max"
    cost: str | None = None
    target: float | None = None
    weight: float = -0.07

    def __post_init__(self) -> None:
        if self.last_epochs < 1:
            raise ValueError(f"last_epochs must be >= 1, but got {self.last_epochs}.")
        if self.aggregate not in _AGGREGATES:
            raise ValueError(f"aggregate must be one of {_AGGREGATES}, but got {self.aggregate!r}.")
        if self.cost not in _COSTS:
            raise ValueError(f"cost must be one of {_COSTS}, but got {self.cost!r}.")
        if self.cost is not None and not (self.target is not None and self.target > 0):
            raise ValueError(f"target must be > 0 when cost is set, but got {self.target}.")

    def score(self, history: list[float]) -> float:
        """Aggregate the per-epoch ``monitor`` values over the last ``last_epochs`` epochs."""
        if not history:
            raise ValueError(f"no {self.monitor} was logged, so there is no reward.")
        window = history[-self.last_epochs :]
        if self.aggregate == "max":
            return max(window)
        if self.aggregate == "min":
            return min(window)
        if self.aggregate == "mean":
            return statistics.fmean(window)
        return window[-1]

    def reward(self, score: float, cost: float | None = None) -> float:
        """The score, times MnasNet's ``(cost / target) ** weight`` when a cost is set."""
        if self.cost is None:
            return score
        if cost is None or cost <= 0:
            raise ValueError(f"cost must be > 0 for a {self.cost} reward, but got {cost}.")
        assert self.target is not None  # __post_init__: a cost has a target
        return float(score * (cost / self.target) ** self.weight)  # MnasNet, Eq. 2


def measure_latency_ms(
    net: torch.nn.Module, image_shape: tuple[int, ...], repeats: int = 30
) -> float:
    """Median CPU latency in milliseconds of one forward pass on one image.

    The network is left on the CPU, in the mode (train or eval) it was in.
    """
    was_training = net.training
    net = net.to("cpu").eval()
    x = torch.zeros(1, *image_shape)
    timings = []
    with torch.inference_mode():
        for k in range(repeats + 5):
            start = time.perf_counter()
            net(x)
            if k >= 5:  # the first passes warm up the allocator and kernels
                timings.append((time.perf_counter() - start) * 1e3)
    net.train(was_training)
    return statistics.median(timings)


def trial_seed(seed: int, trial: optuna.trial.BaseTrial) -> int:
    """The deterministic seed of one trial: the study's seed plus the trial number."""
    return (seed + getattr(trial, "number", 0)) % 2**32


class RewardHistory(EpochHistory):
    """Records ``monitor`` per epoch and publishes the reward so far as the metric ``reward``.

    The pruning callback (after this one in the list) reports that metric, so intermediate
    values and the final value share one scale.
    """

    def __init__(self, reward: RewardConfig, cost: float | None) -> None:
        super().__init__(reward.monitor)
        self.reward = reward
        self.cost = cost

    def current(self) -> float:
        """The reward of the epochs so far."""
        return self.reward.reward(self.reward.score(self.values), self.cost)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        n = len(self.values)
        super().on_validation_end(trainer, pl_module)
        if len(self.values) > n:
            trainer.callback_metrics[REWARD_METRIC] = torch.tensor(
                self.current(), dtype=torch.float64
            )


class Deadline(pl.Callback):
    """Prunes the trial at the first training step or validation past ``deadline``
    (``time.monotonic()``).

    A trial cut short by a time budget keeps the intermediate values of its finished epochs, on
    the reward's scale, and still teaches the controller.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def _check(self, pl_module: pl.LightningModule) -> None:
        if time.monotonic() > self.deadline:
            raise optuna.TrialPruned(f"the time budget ran out in epoch {pl_module.current_epoch}.")

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._check(pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._check(pl_module)


def make_objective(
    datamodule: ImageDataModule,
    *,
    space: CNNSearchSpace | None = None,
    training: TrainingConfig | None = None,
    reward: RewardConfig | None = None,
    seed: int = 0,
    max_params: int | None = None,
    max_latency_ms: float | None = None,
    deadline: float | None = None,
) -> Callable[[optuna.trial.BaseTrial], float]:
    """An Optuna objective that trains the child a trial suggests and returns its reward.

    After every epoch the trial reports the reward so far (the metric ``reward``, on the same
    scale as the returned value) through optuna-integration's
    ``PyTorchLightningPruningCallback``, so any Optuna pruner works, Hyperband included.
    ``max_params`` and ``max_latency_ms`` are constraints (``trial.set_constraint``; see the
    module's docstring): infeasible children are pruned untrained. ``deadline`` (a
    ``time.monotonic()`` value) prunes a trial at the first step past it.

    Each trial records the architecture (:func:`record_architecture`: the user attributes
    ``layer_0``, ``layer_1``, ... and ``depth``, the system attribute ``rlnas:architecture``;
    read it back with :func:`trial_architecture`), and the user attributes ``n_params``,
    ``seed``, ``train_time_s``, ``epochs``
    (trained), ``train_images_per_s``, ``val_acc`` (the aggregated score; for a pruned trial its
    score so far), and where they apply ``feasible``, ``invalid_reason``, ``cost`` and
    ``latency_ms``. The data module is prepared, set up and moved to the training device once,
    here; its test set is never read.

    Example:
        >>> import optuna
        >>> from optuna_rlnas.child import (CNNSearchSpace, DigitsDataModule, TrainingConfig,
        ...                                 make_objective)
        >>> objective = make_objective(
        ...     DigitsDataModule(train_subset=64),
        ...     space=CNNSearchSpace(num_layers=1, filters=(8,)),
        ...     training=TrainingConfig(epochs=1),
        ... )
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(objective, n_trials=1)
        >>> sorted(study.trials[0].user_attrs)[:3]
        ['depth', 'epochs', 'feasible']
        >>> from optuna_rlnas.child import trial_architecture
        >>> print(trial_architecture(study.trials[0]))  # doctest: +ELLIPSIS
        L0 8@...
    """
    # Imported here, after Lightning itself: without the extra, the install hint comes first.
    from optuna_integration import PyTorchLightningPruningCallback

    space = CNNSearchSpace() if space is None else space
    training = TrainingConfig() if training is None else training
    reward = RewardConfig() if reward is None else reward
    if max_params is not None and max_params < 1:
        raise ValueError(f"max_params must be >= 1 or None, but got {max_params}.")
    if max_latency_ms is not None and not max_latency_ms > 0:
        raise ValueError(f"max_latency_ms must be > 0 or None, but got {max_latency_ms}.")
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.to_device(training.device())
    image_shape = (datamodule.in_channels, *datamodule.image_size)
    n_train = datamodule.n_images("train")

    def objective(trial: optuna.trial.BaseTrial) -> float:
        architecture = suggest_architecture(trial, space)
        record_architecture(trial, architecture)  # layer_0, ..., depth; rlnas:architecture
        s = trial_seed(seed, trial)
        trial.set_user_attr("seed", s)
        pl.seed_everything(s, workers=True, verbose=False)  # weights and batches per trial seed
        net = build_net(trial, architecture, datamodule)
        trial.set_user_attr("n_params", net.num_parameters)
        latency = None
        if reward.cost == "latency" or max_latency_ms is not None:
            latency = measure_latency_ms(net, image_shape)
            trial.set_user_attr("latency_ms", latency)
        check_constraints(trial, net.num_parameters, max_params, latency, max_latency_ms)
        cost = {"params": float(net.num_parameters), "latency": latency, None: None}[reward.cost]
        if cost is not None:
            trial.set_user_attr("cost", cost)

        history = RewardHistory(reward, cost)
        callbacks = [history, PyTorchLightningPruningCallback(trial, monitor=REWARD_METRIC)]
        if deadline is not None:
            callbacks.append(Deadline(deadline))
        trainer = make_trainer(training, callbacks=callbacks)
        start = time.perf_counter()
        try:
            run_trainer(trainer, "fit", ChildModule(net, training), datamodule=datamodule)
        finally:  # a pruned trial keeps these too
            seconds = time.perf_counter() - start
            trial.set_user_attr("train_time_s", round(seconds, 3))
            trial.set_user_attr("epochs", len(history.values))
            if history.values:
                speed = len(history.values) * n_train / seconds
                trial.set_user_attr("train_images_per_s", round(speed, 1))
                trial.set_user_attr(reward.monitor, reward.score(history.values))
        return history.current()

    objective.datamodule = datamodule  # type: ignore[attr-defined]
    return objective


def check_constraints(
    trial: optuna.trial.BaseTrial,
    n_params: int,
    max_params: int | None,
    latency_ms: float | None,
    max_latency_ms: float | None,
) -> None:
    """Record the constraints (``measured / bound - 1``); prune an infeasible child untrained."""
    if max_params is None and max_latency_ms is None:
        return
    reasons = []
    for key, measured, bound, text in (
        ("params", n_params, max_params, f"{n_params} parameters, more than max_params"),
        ("latency_ms", latency_ms, max_latency_ms, f"{latency_ms} ms, more than max_latency_ms"),
    ):
        if bound is None or measured is None:  # a latency bound always has its measure
            continue
        value = measured / bound - 1.0
        trial.set_constraint(key, value)
        if value > 0:
            reasons.append(f"{text}={bound}")
    trial.set_user_attr("feasible", not reasons)
    if reasons:
        reason = "infeasible child: " + "; ".join(reasons)
        trial.set_user_attr("invalid_reason", reason)
        raise optuna.TrialPruned(reason)


def build_net(
    trial: optuna.trial.BaseTrial, architecture: Architecture, datamodule: ImageDataModule
) -> ChildNet:
    """Build the child, or prune the trial with the reason when it cannot be built."""
    try:
        return ChildNet(
            architecture,
            in_channels=datamodule.in_channels,
            num_classes=datamodule.num_classes,
            image_size=datamodule.image_size,
        )
    except ValueError as exc:
        reason = f"invalid architecture: {exc}"
        trial.set_user_attr("invalid_reason", reason)
        raise optuna.TrialPruned(reason) from exc
