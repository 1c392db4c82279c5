"""Images per second of typical children in the final training, against their FLOP floor.

    python -m benchmarks.gpu_throughput --device cuda              # on a GPU machine
    python -m benchmarks.gpu_throughput --device cpu --train-images 2048 --epochs 1

For each child (three from the paper's space and the hand-written baseline CNN) and each
configuration (precision, ``channels_last``, ``torch.compile``), the final phase's own training
(``_final.train_net``: Lightning, the data kept on the device as tensors, augmentation, SGD) runs
``--epochs`` epochs after a 1-epoch warm-up, and the table gives:

* **images/s**: training images per wall second (the clock stops after a CUDA synchronise);
* **GFLOP/image**: forward FLOPs of the convolutions and the linear layer (2 per multiply-add),
  times 3 for a training step (forward, and backward to inputs and to weights);
* **floor**: the seconds those FLOPs take at the device's peak, per epoch; **of peak**: floor
  over measured time, the fraction of the peak the step reaches. Low means the step waits on
  something other than arithmetic: Python and kernel launches for small children, memory for
  the elementwise layers (batch norm, activations, concatenations).

The peak is the datasheet's dense bf16 (or fp32) figure for known GPUs, else the speed of a large
matrix product measured here in the same precision (``--peak-tflops`` overrides both).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from benchmarks.baseline_cnn import BaselineCNN
from optuna_rlnas.child import FINAL_TRAINING
from optuna_rlnas.child import Architecture
from optuna_rlnas.child import ChildNet
from optuna_rlnas.child import DatasetNotFoundError
from optuna_rlnas.child import FashionMNISTDataModule
from optuna_rlnas.child import ImageDataModule
from optuna_rlnas.child import LayerSpec as L
from optuna_rlnas.child._final import train_net
from optuna_rlnas.child._lightning import pl

# Dense tensor-core peaks from the datasheets, TFLOP/s: (bf16, fp32 without TF32).
PEAKS = {"H200": (989.0, 67.0), "H100": (989.0, 67.0), "A100": (312.0, 19.5),
         "L40S": (362.0, 91.6), "L4": (121.0, 30.3), "A10": (125.0, 31.2)}

CHILDREN = {
    "paper 4L (throughput.py's)": Architecture(
        (L(24, 3, 3), L(36, 3, 3, 2, 2, inputs=(0,)), L(48, 5, 5, inputs=(1,)),
         L(48, 3, 3, inputs=(1, 2)))
    ),
    "paper 6L 64@3x3 s1, skips": Architecture(
        tuple(L(64, 3, 3, inputs=tuple(range(max(0, i - 2), i))) for i in range(6))
    ),
    "paper 6L strided 32-64": Architecture(
        (L(32, 3, 3), L(48, 3, 3, 2, 2, inputs=(0,)), L(64, 3, 3, inputs=(1,)),
         L(64, 3, 3, 2, 2, inputs=(2,)), L(64, 3, 3, inputs=(3,)), L(64, 3, 3, inputs=(3, 4)))
    ),
}


CONFIGS = ("32-true", "bf16-mixed", "bf16-mixed+cl", "bf16-mixed+cl+compile")


class SyntheticDataModule(ImageDataModule):
    """Random 28x28 grey images: throughput does not depend on the pixels."""

    name = "synthetic 28x28"
    mean, std = (0.5,), (0.29,)

    def __init__(self, n_train: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_train = n_train

    def _load(self):
        rng = np.random.default_rng(0)
        n = self.n_train + 1000
        x = rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n)
        return x, y, x[:1000], y[:1000]


def count_flops(net: nn.Module, image_shape: tuple[int, ...]) -> int:
    """Forward FLOPs per image of the convolutions and linear layers (2 per multiply-add)."""
    total = 0

    def conv(module: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        macs = output[0].numel() * (module.in_channels // module.groups) * kh * kw
        total += 2 * macs

    def linear(module: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += 2 * module.in_features * module.out_features

    hooks = [m.register_forward_hook(conv) for m in net.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear) for m in net.modules() if isinstance(m, nn.Linear)]
    with torch.inference_mode():
        net.eval()(torch.zeros(1, *image_shape))
    for hook in hooks:
        hook.remove()
    return total


def peak_tflops(device: torch.device, precision: str, given: float | None) -> tuple[float, str]:
    """The device's peak in ``precision``: given, from the datasheet, or a measured GEMM."""
    if given:
        return given, "given"
    bf16 = precision.startswith("bf16")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, (b, f) in PEAKS.items():
            if key in name:
                return (b if bf16 else f), f"{key} datasheet"
    n = 4096 if device.type == "cuda" else 1024
    dtype = torch.bfloat16 if bf16 else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ a
    _sync(device)
    start, repeats = time.perf_counter(), 20 if device.type == "cuda" else 5
    for _ in range(repeats):
        a @ a
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12, f"measured {n}^3 GEMM"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def datamodule_for(args) -> ImageDataModule:
    kwargs = dict(train_subset=args.train_images, val_size=1000, batch_size=args.batch_size,
                  augment=True)
    dm: ImageDataModule = FashionMNISTDataModule(**kwargs)
    try:
        dm.prepare_data()
    except DatasetNotFoundError:
        dm = SyntheticDataModule(args.train_images or 54_000, **kwargs)
    dm.setup("fit")
    return dm


