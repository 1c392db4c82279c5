"""The controller's line figures: reward against the baseline, and the policy's entropy.

The builders take the values of :mod:`._data` (no study, no sampler) and return plotly figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from optuna_rlnas.dashboard._deps import require

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from optuna_rlnas.dashboard._data import RewardPoint


def layout(title: str, **kwargs: Any) -> dict[str, Any]:
    """The layout every controller figure shares: title at the top left, white template.

    A plain dict, validated once by ``go.Figure`` (plotly validates a ``go.Layout`` again when
    a figure is made of it, and the template twice costs tens of milliseconds).
    """
    kwargs.setdefault("margin", {"l": 60, "r": 20, "t": 50, "b": 50})
    return {
        "title": {"text": title, "x": 0.02, "xanchor": "left"},
        "template": "plotly_white",
        **kwargs,
    }


def integer_axis(values: Sequence[int], title: str, *, max_ticks: int = 8) -> dict[str, Any]:
    """An axis of counts (trials, updates): ticks at integers only, at most ``max_ticks``.

    Plotly's automatic ticks fall on 0.2, 0.5, ... when the range is short (a few updates).

    Example:
        >>> integer_axis([0, 1], "update")["dtick"], integer_axis(range(40), "trial")["dtick"]
        (1, 5)
    """
    lo, hi = min(values, default=0), max(values, default=0)
    step = 1
    while (hi - lo) / step > max_ticks:  # 1, 2, 5, 10, 20, 50, ...
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    pad = max(0.5, 0.04 * (hi - lo))  # a point at either end stays clear of the frame
    return {
        "title": {"text": title},
        "tickmode": "linear",
        "tick0": 0,
        "dtick": step,
        "tickformat": "d",
        "range": [lo - pad, hi + pad],
    }


def reward_figure(points: Sequence[RewardPoint]) -> go.Figure:
    """Reward per trial, the best so far, and the baseline b each reward was compared with
    (Eq. 2); PRUNED trials (rewarded with their last intermediate value) marked x."""
    go = require("plotly.graph_objects")
    points = sorted(points, key=lambda p: p.number)
    x = [p.number for p in points]
    fig = go.Figure(
        layout=layout(
            "Controller: reward and baseline",
            xaxis=integer_axis(x, "trial"),
            yaxis={"title": {"text": "reward"}},
            legend={"orientation": "h", "y": -0.2},
        )
    )
    for pruned, name, symbol in ((False, "reward", "circle"), (True, "reward (pruned)", "x")):
        chosen = [p for p in points if p.pruned == pruned]
        if chosen or not pruned:
            fig.add_trace(
                go.Scatter(
                    x=[p.number for p in chosen],
                    y=[p.reward for p in chosen],
                    mode="markers",
                    name=name,
                    marker={"symbol": symbol, "size": 7},
                )
            )
    best: list[float] = []
    for p in points:
        best.append(p.reward if not best else max(best[-1], p.reward))
    fig.add_trace(go.Scatter(x=x, y=best, mode="lines", name="best so far", line={"dash": "dot"}))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[p.baseline for p in points],
            mode="lines",
            name="baseline b",
            line={"shape": "hv"},
        )
    )
    return fig


def entropy_figure(entropies: Mapping[int, Sequence[float]]) -> go.Figure:
    """Entropy of the sampled architectures per controller update: mean, min and max.

    ``entropies`` maps an update count to the entropies of the trials sampled at it (each the
    sum over the trial's decisions); a shrinking entropy is the controller becoming sure of
    itself.
    """
    go = require("plotly.graph_objects")
    groups = {u: list(v) for u, v in sorted(entropies.items()) if v}
    updates = list(groups)
    means = [sum(v) / len(v) for v in groups.values()]
    title = "Controller: policy entropy over updates"
    if len(means) == 1:
        title += f"<br><sup>mean {means[0]:.4g} nats, all at update {updates[0]}</sup>"
    elif means:  # the axis autoscales, so state the size of the change in words
        change = means[-1] - means[0]
        percent = 100 * change / abs(means[0]) if means[0] else 0.0
        title += (
            f"<br><sup>mean {means[0]:.4g} nats at update {updates[0]}, {means[-1]:.4g} at "
            f"update {updates[-1]} ({change:+.2g} nats, {percent:+.2g}%)</sup>"
        )
    fig = go.Figure(
        layout=layout(
            title,
            xaxis=integer_axis(updates, "controller update"),
            yaxis={"title": {"text": "entropy of a sampled architecture (nats)"}},
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=updates + updates[::-1],
            y=[max(v) for v in groups.values()] + [min(v) for v in groups.values()][::-1],
            fill="toself",
            line={"width": 0},
            opacity=0.3,
            hoverinfo="skip",
            name="min-max",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=updates,
            y=means,
            mode="lines+markers",
            name="mean",
            customdata=[len(v) for v in groups.values()],
            hovertemplate="update %{x}: %{y:.3f} nats (%{customdata} trials)<extra></extra>",
        )
    )
    return fig
