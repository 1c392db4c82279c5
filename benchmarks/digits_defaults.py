"""The README's main job on digits, with the old and the new training defaults.

    python -m benchmarks.digits_defaults --seeds 5 --trials 20 --epochs 3

Each seed runs the search of ``rlnas search --n-trials 20 --epochs 3 --seed S --study-seed S``
(``RLNASSampler(seed=S, reward_fn=paper_reward)``, no pruner, the paper's 6-layer space,
``make_objective`` on ``DigitsDataModule``), once with the recipe before issue 12 (Adam, learning
rate 0.003, batch 64) and once with today's defaults (SGD with Nesterov momentum, learning rate
0.1, batch 32), and prints the best validation accuracy and the wall time of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import optuna
import torch

from optuna_rlnas import RLNASSampler
from optuna_rlnas import paper_reward
from optuna_rlnas.child import CNNSearchSpace
from optuna_rlnas.child import DigitsDataModule
from optuna_rlnas.child import TrainingConfig
from optuna_rlnas.child import make_objective

RECIPES = {
    "before (Adam 0.003, batch 64)": (dict(optimizer="adam", learning_rate=3e-3), 64),
    "now (SGD Nesterov 0.1, batch 32)": (dict(), 32),
}


def search(recipe: dict, batch_size: int, seed: int, trials: int, epochs: int):
    """Best validation accuracy and wall seconds of one README-like search."""
    start = time.perf_counter()
    objective = make_objective(DigitsDataModule(seed=seed, batch_size=batch_size),
                               space=CNNSearchSpace(),
                               training=TrainingConfig(epochs=epochs, **recipe), seed=seed)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner(),
                                sampler=RLNASSampler(seed=seed, reward_fn=paper_reward))
    study.optimize(objective, n_trials=trials)
    return max(t.user_attrs["val_acc"] for t in study.trials), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.digits_defaults",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in RECIPES}
    for seed in range(args.seeds):
        for name, (recipe, batch) in RECIPES.items():
            best, seconds = search(recipe, batch, seed, args.trials, args.epochs)
            results[name].append((best, seconds))
            print(f"  seed {seed}: {name}: best validation accuracy {best:.4f}, {seconds:.1f} s",
                  flush=True)
    print()
    print("| recipe | best validation accuracy per seed | mean | seeds >= 0.98 | wall s (mean) |")
    print("|---|---|---:|---:|---:|")
    for name, rows in results.items():
        accs = [a for a, _ in rows]
        print(f"| {name} | {', '.join(f'{a:.4f}' for a in accs)} | {statistics.fmean(accs):.4f} "
              f"| {sum(a >= 0.98 for a in accs)}/{len(accs)} "
              f"| {statistics.fmean(s for _, s in rows):.1f} |")
    before, now = (statistics.fmean(s for _, s in rows) for rows in results.values())
    print(f"\nratio of wall time now / before: {now / before:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
