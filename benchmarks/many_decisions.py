"""Many decisions in one trial: time and peak memory of RLNASSampler against random search.

    python -m benchmarks.many_decisions --decisions 2000 --trials 5

Each sampler runs in a fresh process (the same imports, torch and optuna_rlnas included; only
the sampler differs) on one objective of ``--decisions`` categorical decisions (4 choices each,
named ``layer_i/op``). Prints the seconds of each trial (sampling and Optuna's bookkeeping; the
objective is trivial), the process's peak resident memory, and RLNAS's ratios to random search.
With ``--trials`` above ``trials_per_update`` (4) the controller also makes an update over
children of that length. Uses only the public API, so it runs against any version of the
package on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CHOICES = ("conv3x3", "conv5x5", "pool", "skip")


def worker(sampler_name: str, decisions: int, trials: int) -> dict:
    import optuna
    import torch

    from optuna_rlnas import RLNASSampler

    torch.set_num_threads(1)  # the sampler's own cost, not thread contention on a shared machine
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler_name == "rlnas":
        sampler: optuna.samplers.BaseSampler = RLNASSampler(seed=0)
    else:
        sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        ops = [trial.suggest_categorical(f"layer_{i}/op", CHOICES) for i in range(decisions)]
        return float(sum(op == "conv3x3" for op in ops))

    seconds, cpu = [], []
    for _ in range(trials):
        start, start_cpu = time.perf_counter(), time.process_time()
        study.optimize(objective, n_trials=1)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"sampler": sampler_name, "seconds": seconds, "cpu": cpu, "peak_mb": peak_kb / 1024}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--worker", choices=("rlnas", "random"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.decisions, args.trials)))
        return
    results = {}
    for name in ("random", "rlnas"):
        command = [sys.executable, "-m", "benchmarks.many_decisions", "--worker", name,
                   "--decisions", str(args.decisions), "--trials", str(args.trials)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[name] = json.loads(done.stdout.splitlines()[-1])
    import optuna_rlnas

    print(f"{args.decisions} categorical decisions per trial, {args.trials} trials; "
          f"optuna_rlnas from {os.path.dirname(optuna_rlnas.__file__)}; load average "
          f"{os.getloadavg()[0]:.1f} (shared machine)")
    print("| sampler | first trial s (CPU s) | later trials s | peak RSS MB |\n|---|---|---|---|")
    for name, r in results.items():
        later = ", ".join(f"{s:.2f}" for s in r["seconds"][1:])
        first = f"{r['seconds'][0]:.2f} ({r['cpu'][0]:.2f})"
        print(f"| {name} | {first} | {later} | {r['peak_mb']:.0f} |")
    rl, rnd = results["rlnas"], results["random"]
    print(f"rlnas / random: first trial {rl['seconds'][0] / rnd['seconds'][0]:.1f}x "
          f"(CPU {rl['cpu'][0] / rnd['cpu'][0]:.1f}x), all trials "
          f"{sum(rl['seconds']) / sum(rnd['seconds']):.1f}x, "
          f"peak memory {rl['peak_mb'] / rnd['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
