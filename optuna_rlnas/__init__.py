"""optuna-rlnas: Neural Architecture Search with reinforcement learning as an Optuna sampler.

The supported import paths: this package for the sampler and its parts (below),
``optuna_rlnas.child`` for the child networks (Lightning), ``optuna_rlnas.storage`` for
databases and workers, ``optuna_rlnas.dashboard`` for the dashboard. Importing this package
does not import Lightning, ``optuna_rlnas.child`` or plotly.
"""

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
