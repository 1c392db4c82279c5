"""The ``rlnas`` command end to end on digits: a search and a join, seeds, workers started
together, a killed worker, Ctrl-C, the dashboard. Every bad input and fault, each with its
message, is in ``tests/test_cli_errors.py`` (driven by the table in ``docs/cli.md``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from optuna_rlnas.child import trial_architecture
from optuna_rlnas.cli import CONFIG_ATTR
from optuna_rlnas.cli import SEARCH_DEFAULTS
from optuna_rlnas.cli import main

SMALL = ["--epochs", "1", "--num-layers", "2", "--train-subset", "200"]
TINY = ["--epochs", "1", "--num-layers", "2", "--train-subset", "64", "--dashboard-every", "0"]


def _command() -> list[str]:
    script = shutil.which("rlnas")  # the console script, when the package is installed
    return [script] if script else [sys.executable, "-m", "optuna_rlnas.cli"]


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen:
    # One torch thread: several workers share a small machine. faulthandler: a process that
    # must be killed (see _stop) prints every thread's stack.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen(
        [*_command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
        # As from a terminal: a process started with SIGINT ignored keeps ignoring it (Python
        # installs its Ctrl-C handler only over the default), and the test's own process may be
        # running with it ignored (pytest under a non-interactive shell's `&`, a CI runner).
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def dashboard_studies(process: subprocess.Popen, port: int, timeout: float = 120) -> str:
    """The body of a starting dashboard's ``/api/studies`` once it answers; fails the test if
    the process dies (with its stderr's end) or ``timeout`` seconds pass."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            url = f"http://127.0.0.1:{port}/api/studies"
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(1)


def _finish(process: subprocess.Popen, timeout: float = 600) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    return out


def _stop(process: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    """Ctrl-C, then its output; a process still alive after ``timeout`` s fails the test with
    its threads' stacks."""
    process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        err = process.communicate(timeout=60)[1]
        stacks = err.split("\nExtension modules:")[0]  # faulthandler's list of C modules follows
        pytest.fail(f"still running {timeout} s after Ctrl-C; its stacks:\n{stacks[-6000:]}")


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="rlnas", storage=url).get_trials()


def _by_worker(trials: list[optuna.trial.FrozenTrial]) -> dict[str, list[dict]]:
    """Each worker's sequence of drawn parameters, in trial order."""
    sequences: dict[str, list[dict]] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        sequences.setdefault(trial.user_attrs["worker"], []).append(trial.params)
    return sequences


@pytest.fixture
def study_url(tmp_path) -> str:
    """An SQLite file holding the study 'rlnas', made by Optuna directly (no training)."""
    url = f"sqlite:///{tmp_path / 'existing.db'}"
    study = optuna.create_study(storage=url, study_name="rlnas", direction="maximize")
    study.set_user_attr(CONFIG_ATTR, dict(SEARCH_DEFAULTS))
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"architecture": "x"}))
    return url


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
    trials = _trials(url)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for key in ("layer_0", "depth", "rlnas:log_prob", "sampler_seed", "worker", "data_split"):
        assert all(key in t.user_attrs for t in trials), key
    assert all(trial_architecture(t) is not None for t in trials)
    assert "best architecture" in result.stdout and "rlnas dashboard" in result.stdout
    assert "Traceback" not in result.stderr
    # One word per quantity: the accuracy is "validation accuracy", and "reward" is only ever
    # the controller's (the value cubed).
    assert "validation accuracy" in result.stdout
    assert set(re.findall(r"\w+ reward", result.stdout)) == {"controller reward"}
    best = max(trials, key=lambda t: t.value)
    assert f"controller reward {best.value**3:.4f}" in result.stdout

    # A second process joins the same study, says so, and takes its settings.
    rc, out, err = _run(["search", "--n-trials", "1", "--storage", url, "--sampler", "tpe"], capsys)
    assert rc == 0, err
    assert "joined study 'rlnas' with 2 trials (2 complete)" in out.splitlines()
    assert len(_trials(url)) == 3

    rc, out, err = _run(["best", "--storage", url, "--epochs", "1"], capsys)
    assert rc == 0, err
    assert "test accuracy" in out and "on 359 test images" in out
    study = optuna.load_study(study_name="rlnas", storage=url)
    assert f"best trial #{study.best_trial.number} " in out

    # The reward model's recommendation (rebuilt from storage), or a trial by its number.
    from optuna_rlnas import recommended_trial

    chosen = recommended_trial(study)
    assert chosen is not None
    best_args = ["best", "--storage", url, "--epochs", "1", "--trial"]
    rc, out, err = _run([*best_args, "recommended"], capsys)
    assert rc == 0, err
    assert f"recommended trial #{chosen.number} " in out and "test accuracy" in out
    rc, out, err = _run([*best_args, "1"], capsys)
    assert rc == 0, err
    assert out.startswith("trial #1 ") and "test accuracy" in out


