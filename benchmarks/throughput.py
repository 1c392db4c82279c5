"""Child-training throughput: the project's Lightning path against a plain PyTorch loop (issue 4).

    python -m benchmarks.throughput --device cpu --threads 1 --epochs 2 --repeats 3 --subset 2048

One fixed child (4 layers from the paper's space, one skip connection) is trained on the same
data (Fashion-MNIST 28x28 when Debian's files are there, else scikit-learn's 8x8 digits), with
the same batch size, optimizer (Adam, cosine learning rate per step), epochs and initial weights
(the trial's seed), by two paths:

* ``lightning``: the search's own objective, :func:`optuna_rlnas.child.make_objective`, called
  on a trial of an in-memory study whose parameters are enqueued to give the fixed child. So
  this is exactly what a search runs per trial: ``make_trainer``'s settings, the
  ``EpochHistory`` and pruning callbacks, ``ChildModule``'s logging, per-epoch validation.
* ``plain``: a hand-written loop on the same ``DataLoader`` objects (the data module's), the same
  optimizer and scheduler, training then validation every epoch (loss and accuracy accumulated
  as tensors, read once per epoch, as the pruning callback reads ``val_acc``).

The runs alternate (lightning first on even repeats, plain first on odd ones) after one
untimed 1-epoch warm-up of each. Throughput is training images per second of wall time of the
whole per-trial work (network built, trained and validated every epoch): ``epochs * train
images / seconds``; the validation passes are in the seconds, not in the image count. The table
gives the median per path and the ratio of the medians, Lightning over plain. On CUDA both
paths use the same mixed precision (``resolve_precision``: bf16 where supported, else fp16 with
a gradient scaler), and the clock stops after ``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import optuna
import torch
import torch.nn.functional as F

from optuna_rlnas._naming import layer_param
from optuna_rlnas._naming import skip_param
from optuna_rlnas.child import Architecture
from optuna_rlnas.child import ChildNet
from optuna_rlnas.child import CNNSearchSpace
from optuna_rlnas.child import DatasetNotFoundError
from optuna_rlnas.child import DigitsDataModule
from optuna_rlnas.child import FashionMNISTDataModule
from optuna_rlnas.child import LayerSpec
from optuna_rlnas.child import RewardConfig
from optuna_rlnas.child import TrainingConfig
from optuna_rlnas.child import make_objective
from optuna_rlnas.child._lightning import pl
from optuna_rlnas.child._lightning import resolve_precision
from optuna_rlnas.child._objective import trial_seed

SEED = 0
BATCH_SIZE = 64

# 4 layers from the paper's choices (Sec. 4.1); layer 3 reads layers 1 and 2 (a skip connection).
ARCHITECTURE = Architecture(
    (
        LayerSpec(24, 3, 3),
        LayerSpec(36, 3, 3, 2, 2, inputs=(0,)),
        LayerSpec(48, 5, 5, inputs=(1,)),
        LayerSpec(48, 3, 3, inputs=(1, 2)),
    )
)
SPACE = CNNSearchSpace(num_layers=ARCHITECTURE.depth)


def architecture_params(architecture: Architecture, space: CNNSearchSpace) -> dict:
    """The trial parameters under which ``suggest_architecture`` builds ``architecture``."""
    params: dict = {}
    for i, spec in enumerate(architecture.layers):
        for j in range(i):
            params[skip_param(i, j)] = j in spec.inputs
        fields = {
            "filter_height": space.filter_sizes,
            "filter_width": space.filter_sizes,
            "stride_height": space.strides,
            "stride_width": space.strides,
            "filters": space.filters,
            "activation": space.activations,
        }
        for field, choices in fields.items():
            if len(choices) > 1:
                params[layer_param(i, field)] = getattr(spec, field)
    return params


def make_datamodule(subset: int, val_size: int, dataset: str = "auto"):
    """Fashion-MNIST (``auto``: when its files are there), else digits (at most 288 validation)."""
    kwargs = dict(train_subset=subset, batch_size=BATCH_SIZE, seed=SEED)
    datamodule = None
    if dataset in ("auto", "fashion-mnist"):
        datamodule = FashionMNISTDataModule(val_size=val_size, **kwargs)
        try:
            datamodule.prepare_data()
        except DatasetNotFoundError:
            if dataset == "fashion-mnist":
                raise
            datamodule = None
    if datamodule is None:
        datamodule = DigitsDataModule(val_size=min(val_size, 288), **kwargs)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Wall and CPU seconds of this process (CPU time is steadier on a shared machine)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        _synchronize(device)
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        _synchronize(self.device)
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_lightning(datamodule, training: TrainingConfig, device: torch.device):
    """The search's objective on a fresh trial (number 0) for the fixed child.

    Returns wall seconds, CPU seconds and the reward (the last epoch's ``val_acc``).
    """
    objective = make_objective(datamodule, space=SPACE, training=training, seed=SEED,
                               reward=RewardConfig(last_epochs=1, aggregate="last"))
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(architecture_params(ARCHITECTURE, SPACE))
    trial = study.ask()
    clock = Clock(device)
    value = objective(trial)
    seconds = clock.stop()
    built = trial.user_attrs["architecture"]
    study.tell(trial, value)
    if built != str(ARCHITECTURE):
        raise RuntimeError(f"the objective built {built}, not the benchmark's child.")
    return (*seconds, value)


def _precision_context(precision: str, device: torch.device):
    """Autocast and a gradient scaler matching Lightning's ``precision`` setting."""
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16), None
    if precision == "16-mixed":
        return torch.autocast(device.type, dtype=torch.float16), torch.amp.GradScaler(device.type)
    if precision in ("32-true", "32"):
        return torch.autocast(device.type, enabled=False), None
    raise ValueError(f"the plain loop does not implement precision {precision!r}.")


