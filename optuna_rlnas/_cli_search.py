"""``rlnas search``: this worker's part of a (possibly shared) search, with a progress bar,
the controller's figures for optuna-dashboard, and one line for each join, stale trial, retry
and Ctrl-C (``_cli_report``)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import TrialState

from optuna_rlnas import _cli_report as _report
from optuna_rlnas import _optuna_private as _private
from optuna_rlnas import storage as _storage
from optuna_rlnas._cli_common import device_options
from optuna_rlnas._cli_common import make_sampler
from optuna_rlnas._cli_common import make_storage
from optuna_rlnas._cli_common import may_hold_study
from optuna_rlnas._cli_common import name_metric
from optuna_rlnas._cli_common import value_name
from optuna_rlnas._cli_settings import SEARCH_DEFAULTS
from optuna_rlnas._cli_settings import CLIError
from optuna_rlnas._cli_settings import build_search
from optuna_rlnas._cli_settings import open_study
from optuna_rlnas._cli_settings import resolve_config
from optuna_rlnas.storage import mask_url


def _make_pruner(name: str) -> optuna.pruners.BasePruner:
    # The paper trains every child to the end; pruning is an opt-in saving.
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


class _Worker:
    """This process's part of the search: its sampler's seed, its current trial, what it
    records in every trial it runs (``sampler_seed``, ``worker``, ``data_split``)."""

    def __init__(self, seed: int | None) -> None:
        self.seed_given = seed is not None
        # Without --seed, from the OS: workers started at the same moment still draw apart.
        self.seed = seed if seed is not None else secrets.randbits(32)
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.current: int | None = None  # the trial whose objective runs now
        self.last: int | None = None  # the last trial it started
        # Set by Ctrl-C (see _RememberInterrupt): a KeyboardInterrupt can be turned into
        # another exception on its way out (one raised while a database session closes, in a
        # Lightning hook), which Optuna's catch would take for a failed trial and go on.
        self.interrupt = threading.Event()

    def describe(self, sampler: str) -> str:
        how = "" if self.seed_given else f", drawn: --seed {self.seed} repeats it"
        return f"sampler {sampler} (seed {self.seed}{how})"

    def wrap(self, objective: Callable[[Any], float], split: str) -> Callable[[Any], float]:
        def run(trial: optuna.Trial) -> float:
            self.current = self.last = trial.number
            try:
                if self.interrupt.is_set():  # Ctrl-C came and was lost on its way: stop here
                    raise KeyboardInterrupt
                trial.set_user_attr("sampler_seed", self.seed)
                trial.set_user_attr("worker", self.id)
                trial.set_user_attr("data_split", split)
                result = objective(trial)
            except KeyboardInterrupt:
                raise  # keeps ``current``: the summary names the trial that Ctrl-C stopped
            except BaseException as exc:
                if self.interrupt.is_set():  # what Ctrl-C turned into: still Ctrl-C
                    raise KeyboardInterrupt from exc
                self.current = None
                raise
            self.current = None
            return result

        return run

    def stop(self, study: optuna.Study) -> int | None:
        """After Ctrl-C: the trial it stopped, now failed; ``None`` if it came between trials.

        Ctrl-C while Optuna records a finished trial leaves that trial RUNNING (and Optuna 5
        raises an ``UnboundLocalError`` from its error path): it is failed here, so that no
        trial of this worker waits for the heartbeat check.
        """
        if self.last is None:
            return None
        if _private.trial_by_number(study, self.last).state == TrialState.RUNNING:
            study.tell(self.last, state=TrialState.FAIL)
            return self.last
        return self.current


class _DropInterruptTraceback(logging.Filter):
    # Optuna logs the trial that Ctrl-C interrupted with a traceback; the summary says enough.
    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        return not (info and info[1] is not None and _from_interrupt(info[1]))


class _RememberInterrupt:
    """While a search runs, Ctrl-C sets ``event``; it raises ``KeyboardInterrupt`` (as Python's
    own handler does) only while a child trains (``interruptible()``), or at a second Ctrl-C.

    Outside the objective, Optuna is creating or recording a trial: an exception there leaves
    the trial RUNNING in storage with nobody to fail it. A first Ctrl-C there is remembered
    instead, and the search stops at the next check (the trial callback, or the start of the
    next objective, which Optuna then records as failed). The event also stops the search if
    the exception is lost on its way out. Main thread only: signal handlers can only be set
    there. A process started with Ctrl-C ignored, as a non-interactive shell starts its
    background jobs, keeps ignoring it."""

    def __init__(self, event: threading.Event, interruptible: Callable[[], bool]) -> None:
        self.event = event
        self.interruptible = interruptible
        self.previous: Any = None
        self.quieted = False  # whether a Ctrl-C quieted SQLAlchemy's pool log (see _handle)

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:  # started ignoring Ctrl-C (a script's `&`): keep ignoring
            return
        self.previous = previous
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        again = self.event.is_set()
        self.event.set()
        # A KeyboardInterrupt can leave a database connection half used; when the garbage
        # collector returns it to SQLAlchemy's pool, its rollback fails and the pool logs that
        # with a traceback (seen on SQLite in CI). The transaction did not commit, so the
        # finished trials are intact: that log is noise for a search being stopped. It is
        # quiet until __exit__ has collected such connections.
        pool_log = logging.getLogger(_POOL_LOG)
        if pool_log.level == logging.NOTSET:  # a level the user set is theirs
            pool_log.setLevel(logging.CRITICAL)
            self.quieted = True
        if again or self.interruptible():
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.quieted:  # return what the interrupt left half used, then log as before
            gc.collect()
            logging.getLogger(_POOL_LOG).setLevel(logging.NOTSET)
            self.quieted = False


_POOL_LOG = "sqlalchemy.pool"


def _progress(total: int | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="trial", desc="rlnas search", dynamic_ncols=True)


def cmd_search(args: argparse.Namespace) -> int:
    # Settings checked (and the data read) before storage is opened, where that cannot be a
    # join; for a join, after opening but before the study is created or changed.
    _expand_curriculum(args)
    device = device_options(args)
    search = None if may_hold_study(args.storage) else build_search(resolve_config(args, None))
    storage = make_storage(
        args.storage,
        heartbeat_interval=args.heartbeat_interval or None,  # 0 turns heartbeats off
        grace_period=args.grace_period,
        max_retry=args.max_retry,
    )
    worker = _Worker(args.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, search, joined = open_study(
        storage,
        args,
        search,
        lambda config: make_sampler(args.sampler, worker.seed, config["cost"]),
        _make_pruner(args.pruner),
    )
    sampler = study.sampler
    n_before = len(study.trials)
    stale_before = set(_report.stale_trials(study, storage))
    if joined:
        print(_report.joined_line(study))
    stale = _report.stale_line(study, storage, args.max_retry)
    if stale:
        print(stale)

    from optuna_rlnas.child import make_objective

    objective = make_objective(
        search.datamodule,
        space=search.space,
        training=replace(search.training, **device),
        reward=search.reward,
        seed=search.config["study_seed"],
        max_params=search.config["max_params"],
        max_latency_ms=search.config["max_latency_ms"],
    )
    objective = worker.wrap(objective, search.split_fingerprint())
    what = f"{search.datamodule.describe()}; {worker.describe(args.sampler)}"
    print(f"searching {what}; storage {mask_url(args.storage)}")

    elapsed, interrupted = _run(study, objective, sampler, args, search.reward, worker)
    stopped = worker.stop(study) if interrupted else None
    if not interrupted:
        print(f"search took {elapsed:.1f} s")
    elif stopped is None:  # Ctrl-C between two trials
        print(f"interrupted after {elapsed:.1f} s; the finished trials are kept")
    else:
        print(
            f"interrupted after {elapsed:.1f} s: trial #{stopped} was stopped and marked failed; "
            "the finished trials are kept"
        )
    for line in _report.retry_lines(study, n_before, stale_before):
        print(line)
    stale = _report.stale_line(study, storage, args.max_retry)
    if stale:
        print(stale)
    _report.summary(study, args.storage, args.study_name, sampler)
    return 130 if interrupted else 0


def _run(
    study: optuna.Study,
    objective: Callable[[Any], float],
    sampler: optuna.samplers.BaseSampler,
    args: argparse.Namespace,
    reward: Any,
    worker: _Worker,
) -> tuple[float, bool]:
    """Run the trials with a progress bar; returns the seconds taken and whether Ctrl-C came
    (``worker.interrupt``, set by Ctrl-C however its exception fared)."""
    interrupt = worker.interrupt
    log_filter = _DropInterruptTraceback()
    handlers = logging.getLogger("optuna").handlers  # filters on handlers see child loggers
    for handler in handlers:
        handler.addFilter(log_filter)
    bar = _progress(args.n_trials)
    best_key = "best_acc" if reward.cost is None else "best_value"

    def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if interrupt.is_set():  # the trial is recorded; start no other
            raise KeyboardInterrupt
        bar.update(1)
        if trial.state == TrialState.PRUNED and "invalid_reason" in trial.user_attrs:
            bar.write(f"trial #{trial.number} pruned: {trial.user_attrs['invalid_reason']}")
        try:
            bar.set_postfix({best_key: f"{study.best_value:.4f}"}, refresh=False)
        except ValueError:  # no complete trial yet
            pass

    dashboard = dashboard_callbacks(study, sampler, args.dashboard_every, reward)
    interrupted = False
    start = time.perf_counter()
    with _RememberInterrupt(interrupt, lambda: worker.current is not None):
        try:
            _storage.optimize(  # rides out a database restart
                study,
                objective,
                n_trials=args.n_trials,
                timeout=args.timeout,
                callbacks=[on_trial, *dashboard],
                catch=(Exception,),
            )
        except KeyboardInterrupt:
            interrupted = True
        except Exception as exc:
            if not _from_interrupt(exc):
                raise
            interrupted = True  # Ctrl-C while Optuna recorded a trial (see _Worker.stop)
        finally:
            bar.close()
            for handler in handlers:
                handler.removeFilter(log_filter)
    interrupted = interrupted or interrupt.is_set()
    elapsed = time.perf_counter() - start
    for callback in dashboard:  # the figures of the final state
        try:
            callback.refresh(study)
        except Exception as exc:  # the search's results are kept whatever the figures do
            print(f"the controller figures were not refreshed: {exc}")
    return elapsed, interrupted


def _from_interrupt(error: BaseException) -> bool:
    return any(isinstance(e, KeyboardInterrupt) for e in _storage.exception_chain(error))


def _expand_curriculum(args: argparse.Namespace) -> None:
    """``--curriculum START`` becomes ``START:2:EVERY``, the growth to ``--num-layers`` spread
    over ``--n-trials`` (``DepthCurriculum.scaled``); ``START:STEP:EVERY`` is kept as given."""
    text = getattr(args, "curriculum", None)
    if text is None:
        return
    from optuna_rlnas.child import DepthCurriculum

    final = args.num_layers or SEARCH_DEFAULTS["num_layers"]
    try:
        numbers = [int(v) for v in str(text).split(":")]
        if len(numbers) == 1:
            curriculum = DepthCurriculum.scaled(
                n_trials=args.n_trials, start=numbers[0], final=final
            )
        elif len(numbers) == 3:
            curriculum = DepthCurriculum(*numbers)
        else:
            raise ValueError("expected START or START:STEP:EVERY")
        if curriculum.start > final:
            raise ValueError(f"START must be at most --num-layers {final}")
    except ValueError as exc:
        raise CLIError(
            f"--curriculum must be START or START:STEP:EVERY (positive integers), but got "
            f"{text!r}: {str(exc).rstrip('.')}"
        ) from None
    args.curriculum = f"{curriculum.start}:{curriculum.step}:{curriculum.every}"


def dashboard_callbacks(
    study: optuna.Study, sampler: optuna.samplers.BaseSampler, every: int, reward: Any
) -> list[Any]:
    """Name the study's value (:func:`value_name`), then make the controller's figures for
    optuna-dashboard (docs/dashboard.md) when they can be drawn."""
    from optuna_rlnas import RLNASSampler

    name_metric(study, value_name(reward))

    if not every or not isinstance(sampler, RLNASSampler):
        return []
    try:
        from optuna_rlnas.dashboard import DashboardCallback
    except ImportError as exc:  # optuna-dashboard or plotly missing: search without figures
        print(f"no controller figures: {exc}")
        return []
    return [DashboardCallback(sampler, every=every)]
