"""The ``rlnas`` command: ``search``, ``run``, ``best`` and ``dashboard``.

Bad input (an unknown dataset, a missing data folder, a malformed storage URL, a study that does
not exist) ends with one line ``rlnas: error: ...`` on stderr and exit status 2, before any study
is created or changed. Passwords in storage URLs are never printed. Ctrl-C ends a search
cleanly: every finished trial stays in the storage, the interrupted one is marked failed, and the
exit status is 130.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import optuna

DEFAULT_STORAGE = "sqlite:///rlnas.db"
DEFAULT_STUDY = "rlnas"
CONFIG_ATTR = "rlnas_config"  # study user attribute holding the search's settings

# Settings that define the reward; a process joining a study takes the study's values for
# those it does not give, and refuses values that differ (every worker must train alike).
SEARCH_DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "data_dir": None,
    "epochs": 5,
    "seed": 0,
    "train_subset": None,
    "val_size": None,  # the data module's default: 0.2 for digits, 0.1 otherwise
    "batch_size": 32,
    "lr": 0.1,  # SGD with Nesterov momentum (TrainingConfig's default optimiser)
    "num_layers": 6,
    "filters": "24,36,48,64",
    "filter_sizes": "1,3,5,7",
    "strides": "1,2,3",
    "activations": "relu",
    "max_params": None,
    "cost": None,
    "target": None,
    "curriculum": None,  # "START:STEP:EVERY" (DepthCurriculum), from --curriculum START
    "max_latency_ms": None,
}


class CLIError(Exception):
    """Bad input: printed as ``rlnas: error: <message>``, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block, no traceback
        sys.stderr.write(f"rlnas: error: {message}\n")
        raise SystemExit(2)


# --- storage --------------------------------------------------------------------------------

