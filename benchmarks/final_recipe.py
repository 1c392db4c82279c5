"""What the final training reaches: a good child of the paper's space and the baseline CNN,
trained for N epochs on a Fashion-MNIST training subset with variants of the final recipe.

    python -m benchmarks.final_recipe --train-subset 10000 --epochs 15

Recipes (all SGD with Nesterov momentum 0.9, cosine schedule per step, batch 128):

* ``final``: ``FINAL_TRAINING`` as ``rlnas run`` uses it (learning rate 0.1, weight decay 5e-4,
  label smoothing 0.1) with the dataset's augmentation (shift by up to 2 pixels, flip);
* ``no smoothing``: the same without label smoothing;
* ``no augmentation``: the same without augmentation.

Prints validation (5,000 held-out training images) and test accuracy (the 10,000 test images)
and the wall time of each run, with the precision and memory format ``rlnas run`` picks here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

import torch

from benchmarks.baseline_cnn import BaselineCNN
from benchmarks.gpu_throughput import CHILDREN
from optuna_rlnas.child import FINAL_TRAINING
from optuna_rlnas.child import ChildNet
from optuna_rlnas.child import evaluate
from optuna_rlnas.child import make_datamodule
from optuna_rlnas.child._final import train_net
from optuna_rlnas.child._lightning import pl

RECIPES = {
    "final": ({}, True),
    "no smoothing": ({"label_smoothing": 0.0}, True),
    "no augmentation": ({}, False),
}
GOOD_CHILD = "paper 6L 64, s2 at L2 and L4, skips"


def nets() -> dict:
    from optuna_rlnas.child import Architecture
    from optuna_rlnas.child import LayerSpec as L

    good = Architecture(
        (L(64, 3, 3), L(64, 3, 3, inputs=(0,)), L(64, 3, 3, 2, 2, inputs=(0, 1)),
         L(64, 3, 3, inputs=(2,)), L(64, 3, 3, 2, 2, inputs=(2, 3)), L(64, 3, 3, inputs=(4,)))
    )
    found = {GOOD_CHILD: good, "paper 6L strided 32-64": CHILDREN["paper 6L strided 32-64"]}
    table = {name: (lambda a=a: ChildNet(a, in_channels=1, num_classes=10, image_size=(28, 28)))
             for name, a in found.items()}
    table["baseline CNN (3 conv)"] = lambda: BaselineCNN(1, 10)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.final_recipe",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-subset", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--nets", default="all", help="'all' or indices")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    fast_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    precision = None if torch.cuda.is_available() else ("bf16-mixed" if fast_bf16 else "32-true")
    table = nets()
    names = list(table) if args.nets == "all" else [list(table)[int(i)] for i in
                                                     args.nets.split(",")]
    print(f"Fashion-MNIST, {args.train_subset} training images, {args.epochs} epochs; precision "
          f"{precision or 'auto'}, channels_last; torch threads {torch.get_num_threads()}, load "
          f"average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for recipe in args.recipes.split(","):
        options, augment = RECIPES[recipe]
        dm = make_datamodule("fashion-mnist", None, val_size=5000, seed=args.seed,
                             batch_size=128, augment=augment, train_subset=args.train_subset)
        dm.prepare_data()
        dm.setup("fit")
        training = replace(FINAL_TRAINING, epochs=args.epochs, precision=precision,
                           channels_last=True, **options)
        for name in names:
            pl.seed_everything(args.seed, verbose=False)
            start = time.monotonic()
            net, _ = train_net(table[name](), dm, training)
            val, test = evaluate(net, dm.val_dataloader()), evaluate(net, dm.test_dataloader())
            rows.append((name, recipe, val, test, time.monotonic() - start))
            print(f"  {name}, {recipe}: validation {val:.4f}, test {test:.4f}, "
                  f"{rows[-1][-1]:.0f} s", flush=True)
    print()
    print("| network | recipe | validation accuracy | test accuracy | wall s |")
    print("|---|---|---:|---:|---:|")
    for name, recipe, val, test, seconds in rows:
        print(f"| {name} | {recipe} | {val:.4f} | {test:.4f} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
