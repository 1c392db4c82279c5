"""Training a child network with Lightning: the recipe, the module and the trainer.

This is the only module that imports Lightning; it fails with an install hint when the
``lightning`` extra is missing, so ``import optuna_rlnas`` stays light.
"""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import overload

import torch
import torch.nn.functional as F
from torch import nn

from optuna_rlnas.child._checks import check_int

_HINT = 'training child networks needs Lightning: pip install "optuna-rlnas[lightning]"'

try:
    import lightning.pytorch as pl
    from lightning.pytorch.utilities.types import OptimizerLRScheduler
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"{_HINT} ({exc}).") from exc

# ``pl`` is exported on purpose: the other child modules take Lightning from here, so that a
# missing extra fails in one place with the install hint.
__all__ = [
    "ChildModule",
    "EpochHistory",
    "TrainingConfig",
    "make_trainer",
    "pl",
    "quiet_lightning",
    "resolve_precision",
    "run_trainer",
]

# A batch of the image data modules: (images, labels).
Batch = tuple[torch.Tensor, torch.Tensor]

_OPTIMIZERS = ("adam", "adamw", "sgd")
_PRECISIONS = (None, "32-true", "bf16-mixed", "16-mixed")
_ACCELERATORS = ("auto", "cpu", "cuda", "gpu")


@dataclass(frozen=True)
class TrainingConfig:
    """How a child network is trained.

    The defaults are the paper's optimiser (Sec. 4.1: SGD with Nesterov momentum 0.9, learning
    rate 0.1, weight decay 1e-4) with the learning rate decayed to zero along a cosine, per
    step. ``label_smoothing`` softens the training targets (the validation and test losses are
    plain cross-entropy).

    Where it runs: ``accelerator="auto"`` takes a GPU when there is one; ``device_index`` picks
    one GPU of several (one per worker process, ``docs/throughput.md``) and needs CUDA.
    ``precision=None`` means ``bf16-mixed`` (``16-mixed`` without bf16) on CUDA and ``32-true``
    elsewhere; ``"bf16-mixed"`` works on a CPU too (autocast), and is fast on CPUs with bf16
    instructions. ``channels_last`` stores the network's and the batches' maps channels-last
    (NHWC), which convolution kernels on GPUs and on oneDNN CPUs prefer. ``compile`` wraps the
    network in ``torch.compile`` (opt-in: compiling costs seconds to minutes per child, so it
    pays only for long trainings such as the final phase; on a CPU it needs a C++ compiler).

    Example:
        >>> from optuna_rlnas.child import TrainingConfig
        >>> TrainingConfig(epochs=2).learning_rate
        0.1
    """

    epochs: int = 10
    learning_rate: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    cosine_schedule: bool = True
    accelerator: str = "auto"
    device_index: int | None = None
    precision: str | None = None
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, but got {self.learning_rate}.")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, but got {self.optimizer!r}.")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), but got {self.momentum}.")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, but got {self.weight_decay}.")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), but got {self.label_smoothing}.")
        if self.accelerator not in _ACCELERATORS:
            raise ValueError(
                f"accelerator must be one of {_ACCELERATORS}, but got {self.accelerator!r}."
            )
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {_PRECISIONS}, but got {self.precision!r}.")
        if self.device_index is not None:
            check_int("device_index", self.device_index, low=0)
            if self.accelerator == "cpu":
                raise ValueError(
                    f"device_index={self.device_index} picks a GPU, but accelerator is 'cpu'."
                )

    def device(self) -> torch.device:
        """The device a child trains on; ``ValueError`` when a GPU is asked for and missing."""
        cuda = torch.cuda.is_available()
        wants_gpu = self.accelerator in ("cuda", "gpu") or self.device_index is not None
        if wants_gpu and not cuda:
            asked = (
                f"device_index={self.device_index}"
                if self.device_index is not None
                else f"accelerator={self.accelerator!r}"
            )
            raise ValueError(
                f"{asked} needs a CUDA GPU, but torch.cuda.is_available() is False on this "
                "machine; use accelerator 'auto' or 'cpu'."
            )
        if not (cuda and self.accelerator != "cpu"):
            return torch.device("cpu")
        index = 0 if self.device_index is None else self.device_index
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device_index must be below the {torch.cuda.device_count()} visible GPUs, "
                f"but got {index}."
            )
        return torch.device("cuda", index)

    def resolved_precision(self) -> str:
        """``precision``, or mixed precision on CUDA and 32-bit elsewhere."""
        cuda = self.device().type == "cuda"
        if self.precision == "16-mixed" and not cuda:
            raise ValueError(
                "precision '16-mixed' needs CUDA: fp16 autocast does not run on a CPU (Lightning "
                "would switch to bf16); use 'bf16-mixed' or '32-true'."
            )
        if self.precision is not None:
            return self.precision
        if cuda:
            return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return "32-true"


@dataclass
class _StageTotals:
    """One stage's sums over an epoch, as tensors on the model's device."""

    loss_sum: torch.Tensor  # sum of loss * batch size
    correct: torch.Tensor
    count: int = 0