def measure(make_net, dm, training, epochs: int) -> float:
    """Seconds per epoch of the final training, after a 1-epoch warm-up (and compilation)."""
    pl.seed_everything(0, verbose=False)
    train_net(make_net(), dm, replace(training, epochs=1))
    pl.seed_everything(0, verbose=False)
    _, seconds = train_net(make_net(), dm, replace(training, epochs=epochs))
    return seconds / epochs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_throughput",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--device-index", type=int, default=0)
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="precision[+cl][+compile], comma-separated")
    parser.add_argument("--children", default="all", help="'all' or indices, e.g. 0,3")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-images", type=int, default=None, help="[all of Fashion-MNIST]")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--peak-tflops", type=float, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available (use --device cpu).")
    device = torch.device(args.device, args.device_index if args.device == "cuda" else None)
    dm = datamodule_for(args)
    dm.to_device(device)
    shape = (dm.in_channels, *dm.image_size)
    nets = {name: (lambda a=a: ChildNet(a, in_channels=1, num_classes=10, image_size=(28, 28)))
            for name, a in CHILDREN.items()}
    nets["baseline CNN (3 conv)"] = lambda: BaselineCNN(1, 10)
    names = list(nets)
    if args.children != "all":
        names = [names[int(i)] for i in args.children.split(",")]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {torch.get_num_threads()} threads")
    print(f"device: {where}; torch {torch.__version__}; data {dm.describe()}, batch "
          f"{args.batch_size}; {args.epochs} timed epochs after a warm-up epoch")
    print()
    print("| child | params | GFLOP/image (train) | config | images/s | s/epoch | floor s/epoch "
          "| of peak |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    n_train = len(dm.train_set)
    for config in args.configs.split(","):
        precision, *flags = config.split("+")
        training = replace(FINAL_TRAINING, accelerator=device.type,
                           device_index=args.device_index if device.type == "cuda" else None,
                           precision=precision, channels_last="cl" in flags,
                           compile="compile" in flags)
        peak, source = peak_tflops(device, precision, args.peak_tflops)
        for name in names:
            net = nets[name]()
            flops = 3 * count_flops(net, shape)
            try:
                epoch_s = measure(nets[name], dm, training, args.epochs)
            except Exception as exc:  # a configuration this machine cannot run: say why
                print(f"| {name} | {net.num_parameters} | {flops / 1e9:.3f} | {config} "
                      f"| failed: {type(exc).__name__}: {str(exc)[:80]} | | | |")
                continue
            floor = flops * n_train / (peak * 1e12)
            print(f"| {name} | {net.num_parameters} | {flops / 1e9:.3f} | {config} "
                  f"| {n_train / epoch_s:.0f} | {epoch_s:.2f} | {floor:.3f} "
                  f"| {100 * floor / epoch_s:.1f}% |", flush=True)
        print(f"(peak for {config}: {peak * 1000:.4g} GFLOP/s, {source})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
