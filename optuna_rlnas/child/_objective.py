"""The objective: suggest a child, train it with Lightning, return the reward (Zoph & Le, Sec. 4.1).

Invalid-architecture policy: with odd filters and 'same' padding no sampled architecture has a
map below 1x1, so nothing is rejected for its strides. An architecture that still cannot be built
(a ``ValueError`` from :class:`ChildNet`), or one over ``max_params``, ends its trial as
``PRUNED`` with the reason in the message and in the user attribute ``invalid_reason``: the study
goes on, and the trial never counts as a finished reward.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import torch

from optuna_rlnas.child._architecture import Architecture
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
        return score * (cost / self.target) ** self.weight  # MnasNet, Eq. 2


def measure_latency_ms(
    net: torch.nn.Module, image_shape: tuple[int, ...], repeats: int = 30
) -> float:
    """Median CPU latency in milliseconds of one forward pass on one image."""
    net = net.to("cpu").eval()
    x = torch.zeros(1, *image_shape)
    timings = []
    with torch.inference_mode():
        for k in range(repeats + 5):
            start = time.perf_counter()
            net(x)
            if k >= 5:  # the first passes warm up the allocator and kernels
                timings.append((time.perf_counter() - start) * 1e3)
    return statistics.median(timings)


def trial_seed(seed: int, trial: optuna.trial.BaseTrial) -> int:
    """The deterministic seed of one trial: the study's seed plus the trial number."""
    return (seed + getattr(trial, "number", 0)) % 2**32


def make_objective(
    datamodule: ImageDataModule,
    *,
    space: CNNSearchSpace | None = None,
    training: TrainingConfig | None = None,
    reward: RewardConfig | None = None,
    seed: int = 0,
    max_params: int | None = None,
) -> Callable[[optuna.trial.BaseTrial], float]:
    """An Optuna objective that trains the child a trial suggests and returns its reward.

    The trial reports ``reward.monitor`` after every epoch through optuna-integration's
    ``PyTorchLightningPruningCallback``, so any Optuna pruner works. Each trial records the user
    attributes ``architecture`` (compact string), ``architecture_json``, ``n_params``,
    ``train_time_s``, ``seed``, ``val_acc`` (the aggregated score) and, with a cost,
    ``cost``. The data module is prepared and set up once, here; its test set is never read.

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
        ['architecture', 'architecture_json', 'n_params']
    """
    # Imported here, after Lightning itself: without the extra, the install hint comes first.
    from optuna_integration import PyTorchLightningPruningCallback

    space = CNNSearchSpace() if space is None else space
    training = TrainingConfig() if training is None else training
    reward = RewardConfig() if reward is None else reward
    if max_params is not None and max_params < 1:
        raise ValueError(f"max_params must be >= 1 or None, but got {max_params}.")
    datamodule.prepare_data()
    datamodule.setup("fit")
    image_shape = (datamodule.in_channels, *datamodule.image_size)

    def objective(trial: optuna.trial.BaseTrial) -> float:
        architecture = suggest_architecture(trial, space)
        trial.set_user_attr("architecture", str(architecture))
        trial.set_user_attr("architecture_json", architecture.to_json())
        s = trial_seed(seed, trial)
        trial.set_user_attr("seed", s)
        pl.seed_everything(s, workers=True, verbose=False)  # weights and batches per trial seed
        net = build_net(trial, architecture, datamodule, max_params)
        trial.set_user_attr("n_params", net.num_parameters)

        history = EpochHistory(reward.monitor)
        callbacks = [history, PyTorchLightningPruningCallback(trial, monitor=reward.monitor)]
        trainer = make_trainer(training, callbacks=callbacks)
        start = time.perf_counter()
        try:
            run_trainer(trainer, "fit", ChildModule(net, training), datamodule=datamodule)
        finally:
            trial.set_user_attr("train_time_s", round(time.perf_counter() - start, 3))
        score = reward.score(history.values)
        trial.set_user_attr(reward.monitor, score)
        cost = None
        if reward.cost == "params":
            cost = float(net.num_parameters)
        elif reward.cost == "latency":
            cost = measure_latency_ms(net, image_shape)
        if cost is not None:
            trial.set_user_attr("cost", cost)
        return reward.reward(score, cost)

    objective.datamodule = datamodule  # type: ignore[attr-defined]
    return objective


def build_net(
    trial: optuna.trial.BaseTrial,
    architecture: Architecture,
    datamodule: ImageDataModule,
    max_params: int | None = None,
) -> ChildNet:
    """Build the child, or prune the trial with the reason when it cannot be built."""
    try:
        net = ChildNet(
            architecture,
            in_channels=datamodule.in_channels,
            num_classes=datamodule.num_classes,
            image_size=datamodule.image_size,
        )
    except ValueError as exc:
        reason = f"invalid architecture: {exc}"
        trial.set_user_attr("invalid_reason", reason)
        raise optuna.TrialPruned(reason) from exc
    if max_params is not None and net.num_parameters > max_params:
        reason = f"the child has {net.num_parameters} parameters, more than max_params={max_params}"
        trial.set_user_attr("invalid_reason", reason)
        raise optuna.TrialPruned(reason)
    return net
