"""The reward model that guides the controller (issue 11): no Optuna import, testable on arrays.

Imports run one way: ``encoding``, ``paths``, ``gp`` and ``acquisition`` are the maths;
``candidates`` draws from the controller; ``pool`` keeps one draw and its screening across
trials; ``guide`` uses them all; the sampler uses ``guide``.
"""

from optuna_rlnas._model.config import ModelConfig
from optuna_rlnas._model.gp import Prior
from optuna_rlnas._model.guide import ModelGuide
from optuna_rlnas._model.guide import Plan

__all__ = ["ModelConfig", "ModelGuide", "Plan", "Prior"]
