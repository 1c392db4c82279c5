"""optuna-rlnas: Neural Architecture Search with reinforcement learning as an Optuna sampler."""

from optuna_rlnas._controller import Controller
from optuna_rlnas._controller import ControllerConfig
from optuna_rlnas._controller import Decision
from optuna_rlnas._model import ModelConfig
from optuna_rlnas._naming import layer_param
from optuna_rlnas._naming import parse_param_name
from optuna_rlnas._naming import skip_param
from optuna_rlnas._recommend import recommended_trial
from optuna_rlnas._reinforce import Reinforce
from optuna_rlnas._reinforce import UpdateConfig
from optuna_rlnas._resume import finish_worker
from optuna_rlnas._resume import record_worker_state
from optuna_rlnas._resume import worker_states
from optuna_rlnas._sampler import RLNASSampler
from optuna_rlnas._sampler import paper_reward
from optuna_rlnas.child import Architecture
from optuna_rlnas.child import ChildNet
from optuna_rlnas.child import CNNSearchSpace
from optuna_rlnas.child import DepthCurriculum
from optuna_rlnas.child import LayerSpec
from optuna_rlnas.child import suggest_architecture

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "CNNSearchSpace",
    "ChildNet",
    "DepthCurriculum",
    "LayerSpec",
    "suggest_architecture",
    "Controller",
    "ControllerConfig",
    "Decision",
    "ModelConfig",
    "RLNASSampler",
    "Reinforce",
    "finish_worker",
    "record_worker_state",
    "worker_states",
    "UpdateConfig",
    "layer_param",
    "paper_reward",
    "recommended_trial",
    "parse_param_name",
    "skip_param",
    "__version__",
]
