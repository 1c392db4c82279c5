"""``rlnas run`` (budgeted search, final phase, saved model), ``rlnas best --out``, and the
search options this branch adds (curriculum, constraints, devices, the reward with a cost)."""

from __future__ import annotations

import json
import os
import re
import signal

import optuna
import pytest
from _reload import reload_test_acc
from optuna.trial import TrialState

from optuna_rlnas import cli
from optuna_rlnas._cli_common import make_sampler
from optuna_rlnas.child._budget import BudgetPlan
from optuna_rlnas.child._budget import parse_duration


@pytest.mark.slow
def test_run_searches_retrains_tests_and_hands_the_model_over(tmp_path, capsys) -> None:
    from optuna.artifacts import get_all_artifact_meta

    storage = f"sqlite:///{tmp_path / 'run.db'}"
    status = cli.main(
        [
            "run",
            "--budget",
            "50s",
            "--storage",
            storage,
            "--search-epochs",
            "2",
            "--out",
            str(tmp_path / "model"),
            "--max-epochs",
            "8",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    rows = dict(re.findall(r"^\| (.+?) \| (\d+) \| [\d.]+% \|$", out, re.M))
    assert any(k.startswith("search: ") for k in rows)
    assert any(k.startswith("finalist: search trial") for k in rows)
    assert "test (once, the chosen finalist)" in rows
    assert int(rows["total, wall clock"]) <= 1.2 * 50  # the budget, give or take an epoch
    # The model: its test accuracy as printed, as saved, and as a fresh process measures it.
    printed = float(re.search(r"test accuracy ([\d.]+) on 359 test images", out).group(1))
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert round(meta["test_acc"], 4) == printed
    assert reload_test_acc(tmp_path / "model") == meta["test_acc"]
    # The final phase is a study of its own; the chosen finalist carries the files.
    final = optuna.load_study(study_name="rlnas-final", storage=storage)
    chosen = [t for t in final.trials if "test_acc" in t.user_attrs]
    assert len(chosen) == 1 and chosen[0].user_attrs["test_acc"] == meta["test_acc"]
    metas = get_all_artifact_meta(chosen[0], storage=final._storage)
    assert {m.filename for m in metas} >= {"model.pt", "architecture.json", "architecture.svg"}
    assert (tmp_path / "run_artifacts").is_dir()  # beside the SQLite file, as the dashboard reads
    search = optuna.load_study(study_name="rlnas", storage=storage)
    assert chosen[0].user_attrs["source_trial"] in {t.number for t in search.trials}


class _CtrlCWhileCreating(optuna.samplers.RandomSampler):
    """Sends this process a real SIGINT while Optuna creates trial ``at`` (in storage, RUNNING,
    its objective not started): the race a Ctrl-C can land in."""

    def __init__(self, at: int) -> None:
        super().__init__(seed=0)
        self.at = at

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_in_run_leaves_no_trial_running(tmp_path, capsys, monkeypatch) -> None:
    from optuna_rlnas import _cli_run

    monkeypatch.setattr(_cli_run, "make_sampler", lambda name, seed: _CtrlCWhileCreating(at=1))
    storage = f"sqlite:///{tmp_path / 'run.db'}"
    args = ["run", "--storage", storage, "--search-epochs", "1", "--search-subset", "200"]
    assert cli.main(args) == 130
    out, err = capsys.readouterr()
    assert "interrupted: marked FAIL: rlnas #1; finished trials are kept" in out
    assert "rlnas: interrupted" in err
    trials = optuna.load_study(study_name="rlnas", storage=storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]


def test_run_refuses_an_existing_study_and_a_bad_budget(tmp_path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'run.db'}"
    optuna.create_study(storage=storage, study_name="taken")
    assert cli.main(["run", "--storage", storage, "--study-name", "taken"]) == 2
    assert "study 'taken' exists" in capsys.readouterr().err
    assert cli.main(["run", "--storage", storage, "--budget", "soon"]) == 2
    assert "a duration must look like 2h, 90m, 1h30m or 600s, but got 'soon'" in (
        capsys.readouterr().err
    )


def test_budget_durations_and_split() -> None:
    assert [parse_duration(t) for t in ("2h", "90m", "1h30m", "45s", "600")] == [
        7200,
        5400,
        5400,
        45,
        600,
    ]
    plan = BudgetPlan(7200)
    assert plan.search_s == pytest.approx(2520) and plan.reserve == 60
    assert plan.epochs_for(share_s=1000, epoch_s=90) == 11
    assert plan.epochs_for(share_s=10, epoch_s=90) == 1  # at least one
    assert plan.epochs_for(share_s=1e6, epoch_s=1) == plan.max_epochs
    assert not plan.augments(15) and plan.augments(30)  # augmentation pays on long schedules
    assert BudgetPlan(60, augment=True).augments(1) and not BudgetPlan(60, augment=False).augments(
        99
    )
    with pytest.raises(ValueError, match=r"search_fraction must be in \(0, 1\), but got 1.5"):
        BudgetPlan(60, search_fraction=1.5)


@pytest.mark.slow
def test_best_out_writes_the_model_files(tmp_path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'rlnas.db'}"
    search = [
        "search",
        "--storage",
        storage,
        "--n-trials",
        "1",
        "--epochs",
        "1",
        "--num-layers",
        "2",
        "--dashboard-every",
        "0",
    ]
    assert cli.main(search) == 0
    assert cli.main(["best", "--storage", storage, "--out", str(tmp_path / "best")]) == 0
    out = capsys.readouterr().out
    meta = json.loads((tmp_path / "best" / "model.json").read_text())
    assert f"test accuracy {meta['test_acc']:.4f} as saved" in out
    assert sorted(os.listdir(tmp_path / "best")) == sorted(
        ["model.pt", "architecture.json", "model.json", "model.pt2", "architecture.svg"]
    )
    assert reload_test_acc(tmp_path / "best") == meta["test_acc"]


def test_rl_sampler_with_a_cost_learns_from_the_mnasnet_reward_uncubed() -> None:
    # The value is ACC * (cost / T) ** -0.07 already; cubing it would cube the cost factor.
    for cost, expected in ((None, 0.5**3), ("params", 0.5)):
        sampler = make_sampler("rlnas", 0, cost)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.enqueue_trial({"x": 0})
        study.optimize(lambda t: 0.5 + 0 * t.suggest_int("x", 0, 1), n_trials=1)
        assert sampler.reward(study, study.trials[0]) == pytest.approx(expected)


def test_search_curriculum_grows_the_depth_over_the_trials(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'rlnas.db'}"
    args = [
        "search",
        "--storage",
        storage,
        "--n-trials",
        "4",
        "--epochs",
        "1",
        "--train-subset",
        "32",
        "--num-layers",
        "3",
        "--filters",
        "8",
        "--filter-sizes",
        "1,3",
        "--curriculum",
        "1",
        "--dashboard-every",
        "0",
        "--sampler",
        "random",
    ]
    assert cli.main(args) == 0
    study = optuna.load_study(study_name="rlnas", storage=storage)
    assert study.user_attrs["rlnas_config"]["curriculum"] == "1:2:2"  # 1 then 3, 2 trials each
    assert [t.user_attrs["depth"] for t in study.trials] == [1, 1, 3, 3]


def test_search_refuses_a_gpu_option_without_a_gpu(tmp_path, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    storage = f"sqlite:///{tmp_path / 'rlnas.db'}"
    assert cli.main(["search", "--storage", storage, "--device-index", "1"]) == 2
    err = capsys.readouterr().err
    assert "device_index=1 needs a CUDA GPU, but torch.cuda.is_available() is False" in err
    assert not (tmp_path / "rlnas.db").exists()  # refused before any storage was made
