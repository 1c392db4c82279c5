"""The ``rlnas`` command: end to end on digits, Ctrl-C, and every kind of bad input."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import optuna
import pytest

from optuna_rlnas.cli import CONFIG_ATTR
from optuna_rlnas.cli import SEARCH_DEFAULTS
from optuna_rlnas.cli import main
from optuna_rlnas.cli import mask_url

SMALL = ["--epochs", "1", "--num-layers", "2", "--train-subset", "200"]


def _command() -> list[str]:
    script = shutil.which("rlnas")  # the console script, when the package is installed
    return [script] if script else [sys.executable, "-m", "optuna_rlnas.cli"]


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _snapshot(url: str) -> list[tuple]:
    return [
        (s.study_name, s.n_trials, tuple(sorted(s.user_attrs.items(), key=str)))
        for s in optuna.get_all_study_summaries(url)
    ]


@pytest.fixture
def study_url(tmp_path) -> str:
    """An SQLite file holding the study 'rlnas', made by Optuna directly (no training)."""
    url = f"sqlite:///{tmp_path / 'existing.db'}"
    study = optuna.create_study(storage=url, study_name="rlnas", direction="maximize")
    study.set_user_attr(CONFIG_ATTR, dict(SEARCH_DEFAULTS))
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"architecture": "x"}))
    return url


def test_mask_url_hides_passwords() -> None:
    assert mask_url("postgresql://u:secret@host/db") == "postgresql://u:***@host/db"
    assert mask_url("weird://u:secret@[bad") == "weird://u:***@[bad"


@pytest.mark.slow
def test_search_end_to_end_on_digits_with_two_trials(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'rlnas.db'}"
    result = subprocess.run(
        [*_command(), "search", "--n-trials", "2", "--storage", url, *SMALL],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="rlnas", storage=url)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 2
    assert all("architecture_json" in t.user_attrs for t in trials)
    assert all("rlnas:log_prob" in t.user_attrs for t in trials)  # the RL sampler chose them
    assert "best architecture" in result.stdout and "rlnas dashboard" in result.stdout
    assert "Traceback" not in result.stderr

    # A second process joins the same study and takes its settings.
    rc, out, err = _run(["search", "--n-trials", "1", "--storage", url, "--sampler", "tpe"], capsys)
    assert rc == 0, err
    assert len(optuna.load_study(study_name="rlnas", storage=url).trials) == 3

    rc, out, err = _run(["best", "--storage", url, "--epochs", "1"], capsys)
    assert rc == 0, err
    assert "test accuracy" in out and "on 359 test images" in out


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_finished_trials(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'rlnas.db'}"
    process = subprocess.Popen(
        [
            *_command(),
            "search",
            "--n-trials",
            "100000",  # never reached: children on digits take well under a second each
            "--storage",
            url,
            "--sampler",
            "random",
            *SMALL,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 300
    complete = []
    while time.monotonic() < deadline and not complete:
        time.sleep(1)
        if os.path.exists(tmp_path / "rlnas.db"):
            try:
                study = optuna.load_study(study_name="rlnas", storage=url)
                complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
            except Exception:  # the study is being created
                pass
    assert complete, "no trial finished in time"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "the finished trials are kept" in out
    trials = optuna.load_study(study_name="rlnas", storage=url).trials
    states = {t.state for t in trials}
    assert optuna.trial.TrialState.RUNNING not in states
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) >= len(complete)


BAD_ARGS = {
    "unknown dataset": (["search", "--dataset", "mnist"], "invalid choice: 'mnist'"),
    "missing folder": (
        ["search", "--dataset", "fashion-mnist", "--data-dir", "/no/such/folder"],
        "Fashion-MNIST not found in /no/such/folder",
    ),
    "missing cifar folder": (["search", "--dataset", "cifar10"], "CIFAR-10 needs a data folder"),
    "malformed storage URL": (["search", "--storage", "not a url"], "malformed storage URL"),
    "unknown database": (
        ["search", "--storage", "nosuchdb://user:hunter2@host/db"],
        "unknown database 'nosuchdb'",
    ),
    "sqlite folder missing": (
        ["search", "--storage", "sqlite:////no/such/folder/x.db"],
        "does not exist",
    ),
    "bad strides": (["search", "--strides", "1,x"], "--strides must be comma-separated"),
    "zero trials": (["search", "--n-trials", "0"], "must be a positive integer"),
    "cost without target": (["search", "--cost", "params"], "--cost needs --target"),
    "best without database": (["best", "--storage", "sqlite:///absent.db"], "no database at"),
    "dashboard malformed URL": (["dashboard", "--storage", "::"], "malformed storage URL"),
}


@pytest.mark.parametrize("args, message", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_arguments_give_one_line_and_touch_nothing(
    args, message, tmp_path, capsys, monkeypatch, study_url
) -> None:
    monkeypatch.chdir(tmp_path)
    before = _snapshot(study_url)
    files = sorted(os.listdir(tmp_path))
    rc, out, err = _run(args, capsys)
    assert rc == 2
    assert err.startswith("rlnas: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "hunter2" not in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == files  # no database file was created
    assert _snapshot(study_url) == before


def test_joining_a_study_with_other_settings_is_refused(study_url, capsys) -> None:
    before = _snapshot(study_url)
    rc, out, err = _run(["search", "--storage", study_url, "--epochs", "3"], capsys)
    assert rc == 2
    assert "was started with other settings: --epochs 3 (study has 5)" in err
    assert _snapshot(study_url) == before


def test_best_and_dashboard_on_missing_study(study_url, capsys) -> None:
    rc, _, err = _run(["best", "--storage", study_url, "--study-name", "other"], capsys)
    assert rc == 2 and "no study named 'other'" in err and "studies there: rlnas" in err
    rc, _, err = _run(["best", "--storage", study_url], capsys)
    assert rc == 2 and "records no architecture" in err


def test_no_command_prints_help(capsys) -> None:
    rc, _, err = _run([], capsys)
    assert rc == 2 and "search" in err


@pytest.mark.slow
def test_dashboard_serves_the_study_on_loopback(study_url, tmp_path) -> None:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [*_command(), "dashboard", "--storage", study_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/studies"
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(1)
        assert '"study_name": "rlnas"' in body or '"study_name":"rlnas"' in body
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
