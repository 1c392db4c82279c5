"""Many worker processes on one PostgreSQL study: every trial once, every controller all trials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from optuna_rlnas import worker_states
from optuna_rlnas.storage import make_storage

WORKER = str(Path(__file__).with_name("_worker.py"))
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def start_worker(url: str, study: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    command = [sys.executable, WORKER, "--url", url, "--study", study, *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def wait(worker: subprocess.Popen, timeout: float = 300) -> str:
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, f"worker failed ({worker.returncode}):\n{err[-3000:]}"
    return out


def test_four_workers_fifty_trials_each(postgres_url: str, study_name: str) -> None:
    optuna.create_study(study_name=study_name, storage=make_storage(postgres_url))
    workers = [
        start_worker(
            postgres_url,
            study_name,
            *("--seed", str(i), "--n-trials", "50", "--expect", "200", "--worker-id", f"w{i}"),
        )
        for i in range(4)
    ]
    printed = [json.loads(wait(w).splitlines()[-1]) for w in workers]

    study = optuna.load_study(study_name=study_name, storage=make_storage(postgres_url))
    trials = study.get_trials()
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(200))  # no duplicated or missing trial numbers
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert all("rlnas:trial" in t.system_attrs for t in trials)
    states = worker_states(study)
    assert sorted(states) == ["w0", "w1", "w2", "w3"]
    for worker_id, state in states.items():
        assert state["n_consumed"] == 200, (worker_id, state)
        assert state["n_updates"] == 200 // 4  # trials_per_update=4 in the worker
    assert all(p["complete"] for p in printed)
