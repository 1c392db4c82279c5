"""The dashboard's optional dependencies (optuna-dashboard, plotly), imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

INSTALL_HINT = (
    'the dashboard needs optuna-dashboard and plotly: pip install "optuna-rlnas[dashboard]"'
)


def require(module: str) -> Any:
    """Import ``module`` or fail with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{exc.name} is missing; {INSTALL_HINT}.") from exc
