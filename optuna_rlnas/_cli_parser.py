"""The ``rlnas`` argument parser: each option, its check and its help; the commands' handlers.

Options are checked as they are parsed (an integer in range, a positive number, a name), so a
wrong one ends with one line and exit status 2 before anything is opened.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any
from typing import NoReturn

from optuna_rlnas._cli_best import cmd_best
from optuna_rlnas._cli_dashboard import cmd_dashboard
from optuna_rlnas._cli_run import RUN_PROXY
from optuna_rlnas._cli_run import cmd_run
from optuna_rlnas._cli_search import cmd_search
from optuna_rlnas._cli_settings import DEFAULT_STORAGE
from optuna_rlnas._cli_settings import DEFAULT_STUDY


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block, no traceback
        sys.stderr.write(f"rlnas: error: {message}\n")
        raise SystemExit(2)


def _trial_choice(text: str) -> str | int:
    """An argparse type: ``best``, ``recommended`` or a trial number."""
    if text in ("best", "recommended"):
        return text
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(
        f"must be best, recommended or a trial number, but got {text!r}"
    )


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
    b.add_argument(
        "--trial",
        type=_trial_choice,
        default="best",
        help="best (Optuna's best_trial), recommended (the reward model's best posterior mean) "
        "or a trial number [%(default)s]",
    )
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
