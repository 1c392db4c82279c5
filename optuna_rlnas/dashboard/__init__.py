"""See the search in optuna-dashboard: the controller's learning and the best child.

:class:`DashboardCallback` is a ``study.optimize`` callback that, every few trials, saves four
plotly figures to the study through optuna-dashboard's own API (they are study system attributes,
so they work with any storage and every worker sees them) and a markdown note:

* reward and baseline over trials (:func:`reward_figure` of :func:`reward_points`);
* the policy's entropy over controller updates (:func:`entropy_figure` of
  :func:`entropy_by_update`);
* the current policy's probabilities at every decision of the best trial, one small heatmap per
  kind of decision (:func:`policy_figure` of :func:`policy_along`);
* the best architecture so far, drawn as layers and skip connections
  (:func:`architecture_figure`).

The package has one module per job, importing one way: ``_data`` reads the study and the
sampler; ``_figures``, ``_policy`` and ``_architecture`` draw plain values; ``_callback`` joins
them; ``_deps`` imports the optional dependencies. optuna-dashboard and plotly are optional
(``pip install "optuna-rlnas[dashboard]"``); they are imported on first use.
"""

from __future__ import annotations

from optuna_rlnas.dashboard._architecture import architecture_figure
from optuna_rlnas.dashboard._callback import FIGURE_IDS
from optuna_rlnas.dashboard._callback import DashboardCallback
from optuna_rlnas.dashboard._data import DecisionPolicy
from optuna_rlnas.dashboard._data import PolicyAlongTrial
from optuna_rlnas.dashboard._data import RewardPoint
from optuna_rlnas.dashboard._data import entropy_by_update
from optuna_rlnas.dashboard._data import policy_along
from optuna_rlnas.dashboard._data import reward_points
from optuna_rlnas.dashboard._figures import entropy_figure
from optuna_rlnas.dashboard._figures import reward_figure
from optuna_rlnas.dashboard._policy import policy_figure

__all__ = [
    "FIGURE_IDS",
    "DashboardCallback",
    "DecisionPolicy",
    "PolicyAlongTrial",
    "RewardPoint",
    "architecture_figure",
    "entropy_by_update",
    "entropy_figure",
    "policy_along",
    "policy_figure",
    "reward_figure",
    "reward_points",
]
