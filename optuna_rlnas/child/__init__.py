"""Child networks: the paper's CNN search space, the network, its Lightning training, and the
saved model a search hands over (``save`` / ``load``).

The search space and the network need only torch and Optuna. The Lightning parts (data
modules, the LightningModule, the objective) are imported on first use, so that
``import optuna_rlnas.child`` stays light; without the ``lightning`` extra they fail with an
install hint.
"""

from __future__ import annotations

import importlib
from typing import Any

from optuna_rlnas.child._architecture import ACTIVATIONS
from optuna_rlnas.child._architecture import Architecture
from optuna_rlnas.child._architecture import LayerSpec
from optuna_rlnas.child._attributes import ARCHITECTURE_KEY
from optuna_rlnas.child._attributes import record_architecture
from optuna_rlnas.child._attributes import trial_architecture
from optuna_rlnas.child._network import ChildNet
from optuna_rlnas.child._search_space import NUM_LAYERS_PARAM
from optuna_rlnas.child._search_space import CNNSearchSpace
from optuna_rlnas.child._search_space import DepthCurriculum
from optuna_rlnas.child._search_space import suggest_architecture

# Public names that need Lightning, and the private module that defines each.
_LAZY = {
    "ChildModule": "_lightning",
    "TrainingConfig": "_lightning",
    "CIFAR10DataModule": "_data",
    "DatasetNotFoundError": "_data",
    "DigitsDataModule": "_data",
    "FashionMNISTDataModule": "_data",
    "ImageDataModule": "_data",
    "make_datamodule": "_data",
    "RewardConfig": "_objective",
    "make_objective": "_objective",
    "BudgetPlan": "_budget",
    "FINAL_TRAINING": "_final",
    "evaluate": "_final",
    "load": "_export",
    "save": "_export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"optuna_rlnas.child.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optuna_rlnas.child' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURE_KEY",
    "BudgetPlan",
    "FINAL_TRAINING",
    "NUM_LAYERS_PARAM",
    "Architecture",
    "CIFAR10DataModule",
    "CNNSearchSpace",
    "ChildModule",
    "ChildNet",
    "DatasetNotFoundError",
    "DepthCurriculum",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "LayerSpec",
    "RewardConfig",
    "TrainingConfig",
    "make_datamodule",
    "evaluate",
    "load",
    "make_objective",
    "record_architecture",
    "save",
    "suggest_architecture",
    "trial_architecture",
]
