"""Many worker processes on one PostgreSQL study: every trial once, every controller all trials;
``rlnas search`` workers started together share one setting and draw apart; a plain
``postgresql://`` URL opens in Optuna and optuna-dashboard."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import optuna
import pytest
from _worker import last_json
from _worker import spawn

from optuna_rlnas.cli import CONFIG_ATTR
from optuna_rlnas.storage import make_storage
from optuna_rlnas.storage import worker_states

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TINY = ["--epochs", "1", "--num-layers", "2", "--train-subset", "64", "--dashboard-every", "0"]


def test_four_workers_fifty_trials_each(postgres_url: str, study_name: str) -> None:
    optuna.create_study(
        study_name=study_name, storage=make_storage(postgres_url), direction="maximize"
    )
    workers = [
        spawn(
            postgres_url,
            study_name,
            *("--seed", str(i), "--n-trials", "50", "--expect", "200", "--worker-id", f"w{i}"),
        )
        for i in range(4)
    ]
    printed = [last_json(w) for w in workers]

    study = optuna.load_study(study_name=study_name, storage=make_storage(postgres_url))
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
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


def _rlnas() -> list[str]:
    script = shutil.which("rlnas")
    return [script] if script else [sys.executable, "-m", "optuna_rlnas.cli"]


@pytest.mark.parametrize("seeded", [True, False], ids=["with --seed", "without --seed"])
def test_four_rlnas_search_workers_started_together(
    postgres_url: str, study_name: str, seeded: bool, tmp_path
) -> None:
    # As a job array starts them: at the same moment, on a study nobody has created yet, each
    # with its index as --seed (or none). One setting must win, and be the one all train with.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(
            [
                *_rlnas(),
                "search",
                *("--storage", postgres_url, "--study-name", study_name, "--n-trials", "2"),
                *TINY,
                *(("--seed", str(index)) if seeded else ()),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        for index in range(4)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=900)
        assert worker.returncode == 0, err[-3000:]
        assert "Traceback" not in err

    study = optuna.load_study(study_name=study_name, storage=postgres_url)
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    settings = study.user_attrs[CONFIG_ATTR]
    assert settings["epochs"] == 1 and settings["train_subset"] == 64
    # One data split: every child trained with the study's seed, on one split.
    assert {t.user_attrs["seed"] - t.number for t in trials} == {settings["study_seed"]}
    assert len({t.user_attrs["data_split"] for t in trials}) == 1
    # Four workers, four sampler seeds, four different sequences of children.
    by_worker: dict[str, list] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        by_worker.setdefault(trial.user_attrs["worker"], []).append(trial)
    assert len(by_worker) == 4
    sequences = {repr([t.params for t in ts]) for ts in by_worker.values()}
    assert len(sequences) == 4  # no two workers drew the same children
    seeds = {w: {t.user_attrs["sampler_seed"] for t in ts} for w, ts in by_worker.items()}
    assert all(len(s) == 1 for s in seeds.values())
    assert len({next(iter(s)) for s in seeds.values()}) == 4
    if seeded:
        assert {next(iter(s)) for s in seeds.values()} == {0, 1, 2, 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_plain_postgresql_url_opens_in_optuna_and_optuna_dashboard(
    postgres_url: str, study_name: str
) -> None:
    import sqlalchemy

    assert postgres_url.startswith("postgresql://")  # no +driver: SQLAlchemy's default one
    assert sqlalchemy.create_engine(postgres_url).dialect.driver == "psycopg"  # psycopg 3
    study = optuna.create_study(
        study_name=study_name, storage=make_storage(postgres_url), direction="maximize"
    )
    study.add_trial(optuna.trial.create_trial(value=0.5))
    loaded = optuna.load_study(study_name=study_name, storage=postgres_url)  # a user's code
    assert [t.value for t in loaded.trials] == [0.5]

    dashboard = shutil.which("optuna-dashboard")
    assert dashboard, "optuna-dashboard is not installed (the dashboard extra)"
    port = _free_port()
    process = subprocess.Popen(
        [dashboard, postgres_url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        from test_cli import dashboard_studies

        assert study_name in dashboard_studies(process, port)
    finally:
        process.terminate()
        process.communicate(timeout=60)


def test_settings_insert_has_one_winner_on_postgres(postgres_url: str, study_name: str) -> None:
    from test_cli import _race_for_settings

    _race_for_settings(postgres_url, study_name, n=16)
