"""The final phase: retrain the search's best architectures properly, pick one, test it once.

The search trains children on a proxy (a subset, few epochs, pruned early); what a user keeps is
a network trained on the whole training split with the recipe a practitioner would use
(``FINAL_TRAINING``: SGD with Nesterov momentum as in the paper, a cosine schedule, label
smoothing, the dataset's augmentation). :func:`finalists` takes the top distinct architectures of
a study, :func:`train_child` trains one for a number of epochs fitted to its time share
(:func:`seconds_per_step` measures the pace first), and :func:`evaluate` gives accuracies in
32-bit eval mode, the mode a loaded model runs in, so a saved model reproduces them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from typing import TypeVar

import optuna
import torch

from optuna_rlnas.child._architecture import Architecture
from optuna_rlnas.child._attributes import has_architecture
from optuna_rlnas.child._attributes import trial_architecture
from optuna_rlnas.child._data import ImageDataModule
from optuna_rlnas.child._lightning import ChildModule
from optuna_rlnas.child._lightning import TrainingConfig
from optuna_rlnas.child._lightning import make_trainer
from optuna_rlnas.child._lightning import pl
from optuna_rlnas.child._lightning import run_trainer
from optuna_rlnas.child._loader import TensorLoader
from optuna_rlnas.child._network import ChildNet

_Net = TypeVar("_Net", bound=torch.nn.Module)

# The final recipe (docs/decisions.md has the measurements behind it).
FINAL_TRAINING = TrainingConfig(
    epochs=30, learning_rate=0.1, weight_decay=5e-4, label_smoothing=0.1
)


@dataclass(frozen=True)
class Finalist:
    """One architecture the final phase retrains, and the search trial it came from."""

    trial_number: int
    architecture: Architecture
    search_value: float
    search_images_per_s: float | None


def finalists(study: optuna.Study, k: int) -> list[Finalist]:
    """The ``k`` best distinct architectures of the study's feasible trained trials.

    COMPLETE trials come first, by value; then PRUNED ones that were trained, by their last
    intermediate value (on the same scale), for a search too short to complete many.
    """
    ranked = []
    for t in study.get_trials(deepcopy=False):
        if not has_architecture(t) or any(c > 0 for c in t.constraints.values()):
            continue
        if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None:
            ranked.append((0, -t.value, t.number, t))
        elif t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values:
            last = t.intermediate_values[max(t.intermediate_values)]
            ranked.append((1, -last, t.number, t))
    chosen: dict[str, Finalist] = {}
    for _, negative_value, _, t in sorted(ranked, key=lambda r: r[:3]):
        architecture = trial_architecture(t)
        if architecture is None:  # has_architecture, but unreadable
            continue
        key = architecture.to_json()
        if key not in chosen:
            chosen[key] = Finalist(
                t.number,
                architecture,
                -negative_value,
                t.user_attrs.get("train_images_per_s"),
            )
        if len(chosen) == k:
            break
    return list(chosen.values())


def build(architecture: Architecture, datamodule: ImageDataModule) -> ChildNet:
    """The child network for ``datamodule``'s images."""
    return ChildNet(
        architecture,
        in_channels=datamodule.in_channels,
        num_classes=datamodule.num_classes,
        image_size=datamodule.image_size,
    )


@torch.inference_mode()
def evaluate(net: torch.nn.Module, loader: TensorLoader) -> float:
    """Accuracy of ``net`` on ``loader``, in eval mode and 32-bit, on the loader's device."""
    net = net.to(loader.images.device).eval()
    correct = torch.zeros((), dtype=torch.long, device=loader.images.device)
    for images, labels in loader:
        correct += (net(images.contiguous()).argmax(dim=1) == labels).sum()
    return int(correct) / len(loader.labels)


def seconds_per_eval_image(net: torch.nn.Module, loader: TensorLoader, limit: int = 1024) -> float:
    """Wall seconds per image of :func:`evaluate`, timed on up to ``limit`` of ``loader``'s."""
    part = TensorLoader(loader.images[:limit], loader.labels[:limit], batch_size=loader.batch_size)
    evaluate(net, part)  # warm-up: allocation and kernel choice
    _synchronize(part.images.device)
    start = time.perf_counter()
    evaluate(net, part)
    _synchronize(part.images.device)
    return (time.perf_counter() - start) / len(part.labels)


class _StepClock(pl.Callback):
    # Times training steps after `skip` warm-up steps (allocation, kernel choice, compilation).
    def __init__(self, skip: int) -> None:
        self.skip = skip
        self.start: float | None = None
        self.steps = 0
        self.seconds = 0.0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: object, batch_idx: int
    ) -> None:
        if batch_idx == self.skip:
            _synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: object,
        batch: object,
        batch_idx: int,
    ) -> None:
        if self.start is not None:
            self.steps += 1
            _synchronize(pl_module.device)
            self.seconds = time.perf_counter() - self.start


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_step(
    make_net: Callable[[], torch.nn.Module],
    datamodule: ImageDataModule,
    training: TrainingConfig,
    *,
    steps: int = 12,
    skip: int = 4,
) -> float:
    """Wall seconds of one training step of ``training``, measured on a throwaway network."""
    clock = _StepClock(skip)
    module = ChildModule(make_net(), replace(training, epochs=1))
    trainer = make_trainer(
        training, callbacks=[clock], max_steps=skip + steps, max_epochs=1, limit_val_batches=0
    )
    run_trainer(trainer, "fit", module, train_dataloaders=datamodule.train_dataloader())
    if not clock.steps:
        raise ValueError(
            f"the training split has {len(datamodule.train_dataloader())} batches, too few to "
            f"time {skip + steps} steps."
        )
    return clock.seconds / clock.steps


class _StopAt(pl.Callback):
    # The budget's last resort: stop when the clock passes `deadline`, schedule finished or not.
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: object,
        batch: object,
        batch_idx: int,
    ) -> None:
        if time.monotonic() > self.deadline:
            trainer.should_stop = True


def train_net(
    net: _Net,
    datamodule: ImageDataModule,
    training: TrainingConfig,
    *,
    stop_at: float | None = None,
) -> tuple[_Net, float]:
    """Train ``net`` (any classifier) on the training split; returns it and the seconds taken.

    No validation during training: the caller evaluates the finished network once. ``stop_at``
    (a ``time.monotonic()`` value) stops training there even if epochs are left.
    """
    module = ChildModule(net, training)
    callbacks: list[pl.Callback] = [] if stop_at is None else [_StopAt(stop_at)]
    trainer = make_trainer(training, callbacks=callbacks, limit_val_batches=0)
    start = time.perf_counter()
    run_trainer(trainer, "fit", module, train_dataloaders=datamodule.train_dataloader())
    _synchronize(module.device)
    # ``module.net`` is ``net``: Module.to converts in place (torch's overloads omit
    # memory_format, though Module.to takes it).
    net.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    return net, time.perf_counter() - start


def train_child(
    architecture: Architecture,
    datamodule: ImageDataModule,
    training: TrainingConfig,
    *,
    seed: int,
    stop_at: float | None = None,
) -> tuple[ChildNet, float]:
    """Seed, build ``architecture``'s network and train it (:func:`train_net`)."""
    pl.seed_everything(seed, workers=True, verbose=False)
    net, seconds = train_net(build(architecture, datamodule), datamodule, training, stop_at=stop_at)
    return net, seconds
