"""Child-training throughput: the project's Lightning paths against a plain PyTorch loop.

    python -m benchmarks.throughput --device cpu --threads 1 --epochs 2 --repeats 3 --subset 2048

One fixed child (4 layers from the paper's space, one skip connection) is trained on the same
data (Fashion-MNIST 28x28 when Debian's files are there, else scikit-learn's 8x8 digits), with
the same batches (the data module's ``TensorLoader``: same seed, same order, same augmentation),
optimizer (SGD with Nesterov momentum, cosine learning rate per step), epochs, precision, memory
format and initial weights, by two recipes and two paths each:

* recipe ``search``: what a search runs per trial. ``lightning`` is the search's own objective,
  :func:`optuna_rlnas.child.make_objective`, on a trial whose parameters are enqueued to give the
  fixed child (``make_trainer``, the reward and pruning callbacks, ``ChildModule``'s logging,
  validation after every epoch); ``plain`` is a hand-written loop that also validates every epoch.
* recipe ``final``: what ``rlnas run``'s final phase runs (``FINAL_TRAINING``: label smoothing,
  the dataset's augmentation, no validation until the end). ``lightning`` is
  ``_final.train_child`` then ``evaluate``; ``plain`` is a hand-written loop then ``evaluate``.

The runs alternate (lightning first on even repeats, plain first on odd ones) after one untimed
1-epoch warm-up of each. Throughput is ``epochs * training images / wall seconds`` of the whole
per-child work (network built, trained, validated); the table gives the median per path and the
ratio of the medians, Lightning over plain. On CUDA the clock stops after
``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from dataclasses import replace

import optuna
import torch
import torch.nn.functional as F

from optuna_rlnas._naming import layer_param
from optuna_rlnas._naming import skip_param
from optuna_rlnas.child import FINAL_TRAINING
from optuna_rlnas.child import Architecture
from optuna_rlnas.child import ChildNet
from optuna_rlnas.child import CNNSearchSpace
from optuna_rlnas.child import DatasetNotFoundError
from optuna_rlnas.child import DigitsDataModule
from optuna_rlnas.child import FashionMNISTDataModule
from optuna_rlnas.child import LayerSpec
from optuna_rlnas.child import RewardConfig
from optuna_rlnas.child import TrainingConfig
from optuna_rlnas.child import evaluate
from optuna_rlnas.child import make_objective
from optuna_rlnas.child import trial_architecture
from optuna_rlnas.child._final import train_child
from optuna_rlnas.child._lightning import pl
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


def make_datamodule(subset: int, val_size: int, dataset: str = "auto", augment: bool = False):
    """Fashion-MNIST (``auto``: when its files are there), else digits (at most 288 validation)."""
    kwargs = dict(train_subset=subset, batch_size=BATCH_SIZE, seed=SEED, augment=augment)
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


def lightning_search(datamodule, training: TrainingConfig, device: torch.device):
    """The search's objective on a fresh trial (number 0) for the fixed child.

    Returns wall seconds, CPU seconds and the last epoch's ``val_acc``.
    """
    objective = make_objective(datamodule, space=SPACE, training=training, seed=SEED,
                               reward=RewardConfig(last_epochs=1, aggregate="last"))
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(architecture_params(ARCHITECTURE, SPACE))
    trial = study.ask()
    clock = Clock(device)
    value = objective(trial)
    seconds = clock.stop()
    study.tell(trial, value)
    built = trial_architecture(study.trials[-1])
    if built != ARCHITECTURE:
        raise RuntimeError(f"the objective built {built}, not the benchmark's child.")
    return (*seconds, value)


def lightning_final(datamodule, training: TrainingConfig, device: torch.device):
    """``rlnas run``'s final training of the fixed child, then its validation accuracy."""
    clock = Clock(device)
    net, _ = train_child(ARCHITECTURE, datamodule, training, seed=SEED)
    val_acc = evaluate(net, datamodule.val_dataloader())
    return (*clock.stop(), val_acc)


def _autocast(precision: str, device: torch.device):
    """Autocast matching Lightning's ``precision`` setting (no fp16 scaler: bf16 or 32-bit)."""
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision in ("32-true", "32"):
        return contextlib.nullcontext()
    raise ValueError(f"the plain loop does not implement precision {precision!r}.")


def _plain(datamodule, training: TrainingConfig, device: torch.device, validate_each: bool):
    precision = training.resolved_precision()
    clock = Clock(device)
    seed = trial_seed(SEED, optuna.trial.FixedTrial({}, number=0))
    pl.seed_everything(seed, workers=True, verbose=False)
    net = ChildNet(ARCHITECTURE, in_channels=datamodule.in_channels,
                   num_classes=datamodule.num_classes, image_size=datamodule.image_size).to(device)
    if training.channels_last:
        net = net.to(memory_format=torch.channels_last)
    train_loader = datamodule.train_dataloader()
    optimizer = torch.optim.SGD(net.parameters(), lr=training.learning_rate,
                                momentum=training.momentum, weight_decay=training.weight_decay,
                                nesterov=True)
    steps = max(1, training.epochs * len(train_loader))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    val_acc = float("nan")
    for _ in range(training.epochs):
        net.train()
        loss_sum = torch.zeros((), device=device)
        for images, labels in train_loader:
            if training.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with _autocast(precision, device):
                logits = net(images)
                loss = F.cross_entropy(logits, labels, label_smoothing=training.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach() * len(labels)  # the epoch's train_loss, as Lightning logs it
        if validate_each:
            val_acc = _plain_validation(net, datamodule, precision, device)
    if not validate_each:
        val_acc = evaluate(net, datamodule.val_dataloader())
    return (*clock.stop(), val_acc)


def _plain_validation(net, datamodule, precision: str, device: torch.device) -> float:
    # As the module validates: loss and accuracy accumulated as tensors, read once per epoch.
    net.eval()
    correct = torch.zeros((), device=device)
    seen = 0
    with torch.inference_mode(), _autocast(precision, device):
        for images, labels in datamodule.val_dataloader():
            logits = net(images)
            F.cross_entropy(logits, labels)  # val_loss, computed as the module does
            correct += (logits.argmax(dim=1) == labels).sum()
            seen += len(labels)
    return float(correct) / max(1, seen)


def plain_search(datamodule, training, device):
    """A plain loop that validates after every epoch, as the search's trials do."""
    return _plain(datamodule, training, device, validate_each=True)


def plain_final(datamodule, training, device):
    """A plain loop that validates once at the end, as the final phase does."""
    return _plain(datamodule, training, device, validate_each=False)


RECIPES = {
    "search": {"lightning": lightning_search, "plain": plain_search},
    "final": {"lightning": lightning_final, "plain": plain_final},
}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available.")
    return torch.device(name)


def describe_machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
            f"load average {load:.1f}")


