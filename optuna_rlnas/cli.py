"""The ``rlnas`` command: ``search``, ``run``, ``best`` and ``dashboard``.

Bad input and faults (an unknown dataset, a folder of junk, a malformed storage URL, a study
that does not exist, a read-only or corrupt database, a port in use) end with one line
``rlnas: error: ...`` on stderr and exit status 2, before any file or study is created or
changed. Passwords in storage URLs are never printed. Ctrl-C ends a search cleanly: every
finished trial stays in the storage, the interrupted one is marked failed, and the exit status
is 130. The table of errors, each produced by a test, is in ``docs/cli.md``.

Rooms: the study's settings and how a worker joins (``_cli_settings``), the one-line reports
and their vocabulary (``_cli_report``), storage (``optuna_rlnas.storage``); here the commands.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import secrets
import socket
import sys
import time
import warnings
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import TrialState

from optuna_rlnas import _cli_report as _report
from optuna_rlnas import _optuna_private as _private
from optuna_rlnas import storage as _storage
from optuna_rlnas._cli_settings import CONFIG_ATTR
from optuna_rlnas._cli_settings import DEFAULT_STORAGE
from optuna_rlnas._cli_settings import DEFAULT_STUDY
from optuna_rlnas._cli_settings import SEARCH_DEFAULTS
from optuna_rlnas._cli_settings import CLIError
from optuna_rlnas._cli_settings import _int_list
from optuna_rlnas._cli_settings import build_search
from optuna_rlnas._cli_settings import find_study
from optuna_rlnas._cli_settings import open_study
from optuna_rlnas._cli_settings import resolve_config
from optuna_rlnas._cli_settings import stored_settings
from optuna_rlnas.storage import mask_url

__all__ = ["CONFIG_ATTR", "SEARCH_DEFAULTS", "CLIError", "build_parser", "main", "make_storage"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block, no traceback
        sys.stderr.write(f"rlnas: error: {message}\n")
        raise SystemExit(2)


# --- storage --------------------------------------------------------------------------------


def _check_url(url: str, *, must_exist: bool = False) -> Any:
    """:func:`optuna_rlnas.storage.check_url`, as a :class:`CLIError`; refuses in-memory SQLite."""
    try:
        parsed = _storage.check_url(url, must_exist=must_exist)
    except FileNotFoundError:
        raise CLIError(f"no database at {mask_url(url)!r}: run 'rlnas search' first") from None
    except (ValueError, ImportError) as exc:
        raise CLIError(str(exc).rstrip(".")) from None
    if parsed.get_backend_name() == "sqlite" and _storage.sqlite_path(parsed) is None:
        raise CLIError(
            f"storage URL {mask_url(url)!r} names no SQLite file, and a study in memory is lost "
            "when rlnas exits: use e.g. sqlite:///rlnas.db"
        )
    return parsed


def make_storage(
    url: str, *, must_exist: bool = False, **heartbeat: Any
) -> optuna.storages.RDBStorage:
    """The Optuna storage for ``url``, validated first (the single place the CLI builds one).

    ``heartbeat``: ``heartbeat_interval``, ``grace_period``, ``max_retry`` of
    :func:`optuna_rlnas.storage.make_storage` (its defaults when not given).
    """
    _check_url(url, must_exist=must_exist)
    try:
        return _storage.make_storage(url, **heartbeat)
    except (ValueError, ConnectionError) as exc:  # both name the URL with the password masked
        raise CLIError(str(exc).rstrip(".")) from None


def _load_study(storage: optuna.storages.BaseStorage, name: str, url: str) -> optuna.Study:
    study = find_study(storage, name)
    if study is None:
        names = [s.study_name for s in storage.get_all_studies()]
        known = f"; studies there: {', '.join(names)}" if names else "; it holds no study"
        raise CLIError(f"no study named {name!r} in {mask_url(url)!r}{known}")
    return study


def _may_hold_study(url: str) -> bool:
    # Joining a study takes its settings, so they cannot all be validated before opening it.
    # An absent SQLite file certainly holds no study; other databases are checked once open.
    parsed = _check_url(url)
    if parsed.get_backend_name() == "sqlite":
        return os.path.isfile(_storage.sqlite_path(parsed) or "")
    return True


# --- the worker -----------------------------------------------------------------------------


def _make_sampler(name: str, seed: int, cost: str | None = None) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    from optuna_rlnas import RLNASSampler  # imported here: `rlnas --help` stays light
    from optuna_rlnas import paper_reward

    # The controller learns from the validation accuracy cubed (Sec. 4.1). With a cost, the
    # value is already MnasNet's reward ACC * (cost / T) ** w, which MnasNet's controller learns
    # from as it is; cubing it would cube the cost factor too (w = -0.07 would act as -0.21).
    return RLNASSampler(seed=seed, reward_fn=paper_reward if cost is None else None)


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

    def describe(self, sampler: str) -> str:
        how = "" if self.seed_given else f", drawn: --seed {self.seed} repeats it"
        return f"sampler {sampler} (seed {self.seed}{how})"

    def wrap(self, objective: Callable[[Any], float], split: str) -> Callable[[Any], float]:
        def run(trial: optuna.Trial) -> float:
            self.current = self.last = trial.number
            trial.set_user_attr("sampler_seed", self.seed)
            trial.set_user_attr("worker", self.id)
            trial.set_user_attr("data_split", split)
            try:
                result = objective(trial)
            except KeyboardInterrupt:
                raise  # keeps ``current``: the summary names the trial that Ctrl-C stopped
            except BaseException:
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
        return not (info and info[0] is not None and issubclass(info[0], KeyboardInterrupt))


def _progress(total: int | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="trial", desc="rlnas search", dynamic_ncols=True)


# --- search ---------------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace) -> int:
    # Settings checked (and the data read) before storage is opened, where that cannot be a
    # join; for a join, after opening but before the study is created or changed.
    _expand_curriculum(args)
    device = _device_options(args)
    search = None if _may_hold_study(args.storage) else build_search(resolve_config(args, None))
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
        lambda config: _make_sampler(args.sampler, worker.seed, config["cost"]),
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

    elapsed, interrupted = _run(study, objective, sampler, args, search.reward)
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
) -> tuple[float, bool]:
    """Run the trials with a progress bar; returns the seconds taken and whether Ctrl-C came."""
    log_filter = _DropInterruptTraceback()
    handlers = logging.getLogger("optuna").handlers  # filters on handlers see child loggers
    for handler in handlers:
        handler.addFilter(log_filter)
    bar = _progress(args.n_trials)
    best_key = "best_acc" if reward.cost is None else "best_value"

    def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        bar.update(1)
        if trial.state == TrialState.PRUNED and "invalid_reason" in trial.user_attrs:
            bar.write(f"trial #{trial.number} pruned: {trial.user_attrs['invalid_reason']}")
        try:
            bar.set_postfix({best_key: f"{study.best_value:.4f}"}, refresh=False)
        except ValueError:  # no complete trial yet
            pass

    dashboard = _dashboard_callbacks(study, sampler, args.dashboard_every, reward)
    interrupted = False
    start = time.perf_counter()
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
    elapsed = time.perf_counter() - start
    for callback in dashboard:  # the figures of the final state
        try:
            callback.refresh(study)
        except Exception as exc:  # the search's results are kept whatever the figures do
            print(f"the controller figures were not refreshed: {exc}")
    return elapsed, interrupted


def _name_value(study: optuna.Study, reward: Any) -> None:
    """Name what the trials' value is, so that optuna-dashboard and ``trials_dataframe`` show it
    instead of "Objective 0". ``reward`` is the objective's ``RewardConfig``. A name already set
    (by a user, or an earlier worker) is kept."""
    if study.metric_names is not None:
        return
    name = "validation accuracy"  # RewardConfig's monitor, the best of the last epochs
    if reward.cost is not None:  # MnasNet's soft constraint (docs/cli.md)
        name += f" × ({reward.cost} / {reward.target:g})^{reward.weight:g}"
    with warnings.catch_warnings():  # experimental in Optuna 5, and the name is all we set
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([name])


def _from_interrupt(error: BaseException) -> bool:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.append(e)
        todo += [e.__cause__, e.__context__]
    return False


# --- search options: depth curriculum and devices ----------------------------------------


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


def _device_options(args: argparse.Namespace) -> dict[str, Any]:
    """This worker's device settings (not the study's: workers may differ), checked at once."""
    from optuna_rlnas.child import TrainingConfig

    options = {
        "precision": _run_precision(getattr(args, "precision", None)),
        "channels_last": bool(getattr(args, "channels_last", False)),
        "compile": bool(getattr(args, "compile", False)),
        "device_index": getattr(args, "device_index", None),
    }
    try:
        TrainingConfig(**options).resolved_precision()  # a GPU asked for, none there
    except ValueError as exc:
        raise CLIError(str(exc).rstrip(".")) from None
    return options


def _dashboard_callbacks(
    study: optuna.Study, sampler: optuna.samplers.BaseSampler, every: int, reward: Any
) -> list[Any]:
    """Name the study's value (:func:`_name_value`), then make the controller's figures for
    optuna-dashboard (docs/dashboard.md) when they can be drawn."""
    from optuna_rlnas import RLNASSampler

    _name_value(study, reward)

    if not every or not isinstance(sampler, RLNASSampler):
        return []
    try:
        from optuna_rlnas.dashboard import DashboardCallback
    except ImportError as exc:  # optuna-dashboard or plotly missing: search without figures
        print(f"no controller figures: {exc}")
        return []
    return [DashboardCallback(sampler, every=every)]


# --- run: search on a proxy, then retrain the best, within a wall-clock budget --------------

# The search's proxy per dataset (docs/child-networks.md, "A search with a budget"): a training
# subset, few epochs, and a fixed validation split that the final phase shares.
RUN_PROXY: dict[str, dict[str, Any]] = {
    "digits": {"search_subset": None, "search_epochs": 3, "val_size": 0.2, "batch_size": 32},
    "fashion-mnist": {
        "search_subset": 10_000,
        "search_epochs": 4,
        "val_size": 5_000,
        "batch_size": 64,
    },
    "cifar10": {"search_subset": 10_000, "search_epochs": 4, "val_size": 5_000, "batch_size": 64},
}
FINAL_BATCH_SIZE = 128


def _run_precision(choice: str | None) -> str | None:
    # None: TrainingConfig's default. "auto": bf16 autocast where the hardware has bf16
    # arithmetic (CUDA, or a CPU with AVX512-BF16, where oneDNN runs it several times faster
    # than 32-bit), else 32-bit.
    if choice != "auto":
        return choice
    import torch

    if torch.cuda.is_available():
        return None  # TrainingConfig's CUDA default: bf16-mixed, or 16-mixed without bf16
    fast_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return "bf16-mixed" if fast_bf16 else "32-true"


def _run_parts(args: argparse.Namespace) -> dict[str, Any]:
    """Everything a budgeted run needs, validated before any study is created."""
    from dataclasses import replace

    from optuna_rlnas.child import CNNSearchSpace
    from optuna_rlnas.child import TrainingConfig
    from optuna_rlnas.child import make_datamodule
    from optuna_rlnas.child._budget import BudgetPlan
    from optuna_rlnas.child._budget import parse_duration
    from optuna_rlnas.child._final import FINAL_TRAINING

    proxy = dict(RUN_PROXY[args.dataset])
    for key in ("search_subset", "search_epochs", "val_size", "batch_size"):
        if getattr(args, key, None) is not None:
            proxy[key] = getattr(args, key) or None  # --search-subset 0: the whole split
    if args.train_subset:  # a smaller run: the final phase's images, the search's at most
        proxy["search_subset"] = min(proxy["search_subset"] or args.train_subset, args.train_subset)
    device = _device_options(args)
    try:
        plan = BudgetPlan(
            parse_duration(args.budget),
            search_fraction=args.search_fraction,
            finalists=args.finalists,
            min_epochs=args.min_epochs,
            max_epochs=args.max_epochs,
            augment={"auto": None, "on": True, "off": False}[args.augment],
        )
        val = proxy["val_size"]
        common = dict(seed=args.seed, val_size=int(val) if val >= 1 else float(val))
        search_dm = make_datamodule(
            args.dataset,
            args.data_dir,
            train_subset=proxy["search_subset"],
            batch_size=proxy["batch_size"],
            **common,
        )
        final_dm = make_datamodule(
            args.dataset,
            args.data_dir,
            batch_size=FINAL_BATCH_SIZE,
            augment=True,
            train_subset=args.train_subset or None,
            **common,
        )
        search_dm.check_files()
        space = CNNSearchSpace(
            num_layers=args.num_layers,
            filters=_int_list("filters", args.filters),
            filter_sizes=_int_list("filter-sizes", args.filter_sizes),
            strides=_int_list("strides", args.strides),
        )
        search_training = TrainingConfig(epochs=proxy["search_epochs"], **device)
        final_training = replace(FINAL_TRAINING, **device)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc).rstrip(".")) from None
    return dict(
        plan=plan,
        proxy=proxy,
        search_dm=search_dm,
        final_dm=final_dm,
        space=space,
        search_training=search_training,
        final_training=final_training,
    )


def _trial_line(trial: optuna.trial.FrozenTrial) -> str:
    attrs = trial.user_attrs
    state = trial.state.name.lower()
    if "invalid_reason" in attrs:
        return f"trial {trial.number}: {state}, {attrs['invalid_reason']}"
    steps = trial.intermediate_values
    value = trial.value if trial.value is not None else (steps[max(steps)] if steps else None)
    shown = "-" if value is None else f"{value:.4f}"
    return (
        f"trial {trial.number}: {state} after {attrs.get('epochs', 0)} epochs, "
        f"value {shown}, {attrs.get('train_time_s', 0):.0f} s, {attrs.get('n_params', '?')} "
        "parameters"
    )


def artifact_dir(storage_url: str, given: str | None = None) -> str:
    """Where ``rlnas run`` uploads: ``given``, else where ``rlnas dashboard`` looks
    (:func:`optuna_rlnas.storage.default_artifact_dir`), else ``rlnas_artifacts`` here."""
    return given or _storage.default_artifact_dir(storage_url) or "rlnas_artifacts"


def cmd_run(args: argparse.Namespace) -> int:
    start = time.monotonic()
    _check_url(args.storage)
    parts = _run_parts(args)
    storage = make_storage(args.storage, heartbeat_interval=None)  # one process: no heartbeats
    for name in (args.study_name, f"{args.study_name}-final"):
        if find_study(storage, name) is not None:
            raise CLIError(
                f"study {name!r} exists in {mask_url(args.storage)!r}; a budgeted run starts "
                "fresh: give another --study-name"
            )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _run_search(args, parts, storage, start)
    search = (_search_label(study), time.monotonic() - start)

    from optuna_rlnas.child._budget import run_final_phase

    final_study = optuna.create_study(
        storage=storage, study_name=f"{args.study_name}-final", direction="maximize"
    )
    _name_metric(final_study, "val_acc")
    artifacts = artifact_dir(args.storage, args.artifact_dir)
    try:
        report = run_final_phase(
            study,
            final_study,
            parts["final_dm"],
            parts["final_training"],
            parts["plan"],
            deadline=start + parts["plan"].total_s,
            seed=args.seed,
            folder=args.out,
            artifact_dir=artifacts,
        )
    except ValueError as exc:
        raise CLIError(str(exc).rstrip(".")) from None
    _print_times([search, *report.times], parts["plan"].total_s, time.monotonic() - start)
    chosen = report.chosen
    print(
        f"chosen: search trial {chosen.finalist.trial_number} ({chosen.finalist.architecture}), "
        f"validation accuracy {chosen.val_acc:.4f}, test accuracy {report.test_acc:.4f} on "
        f"{len(parts['final_dm'].test_set)} test images"
    )
    files = ", ".join(sorted(p.name for p in report.folder.iterdir()))
    print(f"saved to {report.folder}/: {files}")
    if report.artifacts:
        print(
            f"uploaded to the artifact store {artifacts}/, on trial {chosen.trial.number} of "
            f"study '{final_study.study_name}' (rlnas dashboard --artifact-dir {artifacts})"
        )
    print(f"load it: optuna_rlnas.child.load({str(report.folder)!r})")
    return 0


def _run_search(
    args: argparse.Namespace,
    parts: dict[str, Any],
    storage: optuna.storages.BaseStorage,
    start: float,
) -> optuna.Study:
    """The search phase of ``rlnas run``: Hyperband on the proxy until its deadline."""
    from optuna_rlnas.child import make_objective
    from optuna_rlnas.storage import optimize

    plan, epochs = parts["plan"], parts["proxy"]["search_epochs"]
    study = optuna.create_study(
        storage=storage,
        study_name=args.study_name,
        sampler=_make_sampler(args.sampler, args.seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs),
        direction="maximize",
    )
    _name_metric(study, "reward")
    settings = {k: v for k, v in vars(args).items() if k != "handler"}
    study.set_user_attr("rlnas_run", dict(settings, proxy=parts["proxy"]))
    deadline = start + plan.search_s
    objective = make_objective(
        parts["search_dm"],
        space=parts["space"],
        training=parts["search_training"],
        seed=args.seed,
        max_params=args.max_params,
        max_latency_ms=args.max_latency_ms,
        deadline=deadline,
    )
    print(
        f"budget {plan.total_s:.0f} s: search {plan.search_s:.0f} s on "
        f"{parts['search_dm'].describe()}, up to {epochs} epochs per child (Hyperband), then "
        f"{plan.finalists} finalists on the whole training split; precision "
        f"{parts['search_training'].resolved_precision()}",
        flush=True,
    )
    optimize(
        study,
        objective,
        timeout=max(1.0, deadline - time.monotonic()),
        callbacks=[lambda study, trial: print(_trial_line(trial), flush=True)],
        catch=(Exception,),
    )
    return study


def _name_metric(study: optuna.Study, name: str) -> None:
    # The dashboard shows the name instead of "Objective 0"; the API is marked experimental.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([name])


def _search_label(study: optuna.Study) -> str:
    trials = study.get_trials(deepcopy=False)
    counts = {state: 0 for state in optuna.trial.TrialState}
    for t in trials:
        counts[t.state] += 1
    infeasible = sum(1 for t in trials if t.user_attrs.get("feasible") is False)
    pruned = counts[optuna.trial.TrialState.PRUNED] - infeasible
    extra = f", {infeasible} infeasible" if infeasible else ""
    complete = counts[optuna.trial.TrialState.COMPLETE]
    return f"search: {len(trials)} trials ({complete} complete, {pruned} pruned{extra})"


def _print_times(times: list[tuple[str, float]], budget_s: float, total_s: float) -> None:
    print(f"where the time went (budget {budget_s:.0f} s):")
    print("| part | seconds | share of the budget |")
    print("|---|---:|---:|")
    for label, seconds in times:
        print(f"| {label} | {seconds:.0f} | {100 * seconds / budget_s:.1f}% |")
    print(f"| total, wall clock | {total_s:.0f} | {100 * total_s / budget_s:.1f}% |")


# --- best -----------------------------------------------------------------------------------


def cmd_best(args: argparse.Namespace) -> int:
    storage = make_storage(args.storage, must_exist=True)
    study = _load_study(storage, args.study_name, args.storage)
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        raise CLIError(f"study {args.study_name!r} has no complete trial yet")
    best = study.best_trial
    if "architecture_json" not in best.user_attrs:
        raise CLIError(f"trial #{best.number} records no architecture: was it run by rlnas?")
    config = stored_settings(study) or dict(SEARCH_DEFAULTS)
    if args.epochs is not None:
        config["epochs"] = args.epochs
    if args.train_subset is not None:
        config["train_subset"] = args.train_subset or None  # 0 means the whole training set
    search = build_search(config, merge_validation=True)
    datamodule, training = search.datamodule, search.training

    from optuna_rlnas.child import Architecture
    from optuna_rlnas.child import ChildModule
    from optuna_rlnas.child import ChildNet
    from optuna_rlnas.child._lightning import make_trainer
    from optuna_rlnas.child._lightning import pl
    from optuna_rlnas.child._lightning import run_trainer

    architecture = Architecture.from_json(best.user_attrs["architecture_json"])
    pl.seed_everything(
        best.user_attrs.get("seed", config["study_seed"]), workers=True, verbose=False
    )
    net = ChildNet(
        architecture,
        in_channels=datamodule.in_channels,
        num_classes=datamodule.num_classes,
        image_size=datamodule.image_size,
    )
    module = ChildModule(net, training)
    accuracy = best.user_attrs.get("val_acc", best.value)
    print(f"best trial #{best.number} (validation accuracy {accuracy:.4f}): {architecture}")
    print(
        f"retraining on train+validation ({len(datamodule.train_set)} {datamodule.name} images, "
        f"{training.epochs} epochs)"
    )
    trainer = make_trainer(training, limit_val_batches=0)
    start = time.perf_counter()
    run_trainer(trainer, "fit", module, train_dataloaders=datamodule.train_dataloader())
    elapsed = time.perf_counter() - start
    results = run_trainer(
        trainer, "test", module, dataloaders=datamodule.test_dataloader(), verbose=False
    )
    test_acc = float(results[0]["test_acc"])
    print(f"test accuracy {test_acc:.4f} on {len(datamodule.test_set)} test images")
    print(f"(training took {elapsed:.1f} s, {net.num_parameters} parameters)")
    if args.out is not None:
        _save_best(args.out, module.net, datamodule, best, training)
    return 0


def _save_best(folder: str, net: Any, datamodule: Any, best: Any, training: Any) -> None:
    """``rlnas best --out``: the files ``rlnas run`` saves (``optuna_rlnas.child._export``)."""
    from optuna_rlnas.child._export import save
    from optuna_rlnas.child._final import evaluate

    # Measured as a loaded model runs (eval mode, 32-bit), so the file reproduces it exactly.
    test_acc = evaluate(net, datamodule.test_dataloader())
    info = {
        "dataset": datamodule.name,
        "scale": datamodule.scale,
        "mean": list(datamodule.mean),
        "std": list(datamodule.std),
        "test_acc": test_acc,
        "n_test": len(datamodule.test_set),
        "search_trial": best.number,
        "epochs": training.epochs,
        "training": {k: v for k, v in vars(training).items() if k != "epochs"},
    }
    title = f"search trial {best.number}: test accuracy {test_acc:.4f}"
    save(folder, net, info=info, title=title)
    print(
        f"saved to {folder}/ (test accuracy {test_acc:.4f} as saved; load with "
        f"optuna_rlnas.child.load({folder!r}))"
    )


# --- dashboard ------------------------------------------------------------------------------


def _check_port(port: int) -> None:
    # Bound and released at once: a busy port is reported before anything is printed. The
    # dashboard's server reuses addresses too, so a port in TIME_WAIT passes.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise CLIError(
                f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}; choose another --port"
            ) from None


def _artifact_folder(args: argparse.Namespace) -> str | None:
    # The artifacts (saved models, architecture images) live in a folder of their own; with
    # SQLite, by default <file stem>_artifacts next to the database file (docs/dashboard.md).
    folder = args.artifact_dir
    if folder is not None:
        if not os.path.isdir(folder):
            raise CLIError(f"--artifact-dir must be an existing folder, but got {folder!r}")
        return folder
    _check_url(args.storage)
    default = _storage.default_artifact_dir(args.storage)
    return default if default is not None and os.path.isdir(default) else None


def cmd_dashboard(args: argparse.Namespace) -> int:
    _check_port(args.port)
    folder = _artifact_folder(args)
    storage = make_storage(args.storage, must_exist=True)
    try:
        import optuna_dashboard
        from optuna.artifacts import FileSystemArtifactStore
    except ImportError:
        raise CLIError(
            'the dashboard needs optuna-dashboard: pip install "optuna-rlnas[dashboard]"'
        ) from None
    store = FileSystemArtifactStore(folder) if folder is not None else None
    print(f"dashboard of {mask_url(args.storage)} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
    print(f"artifacts from {folder}" if folder else "no artifact folder (--artifact-dir)")
    try:
        optuna_dashboard.run_server(storage, host="127.0.0.1", port=args.port, artifact_store=store)
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # taken between the check and the server's start
        raise CLIError(f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0


# --- parser ---------------------------------------------------------------------------------


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[low, high]``."""
    if high is not None:
        wanted = f"an integer in [{low}, {high}]"
    else:
        wanted = "a positive integer" if low == 1 else f"an integer >= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {wanted}, but got {text!r}")
        return value

    return parse


