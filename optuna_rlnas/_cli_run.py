"""``rlnas run``: search on a proxy, then retrain the best architectures, pick one, test it
and save it, within a wall-clock budget (docs/child-networks.md, "A search with a budget").

The phases themselves live in ``optuna_rlnas.child._budget``; here the options become its parts,
and the times and results become lines.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

import optuna
from optuna.trial import TrialState

from optuna_rlnas import storage as _storage
from optuna_rlnas._cli_common import check_url
from optuna_rlnas._cli_common import device_options
from optuna_rlnas._cli_common import make_sampler
from optuna_rlnas._cli_common import make_storage
from optuna_rlnas._cli_common import name_metric
from optuna_rlnas._cli_common import value_name
from optuna_rlnas._cli_settings import CLIError
from optuna_rlnas._cli_settings import _int_list
from optuna_rlnas._cli_settings import find_study
from optuna_rlnas.storage import mask_url

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
    device = device_options(args)
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
    check_url(args.storage)
    parts = _run_parts(args)
    storage = make_storage(args.storage, heartbeat_interval=None)  # one process: no heartbeats
    for name in (args.study_name, f"{args.study_name}-final"):
        if find_study(storage, name) is not None:
            raise CLIError(
                f"study {name!r} exists in {mask_url(args.storage)!r}; a budgeted run starts "
                "fresh: give another --study-name"
            )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return _run_phases(args, parts, storage, start)
    except KeyboardInterrupt:
        # Ctrl-C may land while Optuna creates or records a trial, which leaves it RUNNING
        # with nobody to end it (this command has no heartbeats). Both studies are this
        # process's own (refused above if they existed), so what still runs is failed here.
        failed = _fail_running(storage, [args.study_name, f"{args.study_name}-final"])
        if failed:
            print(f"interrupted: marked FAIL: {', '.join(failed)}; finished trials are kept")
        raise


def _fail_running(storage: optuna.storages.BaseStorage, names: list[str]) -> list[str]:
    """Fail the RUNNING trials of the studies ``names`` (those that exist), with Ctrl-C held
    off meanwhile; returns them as ``study #number``."""
    previous = _hold_ctrl_c()
    try:
        failed = []
        for name in names:
            if find_study(storage, name) is None:
                continue
            study = optuna.load_study(study_name=name, storage=storage)
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                study.tell(trial.number, state=TrialState.FAIL)
                failed.append(f"{name} #{trial.number}")
        return failed
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _hold_ctrl_c() -> Any:
    """Ignore Ctrl-C (main thread only); returns the handler to restore, or ``None``."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_phases(
    args: argparse.Namespace,
    parts: dict[str, Any],
    storage: optuna.storages.BaseStorage,
    start: float,
) -> int:
    study = _run_search(args, parts, storage, start)
    search = (_search_label(study), time.monotonic() - start)

    from optuna_rlnas.child._budget import run_final_phase

    final_study = optuna.create_study(
        storage=storage, study_name=f"{args.study_name}-final", direction="maximize"
    )
    name_metric(final_study, value_name())
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
        sampler=make_sampler(args.sampler, args.seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs),
        direction="maximize",
    )
    name_metric(study, value_name())  # the objective's default RewardConfig
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
