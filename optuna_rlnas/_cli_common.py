"""What every ``rlnas`` command shares: the storage checked and opened, the study found, the
sampler and this worker's device options made, the study's value named.

Imported by the command modules (``_cli_search``, ``_cli_run``, ``_cli_best``,
``_cli_dashboard``), never the other way; it imports only ``_cli_settings`` and ``storage``.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

import optuna

from optuna_rlnas import storage as _storage
from optuna_rlnas._cli_settings import CLIError
from optuna_rlnas._cli_settings import find_study
from optuna_rlnas.storage import mask_url


def check_url(url: str, *, must_exist: bool = False) -> Any:
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
    check_url(url, must_exist=must_exist)
    try:
        return _storage.make_storage(url, **heartbeat)
    except (ValueError, ConnectionError) as exc:  # both name the URL with the password masked
        raise CLIError(str(exc).rstrip(".")) from None


def load_study(storage: optuna.storages.BaseStorage, name: str, url: str) -> optuna.Study:
    study = find_study(storage, name)
    if study is None:
        names = [s.study_name for s in storage.get_all_studies()]
        known = f"; studies there: {', '.join(names)}" if names else "; it holds no study"
        raise CLIError(f"no study named {name!r} in {mask_url(url)!r}{known}")
    return study


def may_hold_study(url: str) -> bool:
    # Joining a study takes its settings, so they cannot all be validated before opening it.
    # An absent SQLite file certainly holds no study; other databases are checked once open.
    parsed = check_url(url)
    if parsed.get_backend_name() == "sqlite":
        return os.path.isfile(_storage.sqlite_path(parsed) or "")
    return True


def make_sampler(name: str, seed: int, cost: str | None = None) -> optuna.samplers.BaseSampler:
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


def device_options(args: argparse.Namespace) -> dict[str, Any]:
    """This worker's device settings (not the study's: workers may differ), checked at once."""
    from optuna_rlnas.child import TrainingConfig

    options = {
        "precision": run_precision(getattr(args, "precision", None)),
        "channels_last": bool(getattr(args, "channels_last", False)),
        "compile": bool(getattr(args, "compile", False)),
        "device_index": getattr(args, "device_index", None),
    }
    try:
        TrainingConfig(**options).resolved_precision()  # a GPU asked for, none there
    except ValueError as exc:
        raise CLIError(str(exc).rstrip(".")) from None
    return options


def run_precision(choice: str | None) -> str | None:
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


def name_metric(study: optuna.Study, name: str) -> None:
    """Name what the trials' value is, so that optuna-dashboard and ``trials_dataframe`` show it
    instead of "Objective 0". A name already set (by a user, or an earlier worker) is kept."""
    if study.metric_names is not None:
        return
    with warnings.catch_warnings():  # experimental in Optuna 5, and the name is all we set
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([name])


def value_name(reward: Any = None) -> str:
    """What a trial's value is, for ``reward``, the objective's ``RewardConfig`` (``None``: the
    default one): the validation accuracy, times MnasNet's cost factor with a cost."""
    name = "validation accuracy"  # RewardConfig's monitor, the best of the last epochs
    if reward is not None and reward.cost is not None:  # MnasNet's soft constraint
        name += f" × ({reward.cost} / {reward.target:g})^{reward.weight:g}"
    return name
