"""The ``rlnas`` command: ``search``, ``best`` and ``dashboard``.

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
    "batch_size": 64,
    "lr": 3e-3,
    "num_layers": 6,
    "filters": "24,36,48,64",
    "filter_sizes": "1,3,5,7",
    "strides": "1,2,3",
    "activations": "relu",
    "max_params": None,
    "cost": None,
    "target": None,
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


def _make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
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
    # The controller learns from the validation accuracy cubed (Sec. 4.1).
    return RLNASSampler(seed=seed, reward_fn=paper_reward)


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
    sampler = _make_sampler(args.sampler, config["seed"] if sampler_seed is None else sampler_seed)

    from optuna_rlnas.child import make_objective

    objective = make_objective(
        datamodule,
        space=space,
        training=training,
        reward=reward,
        seed=config["seed"],
        max_params=config["max_params"],
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
    return 0


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
    commands = parser.add_subparsers(dest="command", metavar="{search,best,dashboard}")

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
    s.set_defaults(handler=cmd_search)

    b = commands.add_parser("best", help="retrain the best architecture and test it")
    storage_args(b)
    b.add_argument("--epochs", type=_positive_int, help="[as in the search]")
    b.add_argument(
        "--train-subset", type=_non_negative_int, help="[as in the search; 0 = all images]"
    )
    b.set_defaults(handler=cmd_best)

    d = commands.add_parser("dashboard", help="optuna-dashboard on 127.0.0.1")
    storage_args(d, study=False)
    d.add_argument("--port", type=_positive_int, default=8080, help="[%(default)s]")
    d.add_argument("--artifact-dir", help="artifact folder [SQLite: <file stem>_artifacts]")
    d.set_defaults(handler=cmd_dashboard)
    return parser


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
