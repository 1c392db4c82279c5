"""What a benchmark problem is: the record every problem module builds and the runner reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

Objective = Callable[[optuna.Trial], float]


class ProblemUnavailable(RuntimeError):
    """The problem's dependency is missing; the runner skips it with this message."""


def json_key(params: dict[str, Any]) -> str:
    """A canonical string of a trial's parameters: equal parameters, equal keys."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class Problem:
    """A maximised problem.

    Args:
        name: The name the runner and the report use.
        optimum: The best noise-free value, or ``None`` when unknown (no regret then).
        make_objective: ``seed -> objective``; the seed drives observation noise only.
        true_value: The noise-free value of a trial's parameters, for regret.
        description: One line for the docs.
        value_scale: The value of a perfect accuracy (100 for percentages, 1 for fractions), or
            ``None`` when the value is not an accuracy (the paper's reward, accuracy cubed,
            does not apply).
        key: A canonical string of a trial's parameters (same architecture, same key), to
            count repeated architectures.
        min_regret: The smallest positive regret (the runner-up's), where known: the
            resolution of regret, which the report uses as its floor.
    """

    name: str
    optimum: float | None
    make_objective: Callable[[int], Objective]
    true_value: Callable[[dict[str, Any]], float]
    description: str = ""
    value_scale: float | None = 1.0
    key: Callable[[dict[str, Any]], str] = json_key
    min_regret: float | None = None