@pytest.mark.slow
def test_given_seed_repeats_the_draws_and_a_drawn_one_is_recorded(tmp_path, capsys) -> None:
    def search(name: str, *seed: str) -> list[optuna.trial.FrozenTrial]:
        url = f"sqlite:///{tmp_path / name}"
        rc, out, err = _run(["search", "--n-trials", "2", "--storage", url, *TINY, *seed], capsys)
        assert rc == 0, err
        return _trials(url)

    first, again = search("a.db", "--seed", "11"), search("b.db", "--seed", "11")
    assert [t.params for t in first] == [t.params for t in again]
    assert {t.user_attrs["sampler_seed"] for t in first} == {11}

    drawn = search("c.db")
    (seed,) = {t.user_attrs["sampler_seed"] for t in drawn}
    assert seed != 11
    assert [t.params for t in search("d.db", "--seed", str(seed))] == [t.params for t in drawn]
    assert [t.params for t in drawn] != [t.params for t in first]


@pytest.mark.slow
def test_workers_started_together_on_a_new_sqlite_file_share_settings_and_draw_apart(
    tmp_path,
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    workers = [
        _spawn(["search", "--n-trials", "2", "--storage", url, *TINY], tmp_path) for _ in range(3)
    ]
    for worker in workers:
        _finish(worker)
    study = optuna.load_study(study_name="rlnas", storage=url)
    trials = study.get_trials()
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    assert study.user_attrs[CONFIG_ATTR]["study_seed"] == 0
    assert {t.user_attrs["seed"] - t.number for t in trials} == {0}  # children: the study seed
    assert len({t.user_attrs["data_split"] for t in trials}) == 1  # one train/validation split
    sequences = _by_worker(trials)
    assert len(sequences) == 3
    assert len({repr(s) for s in sequences.values()}) == 3  # no two drew the same children
    assert len({t.user_attrs["sampler_seed"] for t in trials}) == 3  # seeds drawn per worker


@pytest.mark.slow
def test_killed_worker_is_reported_and_its_trial_retried(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    heartbeat = ["--heartbeat-interval", "1", "--grace-period", "3"]
    slow = ["--epochs", "3", "--num-layers", "2", "--train-subset", "300", "--dashboard-every", "0"]
    doomed = _spawn(["search", "--n-trials", "50", "--storage", url, *slow, *heartbeat], tmp_path)

    def running() -> list[int]:
        try:
            trials = _trials(url)
        except Exception:  # the database or the study is being created
            return []
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        return [t.number for t in trials if t.state == TrialState.RUNNING] if complete else []

    deadline = time.monotonic() + 300
    while not running():
        assert doomed.poll() is None, doomed.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no trial ran in time"
        time.sleep(0.2)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    (killed,) = running()  # still RUNNING: nobody told the database
    n_before = len(_trials(url))
    time.sleep(3)  # two heartbeats missed

    out = _finish(
        _spawn(
            ["search", "--n-trials", "2", "--storage", url, "--dashboard-every", "0", *heartbeat],
            tmp_path,
        )
    )
    lines = out.splitlines()
    complete = n_before - 1
    assert f"joined study 'rlnas' with {n_before} trials ({complete} complete, 1 running)" in lines
    assert any(
        re.fullmatch(
            rf"1 stale trial \(#{killed}, no heartbeat for up to \d+ s\) will be failed and "
            r"retried after the 3 s grace period",
            line,
        )
        for line in lines
    ), out
    trials = _trials(url)
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert f"trial #{killed} was retried as #{retry.number} (its heartbeat had stopped)" in lines
    assert trials[killed].state == TrialState.FAIL
    # The retry repeats what the killed trial had drawn; killed mid-suggestion (a loaded machine),
    # it had drawn only some of its parameters, and the retry draws the rest.
    assert retry.state == TrialState.COMPLETE
    assert retry.params.items() >= trials[killed].params.items()


class _CtrlCWhileCreating(optuna.samplers.RandomSampler):
    """Ctrl-C (a real SIGINT to this process) while Optuna creates trial ``at``: the trial is
    in storage, RUNNING, and the objective has not started."""

    def __init__(self, at: int, times: int) -> None:
        super().__init__(seed=0)
        self.at, self.times = at, times

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


def _interrupt_while_creating(times: int) -> tuple[optuna.Study, int | None, bool]:
    import argparse

    from optuna_rlnas import _cli_search
    from optuna_rlnas.child import RewardConfig

    study = optuna.create_study(sampler=_CtrlCWhileCreating(at=2, times=times))
    worker = _cli_search._Worker(seed=0)
    objective = worker.wrap(lambda trial: trial.suggest_float("x", 0, 1), "split")
    args = argparse.Namespace(n_trials=10, timeout=None, dashboard_every=0)
    _, interrupted = _cli_search._run(study, objective, study.sampler, args, RewardConfig(), worker)
    return study, worker.stop(study), interrupted


def test_ctrl_c_while_a_trial_is_created_leaves_no_trial_running() -> None:
    # The race behind a flaky CI run: Ctrl-C there left the new trial RUNNING forever. Now it
    # waits for the next check, and the trial is recorded as failed.
    study, stopped, interrupted = _interrupt_while_creating(times=1)
    assert interrupted
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.FAIL], states
    assert stopped == 2


def test_a_second_ctrl_c_stops_at_once() -> None:
    # For a search stuck outside its objective (a database that does not answer): the trial
    # being created is left to the heartbeat check (docs/cli.md), and no other starts.
    study, _, interrupted = _interrupt_while_creating(times=2)
    assert interrupted
    assert [t.state for t in study.trials][:2] == [TrialState.COMPLETE] * 2
    assert len(study.trials) == 3


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_finished_trials(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'rlnas.db'}"
    process = _spawn(
        # 100,000: never reached; children on digits take well under a second each
        ["search", "--n-trials", "100000", "--storage", url, "--sampler", "random", *SMALL],
        tmp_path,
    )
    deadline = time.monotonic() + 300
    complete = []
    while time.monotonic() < deadline and not complete:
        time.sleep(1)
        if os.path.exists(tmp_path / "rlnas.db"):
            try:
                complete = [t for t in _trials(url) if t.state == TrialState.COMPLETE]
            except Exception:  # the study is being created
                pass
    assert complete, "no trial finished in time"
    out, err = _stop(process)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "the finished trials are kept" in out
    trials = _trials(url)
    assert TrialState.RUNNING not in {t.state for t in trials}
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= len(complete)
    stopped = re.search(r"trial #(\d+) was stopped and marked failed", out)
    if stopped:  # Ctrl-C came during a trial, not between two
        assert trials[int(stopped.group(1))].state == TrialState.FAIL


@pytest.mark.slow
def test_ctrl_c_while_optuna_records_a_trial_fails_it_cleanly(
    tmp_path, capsys, monkeypatch
) -> None:
    # Ctrl-C lands in the commit of a finished trial (seen once in CI under load): Optuna 5
    # then raises UnboundLocalError from its error path and leaves the trial RUNNING. The
    # KeyboardInterrupt is raised where the real one landed, before the commit.
    record = optuna.storages.RDBStorage.set_trial_state_values

    def interrupted(self, trial_id, state, values=None):
        if state == TrialState.COMPLETE:
            raise KeyboardInterrupt
        return record(self, trial_id, state, values)

    monkeypatch.setattr(optuna.storages.RDBStorage, "set_trial_state_values", interrupted)
    url = f"sqlite:///{tmp_path / 'tell.db'}"
    rc, out, err = _run(["search", "--n-trials", "3", "--storage", url, *TINY], capsys)
    monkeypatch.undo()
    assert rc == 130, err
    assert "Traceback" not in err
    assert "trial #0 was stopped and marked failed; the finished trials are kept" in out
    assert [t.state for t in _trials(url)] == [TrialState.FAIL]


@pytest.mark.slow
def test_ctrl_c_turned_into_another_error_still_stops_the_search(
    tmp_path, capsys, monkeypatch
) -> None:
    # Seen in a test run under load: Ctrl-C landed in a storage write of the objective and the
    # KeyboardInterrupt came out as another exception (as when a database session fails to
    # close), which Optuna's catch took for a failed trial; the search went on starting trials.
    write = optuna.storages.RDBStorage.set_trial_user_attr

    def interrupted(self, trial_id, key, value):
        if key == "n_params":
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the handler raises at the next bytecode
            except KeyboardInterrupt:
                raise RuntimeError("the session could not be closed") from None
        return write(self, trial_id, key, value)

    monkeypatch.setattr(optuna.storages.RDBStorage, "set_trial_user_attr", interrupted)
    url = f"sqlite:///{tmp_path / 'lost.db'}"
    # Ctrl-C as at a terminal, whatever this test process inherited (see _spawn).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        rc, out, err = _run(["search", "--n-trials", "3", "--storage", url, *TINY], capsys)
    finally:
        signal.signal(signal.SIGINT, inherited)
    monkeypatch.undo()
    assert rc == 130, err
    assert "Traceback" not in err
    assert "trial #0 was stopped and marked failed; the finished trials are kept" in out
    assert [t.state for t in _trials(url)] == [TrialState.FAIL]  # no trial started after it


def test_joining_a_study_in_a_read_only_file_is_one_line(study_url, tmp_path, capsys) -> None:
    path = Path(study_url.removeprefix("sqlite:///"))
    before = path.read_bytes()
    if os.geteuid() != 0:
        path.chmod(0o444)
    elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("root writes any file, and chattr +i is not available here")
    try:
        rc, out, err = _run(["search", "--storage", study_url], capsys)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)
    assert rc == 2
    assert (
        err
        == f"rlnas: error: cannot use storage {study_url!r}: attempt to write a readonly database\n"
    )
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["existing.db"]