_PASSWORD_RE = re.compile(r"(?P<head>://[^:/@\s]*:)[^@\s]*@")


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, parsable or not."""
    return _PASSWORD_RE.sub(r"\g<head>***@", url)


def check_storage_url(url: str, *, must_exist: bool = False) -> None:
    """Validate a storage URL without connecting; raise :class:`CLIError` on bad input.

    ``must_exist`` refuses an SQLite file that does not exist yet (``best``, ``dashboard``),
    so that reading never creates a database.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.exc import NoSuchModuleError

    shown = mask_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise CLIError(
            f"malformed storage URL {shown!r}: expected e.g. sqlite:///rlnas.db or "
            "postgresql://user:password@host/database"
        ) from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise CLIError(
            f"unknown database {parsed.drivername!r} in storage URL {shown!r}: "
            "use sqlite:///FILE, postgresql://... or mysql://..."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise CLIError(
                f"storage URL {shown!r} names no SQLite file: use e.g. sqlite:///rlnas.db"
            )
        folder = os.path.dirname(os.path.abspath(database))
        if not os.path.isdir(folder):
            raise CLIError(f"the folder of the SQLite file in {shown!r} does not exist: {folder}")
        if must_exist and not os.path.isfile(database):
            raise CLIError(f"no database at {shown!r}: run 'rlnas search' first")


def make_storage(
    url: str, *, must_exist: bool = False, **heartbeat: Any
) -> optuna.storages.BaseStorage:
    """The Optuna storage for ``url``, validated first (the single place storages are built).

    ``heartbeat``: ``heartbeat_interval``, ``grace_period``, ``max_retry`` of
    :func:`optuna_rlnas.storage.make_storage` (its defaults when not given).
    """
    check_storage_url(url, must_exist=must_exist)
    try:  # the scale-out storage (heartbeats, retries of dead workers' trials) when present
        from optuna_rlnas.storage import make_storage as build
    except ImportError:
        build = optuna.storages.RDBStorage
        heartbeat = {}
    try:
        return build(url, **heartbeat)
    except ValueError as exc:  # invalid heartbeat settings; the message masks the password
        raise CLIError(str(exc).rstrip(".")) from None
    except ConnectionError as exc:  # optuna_rlnas.storage's: names the URL, masked
        raise CLIError(mask_url(str(exc))) from None
    except ImportError as exc:
        raise CLIError(
            f"the database driver for {mask_url(url)!r} is missing ({exc.name or exc}); "
            'for PostgreSQL: pip install "optuna-rlnas[postgres]"'
        ) from None
    except Exception as exc:  # sqlalchemy's OperationalError and friends
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CLIError(f"cannot open storage {mask_url(url)!r}: {mask_url(reason)}") from None


def _study_exists(storage: optuna.storages.BaseStorage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True


def _load_study(storage: optuna.storages.BaseStorage, name: str, url: str) -> optuna.Study:
    if not _study_exists(storage, name):
        names = [s.study_name for s in storage.get_all_studies()]
        known = f"; studies there: {', '.join(names)}" if names else "; it holds no study"
        raise CLIError(f"no study named {name!r} in {mask_url(url)!r}{known}")
    return optuna.load_study(study_name=name, storage=storage)


# --- search ---------------------------------------------------------------------------------


def _int_list(name: str, text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise CLIError(f"--{name} must be comma-separated integers, but got {text!r}") from None
    return values


def _resolve_config(args: argparse.Namespace, stored: dict[str, Any] | None) -> dict[str, Any]:
    config = dict(SEARCH_DEFAULTS) if stored is None else dict(SEARCH_DEFAULTS, **stored)
    conflicts = []
    for key in SEARCH_DEFAULTS:
        given = getattr(args, key, None)
        if given is None or (key == "seed" and stored is not None):
            continue  # a joining process's --seed seeds its sampler only
        if key == "data_dir":
            given = os.path.abspath(given)
        if stored is not None and stored.get(key) != given:
            conflicts.append(f"--{key.replace('_', '-')} {given} (study has {stored.get(key)})")
        config[key] = given
    if conflicts:
        raise CLIError(
            f"study {args.study_name!r} was started with other settings: {'; '.join(conflicts)}"
        )
    return config


def _build_search(config: dict[str, Any], *, merge_validation: bool = False):
    """Data module, search space and training recipe from a search config; validates them."""
    from optuna_rlnas.child import CNNSearchSpace
    from optuna_rlnas.child import RewardConfig
    from optuna_rlnas.child import TrainingConfig
    from optuna_rlnas.child import make_datamodule

    kwargs: dict[str, Any] = dict(
        batch_size=config["batch_size"],
        seed=config["seed"],
        train_subset=config["train_subset"],
        merge_validation=merge_validation,
    )
    if config["val_size"] is not None:
        val = config["val_size"]
        kwargs["val_size"] = float(val) if val < 1 else int(val)
    try:
        datamodule = make_datamodule(config["dataset"], config["data_dir"], **kwargs)
        datamodule.check_files()
        space = CNNSearchSpace(
            num_layers=config["num_layers"],
            filters=_int_list("filters", config.get("filters", "24,36,48,64")),
            filter_sizes=_int_list("filter-sizes", config.get("filter_sizes", "1,3,5,7")),
            strides=_int_list("strides", config["strides"]),
            activations=tuple(config["activations"].split(",")),
        )
        training = TrainingConfig(epochs=config["epochs"], learning_rate=config["lr"])
        reward = RewardConfig(cost=config["cost"], target=config["target"])
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc).rstrip(".")) from None
    return datamodule, space, training, reward


def _make_sampler(name: str, seed: int, cost: str | None = None) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    try:
        from optuna_rlnas import RLNASSampler  # imported here: the CLI works without it
        from optuna_rlnas import paper_reward
    except ImportError:
        raise CLIError(
            "the RL sampler is not available in this installation; use --sampler tpe or random"
        ) from None
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


class _DropInterruptTraceback(logging.Filter):
    # Optuna logs the trial that Ctrl-C interrupted with a traceback; the summary says enough.
    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        return not (info and info[0] is not None and issubclass(info[0], KeyboardInterrupt))


def _progress(total: int | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="trial", desc="rlnas search", dynamic_ncols=True)


def _summary(study: optuna.Study, url: str, name: str) -> None:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    done = states.count(optuna.trial.TrialState.COMPLETE)
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    print(f"{done} complete and {pruned} pruned trials in study {name!r} at {mask_url(url)}")
    if done == 0:
        print("no complete trial yet, so no best architecture")
        return
    best = study.best_trial
    accuracy = best.user_attrs.get("val_acc", best.value)
    print(
        f"best trial: #{best.number}, validation accuracy {accuracy:.4f}, reward {best.value:.4f}"
    )
    print(f"best architecture ({best.user_attrs.get('n_params', '?')} parameters):")
    print(f"  {best.user_attrs.get('architecture', best.params)}")
    storage = "" if url == DEFAULT_STORAGE else f" --storage '{mask_url(url)}'"
    print(f"open the dashboard: rlnas dashboard{storage}")
    print(f"test the best architecture: rlnas best{storage} --study-name {name}")


def cmd_search(args: argparse.Namespace) -> int:
    check_storage_url(args.storage)  # before anything is created
    _expand_curriculum(args)
    device = _device_options(args)
    # Settings first checked against the defaults, so a bad dataset folder fails before storage.
    config = _resolve_config(args, None) if not _may_hold_study(args) else None
    if config is not None:
        _build_search(config)
    storage = make_storage(
        args.storage,
        heartbeat_interval=args.heartbeat_interval or None,  # 0 turns heartbeats off
        grace_period=args.grace_period,
        max_retry=args.max_retry,
    )
    stored = None
    sampler_seed = args.seed
    if _study_exists(storage, args.study_name):
        study = optuna.load_study(study_name=args.study_name, storage=storage)
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise CLIError(f"study {args.study_name!r} minimises; rlnas needs a maximising study")
        stored = study.user_attrs.get(CONFIG_ATTR)
        if sampler_seed is None:  # a joining worker draws differently from the first one
            sampler_seed = (stored or {}).get("seed", 0) + len(study.trials)
    config = _resolve_config(args, stored)
    datamodule, space, training, reward = _build_search(config)
    space, training = _with_search_options(config, device, space, training)
    seed = config["seed"] if sampler_seed is None else sampler_seed
    sampler = _make_sampler(args.sampler, seed, config["cost"])

    from optuna_rlnas.child import make_objective

    objective = make_objective(
        datamodule,
        space=space,
        training=training,
        reward=reward,
        seed=config["seed"],
        max_params=config["max_params"],
        max_latency_ms=config["max_latency_ms"],
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage,
        study_name=args.study_name,
        sampler=sampler,
        pruner=_make_pruner(args.pruner),
        direction="maximize",
        load_if_exists=True,
    )
    if stored is None:
        study.set_user_attr(CONFIG_ATTR, config)
    shown = mask_url(args.storage)
    print(f"searching {datamodule.describe()}; sampler {args.sampler}; storage {shown}")

    log_filter = _DropInterruptTraceback()
    handlers = logging.getLogger("optuna").handlers  # filters on handlers see child loggers
    for handler in handlers:
        handler.addFilter(log_filter)
    bar = _progress(args.n_trials)

    def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        bar.update(1)
        if trial.state == optuna.trial.TrialState.PRUNED and "invalid_reason" in trial.user_attrs:
            bar.write(f"trial {trial.number} pruned: {trial.user_attrs['invalid_reason']}")
        try:
            bar.set_postfix(best=f"{study.best_value:.4f}", refresh=False)
        except ValueError:
            pass

    dashboard = _dashboard_callbacks(study, sampler, args.dashboard_every, reward)
    interrupted = False
    start = time.perf_counter()
    try:
        from optuna_rlnas.storage import optimize  # rides out a database restart

        optimize(
            study,
            objective,
            n_trials=args.n_trials,
            timeout=args.timeout,
            callbacks=[on_trial, *dashboard],
            catch=(Exception,),
        )
    except KeyboardInterrupt:
        interrupted = True
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
    if interrupted:
        print(f"interrupted after {elapsed:.1f} s; the finished trials are kept")
    else:
        print(f"search took {elapsed:.1f} s")
    _summary(study, args.storage, args.study_name)
    return 130 if interrupted else 0


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


def _with_search_options(
    config: dict[str, Any], device: dict[str, Any], space: Any, training: Any
) -> tuple[Any, Any]:
    """The search space with the study's curriculum, the recipe with this worker's devices."""
    from dataclasses import replace

    from optuna_rlnas.child import DepthCurriculum

    if config.get("curriculum"):
        start, step, every = (int(v) for v in config["curriculum"].split(":"))
        try:
            space = replace(space, curriculum=DepthCurriculum(start, step, every))
        except ValueError as exc:
            raise CLIError(str(exc).rstrip(".")) from None
    return space, replace(training, **device)


def _dashboard_callbacks(
    study: optuna.Study, sampler: optuna.samplers.BaseSampler, every: int, reward: Any
) -> list[Any]:
    """Name the study's objective, then make the controller's figures for optuna-dashboard
    (docs/dashboard.md) when they can be drawn.

    ``reward`` is the objective's ``RewardConfig``: the name says what the value is, so that
    optuna-dashboard and ``trials_dataframe`` show it instead of "Objective 0". A name already
    set (by a user, or an earlier worker) is kept.
    """
    if study.metric_names is None:
        name = "validation accuracy"  # RewardConfig's monitor, the best of the last epochs
        if reward.cost is not None:  # MnasNet's soft constraint (docs/cli.md)
            name += f" × ({reward.cost} / {reward.target:g})^{reward.weight:g}"
        with warnings.catch_warnings():  # experimental in Optuna 5, and the name is all we set
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([name])
    try:
        from optuna_rlnas import RLNASSampler
        from optuna_rlnas.dashboard import DashboardCallback

        if every and isinstance(sampler, RLNASSampler):
            return [DashboardCallback(sampler, every=every)]
    except ImportError as exc:  # optuna-dashboard or plotly missing: search without figures
        print(f"no controller figures: {exc}")
    return []


def _may_hold_study(args: argparse.Namespace) -> bool:
    # Joining an existing study takes its settings, so defaults cannot be validated up front.
    # An absent SQLite file certainly holds no study; other databases are checked after opening.
    from sqlalchemy.engine import make_url

    parsed = make_url(args.storage)
    if parsed.get_backend_name() == "sqlite":
        return os.path.isfile(parsed.database or "")
    return True


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
    """Where ``rlnas run`` uploads: ``given``, else ``<file stem>_artifacts`` beside an SQLite
    file (the folder ``rlnas dashboard`` serves by default), else ``rlnas_artifacts`` here."""
    if given:
        return given
    from sqlalchemy.engine import make_url

    parsed = make_url(storage_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        stem, _ = os.path.splitext(parsed.database)
        return f"{stem}_artifacts"
    return "rlnas_artifacts"


def cmd_run(args: argparse.Namespace) -> int:
    start = time.monotonic()
    check_storage_url(args.storage)
    parts = _run_parts(args)
    storage = make_storage(args.storage, heartbeat_interval=None)  # one process: no heartbeats
    for name in (args.study_name, f"{args.study_name}-final"):
        if _study_exists(storage, name):
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
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        raise CLIError(f"study {args.study_name!r} has no complete trial yet")
    best = study.best_trial
    if "architecture_json" not in best.user_attrs:
        raise CLIError(f"trial #{best.number} records no architecture: was it run by rlnas?")
    config = dict(SEARCH_DEFAULTS, **study.user_attrs.get(CONFIG_ATTR, {}))
    if args.epochs is not None:
        config["epochs"] = args.epochs
    if args.train_subset is not None:
        config["train_subset"] = args.train_subset or None  # 0 means the whole training set
    datamodule, _, training, _ = _build_search(config, merge_validation=True)

    from optuna_rlnas.child import Architecture
    from optuna_rlnas.child import ChildModule
    from optuna_rlnas.child import ChildNet
    from optuna_rlnas.child._lightning import make_trainer
    from optuna_rlnas.child._lightning import pl
    from optuna_rlnas.child._lightning import run_trainer

    architecture = Architecture.from_json(best.user_attrs["architecture_json"])
    datamodule.prepare_data()
    datamodule.setup("fit")
    pl.seed_everything(best.user_attrs.get("seed", config["seed"]), workers=True, verbose=False)
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


def cmd_dashboard(args: argparse.Namespace) -> int:
    storage = make_storage(args.storage, must_exist=True)
    try:
        import optuna_dashboard
        from optuna.artifacts import FileSystemArtifactStore
    except ImportError:
        raise CLIError(
            'the dashboard needs optuna-dashboard: pip install "optuna-rlnas[dashboard]"'
        ) from None
    # The artifacts (saved models, architecture images) live in a folder of their own; with
    # SQLite, by default <file stem>_artifacts next to the database file (docs/dashboard.md).
    folder = args.artifact_dir
    if folder is not None and not os.path.isdir(folder):
        raise CLIError(f"--artifact-dir must be an existing folder, but got {folder!r}")
    if folder is None:
        from sqlalchemy.engine import make_url

        url = make_url(args.storage)
        if url.get_backend_name() == "sqlite" and url.database:
            stem, _ = os.path.splitext(url.database)
            folder = stem + "_artifacts" if os.path.isdir(stem + "_artifacts") else None
    store = FileSystemArtifactStore(folder) if folder is not None else None
    print(f"dashboard of {mask_url(args.storage)} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
    print(f"artifacts from {folder}" if folder else "no artifact folder (--artifact-dir)")
    try:
        optuna_dashboard.run_server(storage, host="127.0.0.1", port=args.port, artifact_store=store)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise CLIError(f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    return 0


# --- parser ---------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, but got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, but got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``rlnas`` argument parser."""
    parser = _Parser(prog="rlnas", description="Neural Architecture Search with RL, on Optuna.")
    commands = parser.add_subparsers(dest="command", metavar="{search,run,best,dashboard}")

    def storage_args(p: argparse.ArgumentParser, study: bool = True) -> None:
        p.add_argument("--storage", default=DEFAULT_STORAGE, help="database URL [%(default)s]")
        if study:
            p.add_argument("--study-name", default=DEFAULT_STUDY, help="[%(default)s]")

    s = commands.add_parser("search", help="search architectures (joins an existing study)")
    s.add_argument("--dataset", choices=("digits", "fashion-mnist", "cifar10"), help="[digits]")
    s.add_argument("--data-dir", help="dataset folder (Fashion-MNIST: Debian's by default)")
    s.add_argument("--n-trials", type=_positive_int, default=20, help="[%(default)s]")
    s.add_argument("--timeout", type=_positive_float, help="stop after this many seconds")
    s.add_argument("--epochs", type=_positive_int, help="epochs per child [5]")
    s.add_argument("--sampler", choices=("rlnas", "tpe", "random"), default="rlnas")
    s.add_argument("--pruner", choices=("none", "median", "hyperband"), default="none")
    storage_args(s)
    s.add_argument("--seed", type=int, help="seeds the sampler, the data split, each trial [0]")
    s.add_argument("--train-subset", type=_positive_int, help="train on this many images only")
    s.add_argument("--val-size", type=_positive_float, help="validation fraction (<1) or count")
    s.add_argument("--batch-size", type=_positive_int, help="[64]")
    s.add_argument("--lr", type=_positive_float, help="learning rate [0.003]")
    s.add_argument("--num-layers", type=_positive_int, help="child depth [6]")
    s.add_argument("--filters", help="numbers of filters to choose from [24,36,48,64]")
    s.add_argument("--filter-sizes", help="filter heights and widths (odd) [1,3,5,7]")
    s.add_argument("--strides", help="stride choices, e.g. 1 to fix them [1,2,3]")
    s.add_argument("--activations", help="activation choices, e.g. relu,tanh,elu,gelu [relu]")
    s.add_argument("--max-params", type=_positive_int, help="prune children larger than this")
    s.add_argument("--cost", choices=("params", "latency"), help="MnasNet reward ACC*(cost/T)^w")
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
    d.add_argument("--port", type=_positive_int, default=8080, help="[%(default)s]")
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