_positive_int = _integer(1)
_non_negative_int = _integer(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, but got {text!r}")
    return value


def _val_size(text: str) -> int | float:
    value = _positive_float(text)
    if value < 1:
        return value
    if not value.is_integer():
        raise argparse.ArgumentTypeError(
            f"must be a fraction in (0, 1) or a whole number of images, but got {text!r}"
        )
    return int(value)


def _name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a non-empty name, but got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The ``rlnas`` argument parser."""
    parser = _Parser(prog="rlnas", description="Neural Architecture Search with RL, on Optuna.")
    commands = parser.add_subparsers(dest="command", metavar="{search,run,best,dashboard}")

    def storage_args(p: argparse.ArgumentParser, study: bool = True) -> None:
        p.add_argument("--storage", default=DEFAULT_STORAGE, help="database URL [%(default)s]")
        if study:
            p.add_argument("--study-name", type=_name, default=DEFAULT_STUDY, help="[%(default)s]")

    s = commands.add_parser("search", help="search architectures (joins an existing study)")
    s.add_argument("--dataset", choices=("digits", "fashion-mnist", "cifar10"), help="[digits]")
    s.add_argument("--data-dir", help="dataset folder (Fashion-MNIST: Debian's by default)")
    s.add_argument("--n-trials", type=_positive_int, default=20, help="[%(default)s]")
    s.add_argument("--timeout", type=_positive_float, help="stop after this many seconds")
    s.add_argument("--epochs", type=_positive_int, help="epochs per child [5]")
    s.add_argument("--sampler", choices=("rlnas", "tpe", "random"), default="rlnas")
    s.add_argument("--pruner", choices=("none", "median", "hyperband"), default="none")
    storage_args(s)
    s.add_argument(
        "--seed",
        type=_integer(0, 2**32 - 1),
        help="seeds this worker's sampler [drawn from the OS, printed and recorded per trial]",
    )
    s.add_argument(
        "--study-seed",
        type=_integer(0, 2**32 - 1),
        help="seeds the data split and each child (plus its trial number); a study setting [0]",
    )
    s.add_argument("--train-subset", type=_positive_int, help="train on this many images only")
    s.add_argument("--val-size", type=_val_size, help="validation fraction (<1) or count")
    s.add_argument("--batch-size", type=_positive_int, help="[64]")
    s.add_argument("--lr", type=_positive_float, help="learning rate [0.003]")
    s.add_argument("--num-layers", type=_positive_int, help="child depth [6]")
    s.add_argument("--filters", help="numbers of filters to choose from [24,36,48,64]")
    s.add_argument("--filter-sizes", help="filter heights and widths (odd) [1,3,5,7]")
    s.add_argument("--strides", help="stride choices, e.g. 1 to fix them [1,2,3]")
    s.add_argument("--activations", help="activation choices, e.g. relu,tanh,elu,gelu [relu]")
    s.add_argument("--max-params", type=_positive_int, help="prune children larger than this")
    s.add_argument("--cost", choices=("params", "latency"), help="MnasNet value ACC*(cost/T)^w")
    s.add_argument("--target", type=_positive_float, help="the cost target T for --cost")
    s.add_argument(
        "--dashboard-every",
        type=_non_negative_int,
        default=5,
        help="refresh the controller's figures in optuna-dashboard every N trials; 0: never "
        "[%(default)s]",
    )
    # Many workers (docs/scale-out.md): a trial whose worker died is failed once its heartbeat is
    # older than the grace period, by the next worker that starts a trial, and retried.
    s.add_argument(
        "--heartbeat-interval",
        type=_non_negative_int,
        default=30,
        help="seconds between heartbeats of a running trial; 0 turns them off [%(default)s]",
    )
    s.add_argument(
        "--grace-period",
        type=_positive_int,
        default=120,
        help="seconds without a heartbeat before a trial is failed and retried [%(default)s]",
    )
    s.add_argument(
        "--max-retry",
        type=_non_negative_int,
        default=3,
        help="retries of a trial whose worker died [%(default)s]",
    )
    s.add_argument(
        "--curriculum",
        help="grow the depth from START to --num-layers (+2 per stage) over --n-trials; or "
        "START:STEP:EVERY (the paper: 6:2:1600)",
    )
    s.add_argument(
        "--max-latency-ms", type=_positive_float, help="prune children slower than this (CPU)"
    )
    _device_args(s)
    s.set_defaults(handler=cmd_search)

    _run_parser(commands, storage_args)

    b = commands.add_parser("best", help="retrain the best architecture and test it")
    storage_args(b)
    b.add_argument("--epochs", type=_positive_int, help="[as in the search]")
    b.add_argument(
        "--train-subset", type=_non_negative_int, help="[as in the search; 0 = all images]"
    )
    b.add_argument("--out", help="save the retrained model in this folder (see rlnas run)")
    b.set_defaults(handler=cmd_best)

    d = commands.add_parser("dashboard", help="optuna-dashboard on 127.0.0.1")
    storage_args(d, study=False)
    d.add_argument("--port", type=_integer(1, 65535), default=8080, help="[%(default)s]")
    d.add_argument("--artifact-dir", help="artifact folder [SQLite: <file stem>_artifacts]")
    d.set_defaults(handler=cmd_dashboard)
    return parser


def _device_args(p: argparse.ArgumentParser, precision_default: str | None = None) -> None:
    """Where and how this worker trains (docs/throughput.md); not a setting of the study.

    ``rlnas run`` defaults to ``--precision auto --channels-last``, ``rlnas search`` to neither.
    """
    p.add_argument(
        "--precision",
        choices=("auto", "32-true", "bf16-mixed", "16-mixed"),
        default=precision_default,
        help="[bf16-mixed on CUDA, 32-true elsewhere]"
        if precision_default is None
        else "[%(default)s: bf16-mixed on CUDA and on CPUs with bf16 instructions]",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=precision_default is not None,
        help="NHWC maps, which GPUs and oneDNN CPUs prefer [%(default)s]",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile each child (slow start)")
    p.add_argument(
        "--device-index", type=_non_negative_int, help="train on GPU number K (one per worker)"
    )


def _run_parser(commands: Any, storage_args: Any) -> None:
    r = commands.add_parser(
        "run", help="search on a proxy, retrain the best, test and save it, within --budget"
    )
    r.add_argument("--dataset", choices=tuple(RUN_PROXY), default="digits", help="[%(default)s]")
    r.add_argument("--data-dir", help="dataset folder (Fashion-MNIST: Debian's by default)")
    r.add_argument("--budget", default="10m", help="wall clock for everything, e.g. 2h [10m]")
    r.add_argument(
        "--search-fraction", type=float, default=0.35, help="share of the search [%(default)s]"
    )
    r.add_argument("--finalists", type=_positive_int, default=2, help="[%(default)s]")
    r.add_argument("--min-epochs", type=_positive_int, default=5, help="[%(default)s]")
    r.add_argument("--max-epochs", type=_positive_int, default=40, help="[%(default)s]")
    r.add_argument(
        "--augment",
        choices=("auto", "on", "off"),
        default="auto",
        help="augment the finalists' batches; auto: when they get 30 epochs or more [auto]",
    )
    r.add_argument("--search-epochs", type=_positive_int, help="[digits 3, others 4]")
    r.add_argument(
        "--search-subset", type=_non_negative_int, help="[digits all, others 10000; 0 = all]"
    )
    r.add_argument("--val-size", type=_positive_float, help="[digits 0.2, others 5000]")
    r.add_argument(
        "--train-subset", type=_non_negative_int, help="train on this many images only [all]"
    )
    r.add_argument("--batch-size", type=_positive_int, help="search batch [digits 32, others 64]")
    r.add_argument("--sampler", choices=("rlnas", "tpe", "random"), default="rlnas")
    storage_args(r)
    r.add_argument("--seed", type=int, default=0, help="[%(default)s]")
    r.add_argument("--num-layers", type=_positive_int, default=6, help="[%(default)s]")
    r.add_argument("--filters", default="24,36,48,64", help="[%(default)s]")
    r.add_argument("--filter-sizes", default="1,3,5,7", help="[%(default)s]")
    r.add_argument("--strides", default="1,2,3", help="[%(default)s]")
    r.add_argument("--max-params", type=_positive_int, help="constraint: prune larger children")
    r.add_argument("--max-latency-ms", type=_positive_float, help="constraint: CPU ms per image")
    r.add_argument("--out", default="rlnas-model", help="folder of the saved model [%(default)s]")
    r.add_argument(
        "--artifact-dir", help="artifact folder [SQLite: <file stem>_artifacts; else here]"
    )
    _device_args(r, precision_default="auto")
    r.set_defaults(handler=cmd_run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rlnas`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "cost", None) is not None and getattr(args, "target", None) is None:
        parser.error("--cost needs --target")
    try:
        return args.handler(args)
    except CLIError as exc:
        sys.stderr.write(f"rlnas: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("rlnas: interrupted\n")
        return 130
    except Exception as exc:  # a database fault (read-only, corrupt, gone): one line too
        reason = _storage.database_error(exc)
        if reason is None:
            raise  # a bug: its traceback is what a report needs
        sys.stderr.write(f"rlnas: error: cannot use storage {mask_url(args.storage)!r}: {reason}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