class ChildModule(pl.LightningModule):
    """A LightningModule around a child network (injected, e.g. a :class:`ChildNet`).

    Logs ``train_loss``, ``val_loss``, ``val_acc`` (per epoch) and ``test_acc``.

    Example:
        >>> from optuna_rlnas.child import Architecture, ChildModule, ChildNet, LayerSpec
        >>> net = ChildNet(Architecture((LayerSpec(24, 3, 3),)), in_channels=1, num_classes=10)
        >>> module = ChildModule(net, TrainingConfig(epochs=1))
        >>> module.hparams.learning_rate
        0.1
    """

    # Kept in ``__dict__`` (see ``__init__``); declared here for the type checker.
    _compiled: Callable[[torch.Tensor], torch.Tensor] | None

    def __init__(self, net: nn.Module, config: TrainingConfig | None = None) -> None:
        super().__init__()
        self.config = TrainingConfig() if config is None else config
        if self.config.channels_last:
            # Module.to takes memory_format (documented), but torch's overloads omit it.
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.net = net
        # The compiled wrapper shares the network's parameters; kept out of the module's
        # children so that the state_dict holds each weight once, under ``net.``.
        self.__dict__["_compiled"] = torch.compile(net) if self.config.compile else None
        self.save_hyperparameters(vars(self.config))
        # Per stage ("train", "val", "test"): sums over the epoch, logged once at its end. The
        # values are the batch-size-weighted means that per-step ``self.log(..., on_epoch=True)``
        # gave, but a ``self.log`` call per step costs Lightning more than a small child's step
        # (docs/throughput.md).
        self._totals: dict[str, _StageTotals] = {}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        net = self.net if self._compiled is None else self._compiled
        logits: torch.Tensor = net(images)
        return logits

    def _accumulate(
        self, stage: str, loss: torch.Tensor, logits: torch.Tensor | None, labels: torch.Tensor
    ) -> None:
        totals = self._totals.get(stage)
        if totals is None:
            totals = self._totals[stage] = _StageTotals(loss.new_zeros(()), loss.new_zeros(()))
        totals.loss_sum += loss.detach() * len(labels)
        if logits is not None:  # every stage but "train"
            totals.correct += (logits.detach().argmax(dim=1) == labels).sum()
        totals.count += len(labels)

    def _log_epoch(self, stage: str) -> None:
        totals = self._totals.pop(stage, None)
        if totals is None or totals.count == 0:
            return
        self.log(f"{stage}_loss", totals.loss_sum / totals.count)
        if stage != "train":
            self.log(f"{stage}_acc", totals.correct / totals.count)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = F.cross_entropy(self(images), labels, label_smoothing=self.config.label_smoothing)
        self._accumulate("train", loss, None, labels)
        return loss

    def _evaluate(self, batch: Batch, prefix: str) -> None:
        images, labels = batch
        logits = self(images)
        self._accumulate(prefix, F.cross_entropy(logits, labels), logits, labels)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_train_epoch_start(self) -> None:
        self._totals.pop("train", None)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_start(self) -> None:
        self._totals.pop("val", None)  # drops the sanity check's and an interrupted epoch's sums

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_start(self) -> None:
        self._totals.pop("test", None)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self) -> OptimizerLRScheduler:
        c = self.config
        optimizer: torch.optim.Optimizer
        if c.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                self.parameters(),
                lr=c.learning_rate,
                momentum=c.momentum,
                weight_decay=c.weight_decay,
                nesterov=c.momentum > 0,
            )
        elif c.optimizer == "adamw":
            optimizer = torch.optim.AdamW(
                self.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay
            )
        else:
            optimizer = torch.optim.Adam(
                self.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay
            )
        if not c.cosine_schedule:
            return optimizer
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class EpochHistory(pl.Callback):
    """Records ``monitor`` after every validation epoch (sanity checks excluded)."""

    def __init__(self, monitor: str = "val_acc") -> None:
        self.monitor = monitor
        self.values: list[float] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None:
            self.values.append(float(value))


def resolve_precision(config: TrainingConfig) -> str:
    """``config.precision``, or mixed precision on CUDA and 32-bit elsewhere."""
    return config.resolved_precision()


def quiet_lightning() -> None:
    """Silence Lightning's per-run banners and the small-data warnings a search would repeat."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (
        r".*does not have many workers.*",
        r".*number of training batches.*is smaller than the logging interval.*",
        r".*GPU available but not used.*",
        r".*LeafSpec.*",
        r".*defined a `validation_step` but have no `val_dataloader`.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


def make_trainer(
    config: TrainingConfig, callbacks: Iterable[pl.Callback] = (), **overrides: Any
) -> pl.Trainer:
    """A quiet Trainer for one child: no logger, no checkpoints, no progress bar.

    ``overrides`` are further ``pl.Trainer`` arguments, which win over these defaults.
    """
    quiet_lightning()
    device = config.device()
    kwargs: dict[str, Any] = dict(
        max_epochs=config.epochs,
        accelerator=device.type,
        devices=[device.index] if device.type == "cuda" else 1,
        precision=config.resolved_precision(),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=list(callbacks),
    )
    kwargs.update(overrides)
    return pl.Trainer(**kwargs)


@overload
def run_trainer(trainer: pl.Trainer, method: Literal["fit"], *args: Any, **kwargs: Any) -> None: ...


@overload
def run_trainer(
    trainer: pl.Trainer, method: Literal["test"], *args: Any, **kwargs: Any
) -> list[Mapping[str, float]]: ...


def run_trainer(
    trainer: pl.Trainer, method: Literal["fit", "test"], *args: Any, **kwargs: Any
) -> list[Mapping[str, float]] | None:
    """``trainer.fit`` / ``trainer.test`` that lets Ctrl-C through as ``KeyboardInterrupt``.

    Lightning answers Ctrl-C by ignoring SIGINT and calling ``sys.exit(1)``; a search must
    instead stop cleanly and keep its finished trials, so the handler is restored and the
    interrupt re-raised.
    """
    in_main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if in_main else None
    try:
        if method == "fit":
            trainer.fit(*args, **kwargs)
            return None
        return trainer.test(*args, **kwargs)
    except SystemExit as exc:
        if trainer.interrupted:
            raise KeyboardInterrupt from exc
        raise
    finally:
        if in_main and handler is not None:
            signal.signal(signal.SIGINT, handler)
