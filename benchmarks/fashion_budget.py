"""Fashion-MNIST within a wall-clock budget: the search's model against random search and the
hand-written baseline CNN, all trained the same final way.

    python -m benchmarks.fashion_budget --budget 2h                      # the full comparison
    python -m benchmarks.fashion_budget --budget 10m --train-subset 6000 # a small end-to-end run

Runs, one after another, unattended:

1. ``rlnas run --dataset fashion-mnist --budget B`` with the RL sampler: search on the proxy,
   retrain the finalists, test the chosen one (the documented command, in a subprocess);
2. the same command with ``--sampler random``: random search with the same budget;
3. the baseline CNN (``benchmarks/baseline_cnn.py``) trained with the final recipe
   (``FINAL_TRAINING``, the same augmentation, precision and memory format) on the same training
   split, for the epochs that fit one finalist's time share of the budget, then tested.

and prints one table (test accuracy, validation accuracy, epochs, parameters, wall seconds) with
the ratios to the baseline. Every run is a study in one SQLite file in ``--folder``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks.baseline_cnn import BaselineCNN
from optuna_rlnas.child import FINAL_TRAINING
from optuna_rlnas.child import BudgetPlan
from optuna_rlnas.child import evaluate
from optuna_rlnas.child import make_datamodule
from optuna_rlnas.child._budget import parse_duration
from optuna_rlnas.child._final import seconds_per_step
from optuna_rlnas.child._final import train_net
from optuna_rlnas.child._lightning import pl

ROOT = Path(__file__).resolve().parents[1]


def run_command(sampler: str, args, folder: Path) -> dict:
    """``rlnas run`` in a subprocess; its printed result and saved model's metadata."""
    out = folder / f"model-{sampler}"
    command = [sys.executable, "-m", "optuna_rlnas.cli", "run", "--dataset", "fashion-mnist",
               "--budget", args.budget, "--sampler", sampler, "--seed", str(args.seed),
               "--storage", f"sqlite:///{folder / 'fashion.db'}", "--study-name", sampler,
               "--out", str(out), *args.run_args]
    if args.train_subset:
        command += ["--train-subset", str(args.train_subset)]
    print("$ " + " ".join(command[2:]), flush=True)
    start = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lines = []
    with open(folder / f"run-{sampler}.log", "w") as log:  # followed live: tail -f
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            log.write(line)
            log.flush()
            lines.append(line)
            if line.startswith(("|", "where", "chosen", "finalist")):
                print("  " + line, end="", flush=True)
    wall = time.monotonic() - start
    if process.wait() != 0:
        raise SystemExit(f"rlnas run --sampler {sampler} failed:\n{''.join(lines[-30:])}")
    meta = json.loads((out / "model.json").read_text())
    trials = re.search(r"search: (\d+) trials", "".join(lines))
    return {"test_acc": meta["test_acc"], "val_acc": meta["val_acc"], "epochs": meta["epochs"],
            "params": meta["n_params"], "wall": wall,
            "note": f"{trials.group(1) if trials else '?'} search trials"}


def run_baseline(args, share_s: float, precision: str | None, channels_last: bool) -> dict:
    """The baseline CNN, final recipe, epochs fitted to one finalist's share."""
    dm = make_datamodule("fashion-mnist", None, val_size=5000, seed=args.seed, batch_size=128,
                         augment=True, train_subset=args.train_subset or None)
    dm.prepare_data()
    dm.setup("fit")
    training = replace(FINAL_TRAINING, precision=precision, channels_last=channels_last)
    start = time.monotonic()
    step_s = seconds_per_step(lambda: BaselineCNN(1, 10), dm, training)
    epoch_s = step_s * len(dm.train_dataloader())
    left = share_s - (time.monotonic() - start)
    epochs = BudgetPlan(parse_duration(args.budget)).epochs_for(left, epoch_s)
    print(f"baseline CNN: {epoch_s:.1f} s per epoch measured, {epochs} epochs in {share_s:.0f} s",
          flush=True)
    pl.seed_everything(args.seed, verbose=False)
    net, _ = train_net(BaselineCNN(1, 10), dm, replace(training, epochs=epochs))
    val_acc = evaluate(net, dm.val_dataloader())
    test_acc = evaluate(net, dm.test_dataloader())
    return {"test_acc": test_acc, "val_acc": val_acc, "epochs": epochs,
            "params": sum(p.numel() for p in net.parameters()),
            "wall": time.monotonic() - start, "note": f"{share_s:.0f} s share, no search"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fashion_budget",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="2h", help="per search run [2h]")
    parser.add_argument("--train-subset", type=int, default=0, help="[0: all 55,000 images]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", default="fashion-budget", help="[%(default)s]")
    parser.add_argument("--skip", default="", help="comma-separated: rlnas,random,baseline")
    parser.add_argument("--run-args", nargs=argparse.REMAINDER, default=[],
                        help="more options for rlnas run, e.g. --finalists 1")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "fashion.db").exists():
        raise SystemExit(f"{folder}/fashion.db exists: give another --folder.")
    skip = set(filter(None, args.skip.split(",")))
    plan = BudgetPlan(parse_duration(args.budget))
    share = (plan.total_s * (1 - plan.search_fraction) - plan.reserve) / plan.finalists
    fast_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    precision = None if torch.cuda.is_available() else ("bf16-mixed" if fast_bf16 else "32-true")
    print(f"budget {args.budget} per search run; load average {os.getloadavg()[0]:.1f}; torch "
          f"threads {torch.get_num_threads()}", flush=True)
    results = {}
    if "rlnas" not in skip:
        results["rlnas run, RL sampler"] = run_command("rlnas", args, folder)
    if "random" not in skip:
        results["rlnas run, random search"] = run_command("random", args, folder)
    if "baseline" not in skip:
        results["baseline CNN, final recipe"] = run_baseline(args, share, precision, True)
    print()
    print("| method | test accuracy | validation accuracy | final epochs | parameters "
          "| wall s | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        print(f"| {name} | {r['test_acc']:.4f} | {r['val_acc']:.4f} | {r['epochs']} "
              f"| {r['params']} | {r['wall']:.0f} | {r['note']} |")
    base = results.get("baseline CNN, final recipe")
    if base:
        for name, r in results.items():
            if r is not base:
                ratio = r["test_acc"] / base["test_acc"]
                print(f"ratio test accuracy {name} / baseline: {ratio:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
