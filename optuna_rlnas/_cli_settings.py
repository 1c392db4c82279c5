"""The settings of an ``rlnas search`` study: written once, read by every worker.

The settings define the reward (dataset, folder, epochs, split, recipe, search space), so every
worker of a study must train alike. They live in the study's user attribute ``rlnas_config``
(:data:`CONFIG_ATTR`). Workers may start together on a new database: each one creates or loads
the study and *inserts* its settings; the database's unique (study, key) constraint lets exactly
one insert win, and every worker then reads the stored settings back and uses them. A worker's
own options must agree with them (it takes the study's value for every option it does not give).

``study_seed`` seeds the train/validation split and each child; it is a setting of the study.
A worker's sampler has its own seed (``rlnas search --seed``), which is not a setting.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from optuna_rlnas import _optuna_private as _private

DEFAULT_STORAGE = "sqlite:///rlnas.db"
DEFAULT_STUDY = "rlnas"
CONFIG_ATTR = "rlnas_config"  # study user attribute holding the search's settings
SEARCH_DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "data_dir": None,
    "epochs": 5,
    "study_seed": 0,
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
FRESH_HINT = "to start a fresh search use --study-name NEW or another --storage"


class CLIError(Exception):
    """Bad input or a fault: printed as ``rlnas: error: <message>``, exit status 2."""


def find_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study | None:
    """The study of that name in ``storage``, or ``None``."""
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return optuna.load_study(study_name=name, storage=storage)


@dataclass
class Search:
    """What a search's settings build: validated, the data loaded and split."""

    config: dict[str, Any]
    datamodule: Any  # optuna_rlnas.child.ImageDataModule
    space: Any  # optuna_rlnas.child.CNNSearchSpace
    training: Any  # optuna_rlnas.child.TrainingConfig
    reward: Any  # optuna_rlnas.child.RewardConfig

    def split_fingerprint(self) -> str:
        """12 hex digits identifying the train/validation split (validation images and labels,
        training labels, in order): equal in every worker that trains on the same split."""
        digest = hashlib.sha256()
        dm = self.datamodule
        for tensor in (*dm.val_set.tensors, dm.train_set.tensors[1]):
            digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()[:12]


def _int_list(name: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise CLIError(f"--{name} must be comma-separated integers, but got {text!r}") from None


def _curriculum(text: str | None) -> Any:
    """The ``DepthCurriculum`` of a ``START:STEP:EVERY`` setting (``rlnas search --curriculum``)."""
    if not text:
        return None
    from optuna_rlnas.child import DepthCurriculum

    return DepthCurriculum(*(int(v) for v in text.split(":")))


def stored_settings(study: optuna.Study) -> dict[str, Any] | None:
    """The study's settings, completed with the defaults; ``None`` if it has none."""
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is None:
        return None
    if not isinstance(stored, dict):
        raise CLIError(f"study {study.study_name!r} holds unreadable settings: {stored!r}")
    return dict(SEARCH_DEFAULTS, **stored)


def resolve_config(args: argparse.Namespace, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The settings a worker runs with: the study's, or the defaults, with its options on top.

    Raises :class:`CLIError` when an option given differs from the study's value.
    """
    config = dict(SEARCH_DEFAULTS) if stored is None else dict(stored)
    conflicts = []
    for key in SEARCH_DEFAULTS:
        given = getattr(args, key, None)
        if given is None:
            continue
        if key == "data_dir":
            given = os.path.abspath(given)
        if stored is not None and stored.get(key) != given:
            conflicts.append(f"--{key.replace('_', '-')} {given} (study has {stored.get(key)})")
        config[key] = given
    if conflicts:
        raise CLIError(
            f"study {args.study_name!r} was started with other settings: {'; '.join(conflicts)}; "
            f"{FRESH_HINT}"
        )
    return config


def build_search(config: dict[str, Any], *, merge_validation: bool = False) -> Search:
    """Data module (loaded and split), search space and recipes from settings; validates all."""
    from optuna_rlnas.child import CNNSearchSpace
    from optuna_rlnas.child import RewardConfig
    from optuna_rlnas.child import TrainingConfig
    from optuna_rlnas.child import make_datamodule

    kwargs: dict[str, Any] = dict(
        batch_size=config["batch_size"],
        seed=config["study_seed"],
        train_subset=config["train_subset"],
        merge_validation=merge_validation,
    )
    if config["val_size"] is not None:
        kwargs["val_size"] = config["val_size"]
    try:
        space = CNNSearchSpace(
            num_layers=config["num_layers"],
            filters=_int_list("filters", config["filters"]),
            filter_sizes=_int_list("filter-sizes", config["filter_sizes"]),
            strides=_int_list("strides", config["strides"]),
            activations=tuple(config["activations"].split(",")),
            curriculum=_curriculum(config["curriculum"]),
        )
        training = TrainingConfig(epochs=config["epochs"], learning_rate=config["lr"])
        reward = RewardConfig(cost=config["cost"], target=config["target"])
        datamodule = make_datamodule(config["dataset"], config["data_dir"], **kwargs)
        datamodule.prepare_data()
        datamodule.setup("fit")  # reads the files: junk fails here, before any study exists
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc).rstrip(".")) from None
    return Search(config, datamodule, space, training, reward)


def open_study(
    storage: optuna.storages.RDBStorage,
    args: argparse.Namespace,
    search: Search | None,
    sampler_for: Callable[[dict[str, Any]], optuna.samplers.BaseSampler],
    pruner: optuna.pruners.BasePruner,
) -> tuple[optuna.Study, Search, bool]:
    """Create or join the study; returns it (its sampler made by ``sampler_for`` from the
    settings, which decide the reward's form), the search its stored settings build, and whether
    it existed before (another worker may have created it a moment ago)."""
    existing = find_study(storage, args.study_name)
    stored = None
    if existing is not None:
        if existing.directions != [optuna.study.StudyDirection.MAXIMIZE]:
            directions = ", ".join(d.name.lower() for d in existing.directions)
            raise CLIError(
                f"study {args.study_name!r} does not maximise one value ({directions}), as "
                f"rlnas search does; {FRESH_HINT}"
            )
        stored = stored_settings(existing)
    config = resolve_config(args, stored)
    if search is None or search.config != config:
        search = build_search(config)  # before the study is created
    study = optuna.create_study(
        storage=storage,
        study_name=args.study_name,
        sampler=sampler_for(config),
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )
    # Attempted by every worker, even when the settings exist: of workers started together
    # exactly one insert wins, and on a read-only database this write fails before any trial.
    if not _private.add_study_user_attr_if_absent(study, CONFIG_ATTR, config):
        config = resolve_config(args, stored_settings(study))
        if config != search.config:  # another worker's settings won
            search = build_search(config)
            study.sampler = sampler_for(config)
    return study, search, existing is not None