def training_for(recipe: str, args, accelerator: str) -> TrainingConfig:
    device = dict(accelerator=accelerator, channels_last=args.channels_last,
                  precision=None if args.precision == "auto" else args.precision)
    if recipe == "final":
        return replace(FINAL_TRAINING, epochs=args.epochs, **device)
    return TrainingConfig(epochs=args.epochs, **device)


def measure(recipe: str, args, device: torch.device, accelerator: str) -> dict:
    """Median images/s per path of ``recipe``, with the runs, CPU rates and accuracies."""
    datamodule = make_datamodule(args.subset, args.val_size, args.dataset, recipe == "final")
    training = training_for(recipe, args, accelerator)
    paths = RECIPES[recipe]
    if not args.no_warmup:
        for run in paths.values():
            run(datamodule, replace(training, epochs=1), device)
    images = args.epochs * len(datamodule.train_set)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    cpu_rates: dict[str, list[float]] = {name: [] for name in paths}
    scores: dict[str, list[float]] = {name: [] for name in paths}
    for repeat in range(args.repeats):
        order = ("lightning", "plain") if repeat % 2 == 0 else ("plain", "lightning")
        for name in order:
            wall, cpu, score = paths[name](datamodule, training, device)
            rates[name].append(images / wall)
            cpu_rates[name].append(images / cpu)
            scores[name].append(score)
            print(f"  {recipe} repeat {repeat}: {name:9s} {wall:7.2f} s wall {cpu:7.2f} s CPU  "
                  f"{rates[name][-1]:8.1f} images/s  val_acc {score:.4f}")
            sys.stdout.flush()
    return {"rates": rates, "cpu_rates": cpu_rates, "scores": scores,
            "precision": training.resolved_precision()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("auto", "fashion-mnist", "digits"), default="auto",
                        help="auto: Fashion-MNIST when its files are there, else digits")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    parser.add_argument("--recipes", default="search,final", help="[search,final]")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subset", type=int, default=2048, help="training images [2048]")
    parser.add_argument("--val-size", type=int, default=512, help="validation images [512]")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads [1]")
    parser.add_argument("--precision", choices=("auto", "32-true", "bf16-mixed"), default="auto",
                        help="auto: bf16-mixed on CUDA, 32-true on a CPU")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1 or args.subset < 1 or args.threads < 1:
        parser.error("--epochs, --repeats, --subset and --threads must be >= 1.")
    recipes = args.recipes.split(",")
    if not set(recipes) <= set(RECIPES):
        parser.error(f"--recipes must be among {sorted(RECIPES)}, but got {args.recipes!r}.")

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    device = resolve_device(args.device)
    accelerator = "cuda" if device.type == "cuda" else "cpu"
    probe = make_datamodule(args.subset, args.val_size, args.dataset)
    n_params = ChildNet(ARCHITECTURE, in_channels=probe.in_channels,
                        num_classes=probe.num_classes).num_parameters
    print(f"device: {device.type}, {describe_machine(device)}; torch {torch.__version__}, "
          f"lightning {pl.__version__}, torch threads {torch.get_num_threads()}")
    print(f"data: {probe.describe()}, batch {BATCH_SIZE}; epochs {args.epochs}; "
          f"channels_last {args.channels_last}; child: {ARCHITECTURE} ({n_params} parameters)")
    sys.stdout.flush()
    results = {recipe: measure(recipe, args, device, accelerator) for recipe in recipes}
    if torch.get_num_threads() != args.threads:
        print(f"warning: the thread count changed to {torch.get_num_threads()} during the runs")

    print()
    print("| recipe | path | precision | images/s (median) | runs (images/s) "
          "| images per CPU-second (median) | val_acc (last run) |")
    print("|---|---|---|---:|---|---:|---:|")
    for recipe, result in results.items():
        for name in RECIPES[recipe]:
            rates = result["rates"][name]
            runs = ", ".join(f"{r:.1f}" for r in rates)
            print(f"| {recipe} | {name} | {result['precision']} | {statistics.median(rates):.1f} "
                  f"| {runs} | {statistics.median(result['cpu_rates'][name]):.1f} "
                  f"| {result['scores'][name][-1]:.4f} |")
    print()
    for recipe, result in results.items():
        medians = {n: statistics.median(v) for n, v in result["rates"].items()}
        cpu = {n: statistics.median(v) for n, v in result["cpu_rates"].items()}
        print(f"ratio {recipe} lightning/plain: {medians['lightning'] / medians['plain']:.3f} "
              f"(images/s, medians); {cpu['lightning'] / cpu['plain']:.3f} per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
