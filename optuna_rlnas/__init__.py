"""optuna-rlnas: Neural Architecture Search with reinforcement learning as an Optuna sampler.

The supported import paths: this package for the sampler and its parts (below),
``optuna_rlnas.child`` for the child networks (Lightning), ``optuna_rlnas.storage`` for
databases and workers, ``optuna_rlnas.dashboard`` for the dashboard. Importing this package
does not import Lightning, ``optuna_rlnas.child`` or plotly, nor torch until a name of the
sampler is used.
"""

import importlib
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from optuna_rlnas._config import ControllerConfig
    from optuna_rlnas._config import UpdateConfig
    from optuna_rlnas._controller import Controller
    from optuna_rlnas._decision import Decision
    from optuna_rlnas._learner import paper_reward
    from optuna_rlnas._model import ModelConfig
    from optuna_rlnas._naming import layer_param
    from optuna_rlnas._naming import parse_param_name
    from optuna_rlnas._naming import skip_param
    from optuna_rlnas._recommend import recommended_trial
    from optuna_rlnas._reinforce import Reinforce
    from optuna_rlnas._sampler import RLNASSampler

# Each public name and its module, imported on first use (PEP 562): the command line and the
# storage helpers then start without torch, which only the sampler needs.
_MODULES = {
    "ControllerConfig": "optuna_rlnas._config",
    "UpdateConfig": "optuna_rlnas._config",
    "Controller": "optuna_rlnas._controller",
    "Decision": "optuna_rlnas._decision",
    "paper_reward": "optuna_rlnas._learner",
    "ModelConfig": "optuna_rlnas._model",
    "layer_param": "optuna_rlnas._naming",
    "parse_param_name": "optuna_rlnas._naming",
    "skip_param": "optuna_rlnas._naming",
    "recommended_trial": "optuna_rlnas._recommend",
    "Reinforce": "optuna_rlnas._reinforce",
    "RLNASSampler": "optuna_rlnas._sampler",
}

__version__ = "0.1.0"

__all__ = [
    "Controller",
    "ControllerConfig",
    "Decision",
    "ModelConfig",
    "RLNASSampler",
    "Reinforce",
    "UpdateConfig",
    "layer_param",
    "paper_reward",
    "parse_param_name",
    "recommended_trial",
    "skip_param",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'optuna_rlnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
