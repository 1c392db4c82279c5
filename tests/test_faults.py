"""Faults: objectives that raise or return NaN, inf or None, a child out of memory, a worker
killed with SIGKILL mid-trial, PostgreSQL restarted mid-study. The study goes on and no finished
trial is lost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import torch
from _worker import last_json
from _worker import spawn
from optuna.trial import TrialState

from optuna_rlnas import RLNASSampler
from optuna_rlnas import UpdateConfig
from optuna_rlnas.storage import make_storage
from optuna_rlnas.storage import worker_states

SECRET = "rlnas"  # the test server's password, which must never be printed


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def choose(trial: optuna.Trial) -> float:
    return float(trial.suggest_categorical("a", [0, 1, 2]) + trial.suggest_int("b", 0, 3))


def sampler() -> RLNASSampler:
    return RLNASSampler(seed=0, update=UpdateConfig(trials_per_update=2))


# --- objectives that fail ----------------------------------------------------------------------


def test_objective_that_raises_fails_its_trial_and_the_study_goes_on() -> None:
    def objective(trial: optuna.Trial) -> float:
        value = choose(trial)
        if trial.number % 3 == 1:
            raise ValueError(f"child {trial.number} diverged")
        return value

    s = sampler()
    study = optuna.create_study(sampler=s, direction="maximize")
    study.optimize(objective, n_trials=12, catch=(ValueError,))
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 4 and states.count(TrialState.COMPLETE) == 8
    assert s.consume(study) == 12  # FAIL trials are consumed, never learned from
    assert s.n_updates == 4  # 8 rewards / 2 per update
    assert all(torch.isfinite(p).all() for p in s.controller.parameters())


def test_nan_inf_and_none_values_never_reach_the_controller() -> None:
    values = [1.0, float("nan"), 2.0, float("inf"), None, float("-inf"), 3.0, 4.0]

    def objective(trial: optuna.Trial) -> float | None:
        choose(trial)
        return values[trial.number]

    s = sampler()
    study = optuna.create_study(sampler=s, direction="maximize")
    study.optimize(objective, n_trials=len(values))
    states = [t.state for t in study.trials]
    # Optuna: NaN and None fail the trial; +-inf complete. The sampler learns from finite ones.
    assert states.count(TrialState.FAIL) == 2 and states.count(TrialState.COMPLETE) == 6
    assert s.consume(study) == 8
    assert s.n_updates == 2  # rewards 1, 2, 3, 4: two updates of 2
    assert s.baseline is not None and abs(s.baseline) < 10
    assert all(torch.isfinite(p).all() for p in s.controller.parameters())


def test_child_out_of_memory_fails_its_trial_with_the_allocator_message(caplog) -> None:
    def objective(trial: optuna.Trial) -> float:
        value = choose(trial)
        if trial.number == 2:  # a child far too big: a real allocation failure, 1 EiB
            torch.empty(2**60, dtype=torch.uint8)
        return value

    s = sampler()
    study = optuna.create_study(sampler=s, direction="maximize")
    optuna.logging.enable_propagation()  # Optuna's logger does not propagate by default
    try:
        with caplog.at_level("WARNING", logger="optuna"):
            study.optimize(objective, n_trials=6, catch=(RuntimeError,))
    finally:
        optuna.logging.disable_propagation()
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 5
    assert study.trials[2].state == TrialState.FAIL
    assert "can't allocate memory" in caplog.text and "Trial 2 failed" in caplog.text
    assert s.consume(study) == 6


# --- processes and servers ---------------------------------------------------------------------


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.postgres
@pytest.mark.slow
def test_worker_killed_mid_trial_is_failed_by_heartbeat_and_retried(
    postgres_url: str, study_name: str, tmp_path: Path
) -> None:
    storage = make_storage(postgres_url, heartbeat_interval=1, grace_period=3)
    optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    heartbeat = ("--heartbeat-interval", "1", "--grace-period", "3")
    marker = tmp_path / "hanging-trial"
    doomed = spawn(
        postgres_url, study_name, "--seed", "0", "--hang-marker", str(marker), *heartbeat
    )
    wait_for(marker.exists, 120, "the doomed worker's trial")
    time.sleep(0.5)  # let its number be written and a heartbeat be recorded
    killed_number = int(marker.read_text())
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    assert doomed.returncode == -signal.SIGKILL

    study = optuna.load_study(study_name=study_name, storage=storage)
    assert study.trials[killed_number].state == TrialState.RUNNING  # nobody told it
    survivor = spawn(
        postgres_url,
        study_name,
        *("--seed", "1", "--complete", "12", "--sleep", "0.5", "--worker-id", "survivor"),
        *("--finish-timeout", "60"),
        *heartbeat,
    )
    state = last_json(survivor, timeout=300)

    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials()
    killed = trials[killed_number]
    assert killed.state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed_number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params  # the same child, run again
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 12  # the trials asked for
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert state["complete"] and state["n_consumed"] == len(trials)  # 12 COMPLETE + 1 FAIL


def _local_cluster() -> list[str] | None:
    """``pg_ctlcluster VERSION main restart`` for the local server, if this user may run it."""
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        return None
    if os.geteuid() != 0:
        return None
    lines = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    online = [line.split() for line in lines.splitlines() if "online" in line]
    if len(online) != 1:
        return None
    version, cluster = online[0][:2]
    return ["pg_ctlcluster", version, cluster, "restart"]


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_restart_mid_study_loses_no_finished_trial(
    postgres_url: str, study_name: str
) -> None:
    restart = _local_cluster()
    if restart is None or "127.0.0.1" not in postgres_url and "localhost" not in postgres_url:
        pytest.skip("needs a local PostgreSQL cluster this user can restart (root, pg_ctlcluster)")
    storage = make_storage(postgres_url, heartbeat_interval=1, grace_period=3)
    optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    target = ("--complete", "40", "--expect", "40", "--finish-timeout", "60")
    heartbeat = ("--heartbeat-interval", "1", "--grace-period", "3")
    first = spawn(postgres_url, study_name, "--seed", "0", "--sleep", "0.2", *target, *heartbeat)

    def complete() -> list[int]:
        study = optuna.load_study(study_name=study_name, storage=storage)
        return [t.number for t in study.get_trials(states=(TrialState.COMPLETE,))]

    wait_for(lambda: len(complete()) >= 10, 180, "10 complete trials")
    before = complete()
    subprocess.run(restart, check=True, timeout=120)
    out, err = first.communicate(timeout=300)
    # The worker rides out the restart (optuna_rlnas.storage.optimize): a clear warning if a
    # query failed, never the password, and it finishes its trials.
    assert first.returncode == 0, err[-3000:]
    assert f":{SECRET}@" not in err
    if "Lost the database" in err:
        assert "is back; going on" in err

    study = optuna.load_study(study_name=study_name, storage=make_storage(postgres_url))
    trials = study.get_trials()
    after = [t.number for t in trials if t.state == TrialState.COMPLETE]
    assert set(before) <= set(after)  # no finished trial lost
    assert len(after) == 40
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert all(s["n_consumed"] == len(trials) for s in worker_states(study).values())
