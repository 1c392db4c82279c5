"""The ``rlnas`` command: ``search``, ``best`` and ``dashboard``.

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


def _make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    from optuna_rlnas import RLNASSampler  # imported here: `rlnas --help` stays light
    from optuna_rlnas import paper_reward

    # The controller's reward is the trial's value cubed (Sec. 4.1).
    return RLNASSampler(seed=seed, reward_fn=paper_reward)


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
    search = None if _may_hold_study(args.storage) else build_search(resolve_config(args, None))
    storage = make_storage(
        args.storage,
        heartbeat_interval=args.heartbeat_interval or None,  # 0 turns heartbeats off
        grace_period=args.grace_period,
        max_retry=args.max_retry,
    )
    worker = _Worker(args.seed)
    sampler = _make_sampler(args.sampler, worker.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, search, joined = open_study(storage, args, search, sampler, _make_pruner(args.pruner))
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
        training=search.training,
        reward=search.reward,
        seed=search.config["study_seed"],
        max_params=search.config["max_params"],
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
    return 0


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
    parsed = _check_url(args.storage)
    path = _storage.sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is None:
        return None
    default = os.path.splitext(path)[0] + "_artifacts"
    return default if os.path.isdir(default) else None


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
    commands = parser.add_subparsers(dest="command", metavar="{search,best,dashboard}")

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
    d.add_argument("--port", type=_integer(1, 65535), default=8080, help="[%(default)s]")
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
    except Exception as exc:  # a database fault (read-only, corrupt, gone): one line too
        reason = _storage.database_error(exc)
        if reason is None:
            raise  # a bug: its traceback is what a report needs
        sys.stderr.write(f"rlnas: error: cannot use storage {mask_url(args.storage)!r}: {reason}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