def test_no_command_prints_help(capsys) -> None:
    rc, _, err = _run([], capsys)
    assert rc == 2 and "search" in err


@pytest.mark.slow
def test_dashboard_serves_the_study_on_loopback(study_url, tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = _spawn(["dashboard", "--storage", study_url, "--port", str(port)], tmp_path)
    try:
        body = dashboard_studies(process, port)
        assert '"study_name": "rlnas"' in body or '"study_name":"rlnas"' in body
    finally:
        out, err = _stop(process)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def _race_for_settings(url: str, study_name: str, n: int = 8) -> None:
    """``n`` threads, one storage each, insert their own settings at once: one must win."""
    import threading

    from optuna_rlnas import _optuna_private
    from optuna_rlnas.storage import make_storage

    optuna.create_study(storage=make_storage(url), study_name=study_name, direction="maximize")
    barrier = threading.Barrier(n)
    won: list[int] = []

    def insert(k: int) -> None:
        study = optuna.load_study(study_name=study_name, storage=make_storage(url))
        barrier.wait()
        if _optuna_private.add_study_user_attr_if_absent(study, CONFIG_ATTR, {"worker": k}):
            won.append(k)

    threads = [threading.Thread(target=insert, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(won) == 1, won
    stored = optuna.load_study(study_name=study_name, storage=url).user_attrs[CONFIG_ATTR]
    assert stored == {"worker": won[0]}


def test_settings_insert_has_one_winner_on_sqlite(tmp_path) -> None:
    _race_for_settings(f"sqlite:///{tmp_path / 'race.db'}", "race")
