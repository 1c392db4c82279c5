"""The current policy along a trial, as small heatmaps grouped by kind of decision.

A paper-sized child (6 layers with skip connections) has 45 decisions; optuna-dashboard draws
each figure in a box 450 px high, where 45 rows of one heatmap are 7 px each and cannot carry a
label. Decisions named by the layer convention (:mod:`optuna_rlnas._naming`) are therefore
grouped: one panel per kind of decision (``filters``, ``filter_height``, ...) with one row per
layer and one column per choice, and one panel of skip connections with one row per layer and
one column per earlier layer (the anchor-point probabilities of Sec. 3.3). Each cell prints its
probability and the trial's own choices are boxed. Decisions outside the convention get a panel
with one row per decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from optuna_rlnas._naming import parse_param_name
from optuna_rlnas.dashboard._deps import require
from optuna_rlnas.dashboard._figures import layout

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from optuna_rlnas.dashboard._data import DecisionPolicy
    from optuna_rlnas.dashboard._data import PolicyAlongTrial

_MAX_TICK = 24  # longer decision names are shortened on the axis of the "other" panel
_COLS = 3  # panels per row
_CHOSEN = "#d62728"  # the box around the trial's own choice


@dataclass
class _Cell:
    p: float
    text: str
    hover: str
    chosen: bool


@dataclass
class Panel:
    """One heatmap: its cells keyed by (row label, column label).

    Rows and columns are listed in the order they first appear, or sorted by layer number
    (labels ``L{i}``) where ``by_layer`` says so.
    """

    title: str
    cells: dict[tuple[str, str], _Cell] = field(default_factory=dict)
    by_layer: bool = False

    @property
    def rows(self) -> list[str]:
        return self._labels(0)

    @property
    def columns(self) -> list[str]:
        return self._labels(1)

    def _labels(self, axis: int) -> list[str]:
        labels = list(dict.fromkeys(key[axis] for key in self.cells))
        return sorted(labels, key=lambda label: int(label[1:])) if self.by_layer else labels


def policy_panels(policy: PolicyAlongTrial) -> list[Panel]:
    """The decisions of ``policy`` grouped into panels, in the order the controller first
    makes a decision of each kind."""
    panels: dict[tuple[str, str], Panel] = {}
    for decision in policy.decisions:
        parsed = parse_param_name(decision.name)
        if parsed is None:
            panel = panels.setdefault(("", ""), Panel("other decisions"))
            _place_other(panel, decision)
        elif parsed.skip_source is not None:
            title = f"{parsed.scope}skip connections (from column)"
            panel = panels.setdefault((parsed.scope, "skip"), Panel(title, by_layer=True))
            _place_skip(panel, decision, parsed.layer, parsed.skip_source)
        else:
            title = f"{parsed.scope}{parsed.field.replace('_', ' ')}"
            panel = panels.setdefault((parsed.scope, parsed.field), Panel(title))
            for column, (label, p) in enumerate(zip(decision.labels, decision.probabilities)):
                cell = _Cell(p, f"{p:.2f}", _hover(decision, label, p), decision.chosen == column)
                panel.cells[f"L{parsed.layer}", label] = cell
    return list(panels.values())


def _hover(decision: DecisionPolicy, label: str, p: float) -> str:
    return f"{decision.name} = {label}: p = {p:.3f}<br>trial chose {decision.value!r}"


def _place_skip(panel: Panel, decision: DecisionPolicy, layer: int, source: int) -> None:
    # The second choice means "connected" (optuna_rlnas._naming).
    p = decision.probabilities[1] if len(decision.probabilities) > 1 else math.nan
    hover = f"{decision.name}: p(L{source} feeds L{layer}) = {p:.3f}"
    hover += f"<br>trial chose {decision.value!r}"
    panel.cells[f"L{layer}", f"L{source}"] = _Cell(p, f"{p:.2f}", hover, decision.chosen == 1)


def _place_other(panel: Panel, decision: DecisionPolicy) -> None:
    row = _short(decision.name)
    while row in panel.rows:  # two names shortened alike stay two rows
        row += " "
    for column, (label, p) in enumerate(zip(decision.labels, decision.probabilities)):
        cell = _Cell(p, label, _hover(decision, label, p), decision.chosen == column)
        panel.cells[row, str(column)] = cell


def _short(name: str) -> str:
    return name if len(name) <= _MAX_TICK else "…" + name[-(_MAX_TICK - 1) :]


def policy_figure(policy: PolicyAlongTrial) -> go.Figure:
    """The current policy's probability of each choice at each decision along a trial.

    One heatmap per kind of decision (rows: layers, columns: choices; skip connections: rows
    the layer, columns the earlier layer it may read), each cell printing its probability
    given the trial's earlier choices (teacher forcing,
    :meth:`RLNASSampler.decision_probabilities`); the trial's own choices are boxed.
    """
    go = require("plotly.graph_objects")
    panels = policy_panels(policy)
    n_cols = max(1, min(_COLS, len(panels)))
    n_rows = max(1, math.ceil(len(panels) / n_cols))
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    axes: dict[str, Any] = {}
    for k, panel in enumerate(panels):
        # Plotly names the axes of the k-th panel x, y, x2, y2, ...; domains in paper units.
        x, y = ("x", "y") if k == 0 else (f"x{k + 1}", f"y{k + 1}")
        x_domain, y_domain = _domain(k // n_cols, k % n_cols, n_rows, n_cols)
        trace, boxes, x_axis, y_axis = _panel(panel, x, y)
        traces.append(trace)
        shapes += boxes
        axes[x.replace("x", "xaxis")] = {**x_axis, "domain": x_domain, "anchor": y}
        axes[y.replace("y", "yaxis")] = {**y_axis, "domain": y_domain, "anchor": x}
        annotations.append(
            {
                "text": panel.title,
                "x": sum(x_domain) / 2,
                "y": y_domain[1],
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 12},
            }
        )
    n = policy.number
    title = f"Controller: current policy along trial {n}"
    title += f"<br><sup>p of each choice given trial {n}'s earlier choices; boxed: its own</sup>"
    return go.Figure(
        data=[go.Heatmap(**trace) for trace in traces],
        layout=layout(
            title,
            coloraxis={"colorscale": "Blues", "cmin": 0.0, "cmax": 1.0, "showscale": False},
            margin={"l": 50, "r": 10, "t": 80, "b": 25},
            shapes=shapes,
            annotations=annotations,
            **axes,
        ),
    )


def _domain(row: int, col: int, n_rows: int, n_cols: int) -> tuple[list[float], list[float]]:
    """The x and y extent of the panel at (row, col), row 0 at the top."""
    h_gap, v_gap = 0.07, 0.16 if n_rows > 1 else 0.0
    width = (1 - h_gap * (n_cols - 1)) / n_cols
    height = (1 - v_gap * (n_rows - 1)) / n_rows
    x0 = col * (width + h_gap)
    y1 = 1 - row * (height + v_gap)
    return [x0, x0 + width], [y1 - height, y1]


def _panel(
    panel: Panel, x: str, y: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """A panel's heatmap, the boxes around the trial's choices, and its two axes."""
    rows, columns = panel.rows, panel.columns
    shape = (len(rows), len(columns))
    z: list[list[float | None]] = [[None] * shape[1] for _ in range(shape[0])]
    text = [[""] * shape[1] for _ in range(shape[0])]
    hover = [[""] * shape[1] for _ in range(shape[0])]
    boxes = []
    for (row, column), cell in panel.cells.items():
        r, c = rows.index(row), columns.index(column)
        z[r][c] = round(cell.p, 4) if math.isfinite(cell.p) else None
        text[r][c], hover[r][c] = cell.text, cell.hover
        if cell.chosen:
            boxes.append(
                {
                    "type": "rect",
                    "xref": x,
                    "yref": y,
                    "x0": c - 0.5,
                    "x1": c + 0.5,
                    "y0": r - 0.5,
                    "y1": r + 0.5,
                    "line": {"color": _CHOSEN, "width": 2},
                }
            )
    other = panel.title == "other decisions"
    trace = {
        "z": z,
        "x": list(range(shape[1])),
        "y": list(range(shape[0])),
        "text": text,
        "texttemplate": "%{text}",
        "textfont": {"size": 11 if shape[0] <= 8 else 9 if shape[0] <= 14 else 7},
        "customdata": hover,
        "hovertemplate": "%{customdata}<extra></extra>",
        "coloraxis": "coloraxis",
        "xgap": 1,
        "ygap": 1,
        "xaxis": x,
        "yaxis": y,
    }
    common = {"tickmode": "array", "showgrid": False, "zeroline": False}
    x_axis = {
        **common,
        "tickvals": list(range(shape[1])),
        "ticktext": columns,
        "showticklabels": not other,  # there the cells carry the choices
        "tickfont": {"size": 10},
    }
    y_axis = {
        **common,
        "tickvals": list(range(shape[0])),
        "ticktext": rows,
        "autorange": "reversed",
        "tickfont": {"size": 10 if not other else 8},
    }
    return trace, boxes, x_axis, y_axis