def run_plain(datamodule, training: TrainingConfig, device: torch.device):
    """A plain PyTorch loop, same seed, data loaders, optimizer and schedule.

    Returns wall seconds, CPU seconds and the last epoch's validation accuracy.
    """
    precision = resolve_precision(training)
    clock = Clock(device)
    pl.seed_everything(trial_seed(SEED, optuna.trial.FixedTrial({}, number=0)), workers=True,
                       verbose=False)
    net = ChildNet(ARCHITECTURE, in_channels=datamodule.in_channels,
                   num_classes=datamodule.num_classes, image_size=datamodule.image_size).to(device)
    train_loader = datamodule.train_dataloader()
    val_loader = datamodule.val_dataloader()
    optimizer = torch.optim.Adam(net.parameters(), lr=training.learning_rate,
                                 weight_decay=training.weight_decay)
    steps = max(1, training.epochs * len(train_loader))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    autocast, scaler = _precision_context(precision, device)
    val_acc = float("nan")
    for _ in range(training.epochs):
        net.train()
        loss_sum = torch.zeros((), device=device)
        for images, labels in train_loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            with autocast:
                loss = F.cross_entropy(net(images), labels)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            schedule.step()
            loss_sum += loss.detach() * len(labels)  # the epoch's train_loss, as Lightning logs it
        net.eval()
        correct = torch.zeros((), device=device)
        seen = 0
        with torch.inference_mode(), autocast:
            for images, labels in val_loader:
                images = images.to(device, non_blocking=True)
                labels = labels.to(device, non_blocking=True)
                logits = net(images)
                F.cross_entropy(logits, labels)  # val_loss, computed as the module does
                correct += (logits.argmax(dim=1) == labels).sum()
                seen += len(labels)
        val_acc = float(correct) / max(1, seen)  # read once per epoch, like the pruning callback
    return (*clock.stop(), val_acc)


PATHS = {"lightning": run_lightning, "plain": run_plain}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available.")
    return torch.device(name)


def describe_machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("auto", "fashion-mnist", "digits"), default="auto",
                        help="auto: Fashion-MNIST when its files are there, else digits")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subset", type=int, default=2048, help="training images [2048]")
    parser.add_argument("--val-size", type=int, default=512, help="validation images [512]")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads [1]")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1 or args.subset < 1 or args.threads < 1:
        parser.error("--epochs, --repeats, --subset and --threads must be >= 1.")

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    device = resolve_device(args.device)
    accelerator = "cuda" if device.type == "cuda" else "cpu"
    training = TrainingConfig(epochs=args.epochs, accelerator=accelerator)
    datamodule = make_datamodule(args.subset, args.val_size, args.dataset)
    n_train = len(datamodule.train_set)
    print(f"device: {device.type}, {describe_machine(device)}; precision "
          f"{resolve_precision(training)}; torch {torch.__version__}, lightning {pl.__version__}, "
          f"torch threads {torch.get_num_threads()}")
    n_params = ChildNet(ARCHITECTURE, in_channels=datamodule.in_channels,
                        num_classes=datamodule.num_classes).num_parameters
    print(f"data: {datamodule.describe()}, batch {BATCH_SIZE}; epochs {args.epochs}; "
          f"child: {ARCHITECTURE} ({n_params} parameters)")
    sys.stdout.flush()

    if not args.no_warmup:
        warm = TrainingConfig(epochs=1, accelerator=accelerator)
        for run in PATHS.values():
            run(datamodule, warm, device)

    images = args.epochs * n_train
    rates: dict[str, list[float]] = {name: [] for name in PATHS}
    cpu_rates: dict[str, list[float]] = {name: [] for name in PATHS}
    scores: dict[str, list[float]] = {name: [] for name in PATHS}
    for repeat in range(args.repeats):
        order = ("lightning", "plain") if repeat % 2 == 0 else ("plain", "lightning")
        for name in order:
            wall, cpu, score = PATHS[name](datamodule, training, device)
            rates[name].append(images / wall)
            cpu_rates[name].append(images / cpu)
            scores[name].append(score)
            print(f"  repeat {repeat}: {name:9s} {wall:7.2f} s wall {cpu:7.2f} s CPU  "
                  f"{rates[name][-1]:8.1f} images/s  val_acc {score:.4f}")
            sys.stdout.flush()
    if torch.get_num_threads() != args.threads:
        print(f"warning: the thread count changed to {torch.get_num_threads()} during the runs")

    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu_rates.items()}
    print()
    print("| path | images/s (median) | runs (images/s) | images per CPU-second (median) "
          "| val_acc (last run) |")
    print("|---|---:|---|---:|---:|")
    for name in PATHS:
        runs = ", ".join(f"{r:.1f}" for r in rates[name])
        print(f"| {name} | {medians[name]:.1f} | {runs} | {cpu_medians[name]:.1f} "
              f"| {scores[name][-1]:.4f} |")
    ratio = medians["lightning"] / medians["plain"]
    cpu_ratio = cpu_medians["lightning"] / cpu_medians["plain"]
    print()
    print(f"ratio lightning/plain: {ratio:.3f} (images/s, medians); "
          f"{cpu_ratio:.3f} per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
