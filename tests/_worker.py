"""A worker process for the multi-worker tests: ``python tests/_worker.py --url ... --study ...``.

It runs ``RLNASSampler`` on a fast synthetic objective against a shared study (riding out a
database restart with ``optuna_rlnas.storage.optimize``), then (unless ``--no-finish``) waits
for every trial to finish, consumes them and records its controller's state in the study
(``optuna_rlnas.storage.finish_worker``). Its last stdout line is that state as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import torch

from optuna_rlnas import RLNASSampler
from optuna_rlnas import UpdateConfig
from optuna_rlnas.storage import finish_worker
from optuna_rlnas.storage import make_storage
from optuna_rlnas.storage import mask_url
from optuna_rlnas.storage import optimize

WIDTHS = [8, 16, 32, 64]


def spawn(url: str, study: str, *args: str) -> subprocess.Popen:
    """Start this script as a worker process (one torch thread: the CI machine is small)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    command = [sys.executable, __file__, "--url", url, "--study", study, *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def last_json(worker: subprocess.Popen, timeout: float = 300) -> dict:
    """Wait for a worker that must succeed; its last stdout line, parsed."""
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, f"worker failed ({worker.returncode}):\n{err[-3000:]}"
    return json.loads(out.splitlines()[-1])


def make_objective(args: argparse.Namespace):
    def objective(trial: optuna.Trial) -> float | None:
        n = trial.suggest_int("num_layers", 1, 3)
        score = 0.0
        for i in range(n):
            width = trial.suggest_categorical(f"layer_{i}/width", WIDTHS)
            act = trial.suggest_categorical(f"layer_{i}/activation", ["relu", "tanh"])
            score += math.log2(width) / 6 + (0.1 if act == "relu" else 0.0)
        if args.hang_marker and not os.path.exists(args.hang_marker):
            with open(args.hang_marker, "w") as f:  # tell the test which trial hangs, then hang
                f.write(str(trial.number))
            time.sleep(3600)
        if args.sleep:
            time.sleep(args.sleep)
        return score / 3

    return objective


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-trials", type=int, default=None)
    parser.add_argument("--complete", type=int, default=None, help="stop at this many COMPLETE")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--hang-marker", default=None)
    parser.add_argument("--heartbeat-interval", type=int, default=30)
    parser.add_argument("--grace-period", type=int, default=120)
    parser.add_argument("--max-retry", type=int, default=3)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--finish-timeout", type=float, default=300.0)
    parser.add_argument("--expect", type=int, default=None, help="finished trials to wait for")
    parser.add_argument("--no-finish", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = make_storage(
        args.url,
        heartbeat_interval=args.heartbeat_interval,
        grace_period=args.grace_period,
        max_retry=args.max_retry,
    )
    sampler = RLNASSampler(seed=args.seed, update=UpdateConfig(trials_per_update=4))
    study = optuna.create_study(
        study_name=args.study,
        storage=storage,
        sampler=sampler,
        direction="maximize",
        load_if_exists=True,
    )
    callbacks = []
    if args.complete is not None:
        states = (optuna.trial.TrialState.COMPLETE,)
        callbacks.append(optuna.study.MaxTrialsCallback(args.complete, states=states))
    print(f"worker {args.worker_id} on {mask_url(args.url)}", file=sys.stderr, flush=True)
    optimize(study, make_objective(args), n_trials=args.n_trials, callbacks=callbacks, poll=1.0)
    if args.no_finish:
        print(json.dumps({"n_consumed": sampler.consume(study)}), flush=True)
        return
    state = finish_worker(
        study,
        sampler,
        n_finished=args.expect,
        worker_id=args.worker_id,
        timeout=args.finish_timeout,
    )
    print(json.dumps(state), flush=True)


if __name__ == "__main__":
    main()
