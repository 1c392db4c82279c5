"""optuna-rlnas: Neural Architecture Search with reinforcement learning as an Optuna sampler."""

from optuna_rlnas._naming import layer_param
from optuna_rlnas._naming import parse_param_name
from optuna_rlnas._naming import skip_param

__version__ = "0.1.0"

__all__ = [
    "layer_param",
    "parse_param_name",
    "skip_param",
    "__version__",
]
