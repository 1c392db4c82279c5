"""Many worker processes on one PostgreSQL study: every trial once, every controller all trials."""

from __future__ import annotations

import optuna
import pytest
from _worker import last_json
from _worker import spawn

from optuna_rlnas.storage import make_storage
from optuna_rlnas.storage import worker_states

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_four_workers_fifty_trials_each(postgres_url: str, study_name: str) -> None:
    optuna.create_study(study_name=study_name, storage=make_storage(postgres_url))
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
