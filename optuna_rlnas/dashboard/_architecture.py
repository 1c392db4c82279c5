"""The best child drawn as boxes and arrows: image, layers, classifier, skip connections."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from optuna_rlnas.child import Architecture
from optuna_rlnas.child import LayerSpec
from optuna_rlnas.dashboard._deps import require
from optuna_rlnas.dashboard._figures import layout

if TYPE_CHECKING:
    import plotly.graph_objects as go


def _layer_label(i: int, layer: LayerSpec) -> str:
    stride = f"s{layer.stride_height}x{layer.stride_width}"
    return f"<b>L{i}</b><br>{layer.filters}@{layer.filter_height}x{layer.filter_width}<br>{stride}"


def _arrow(start: tuple[float, float], end: tuple[float, float], color: str) -> dict[str, object]:
    """A plotly annotation drawing an arrowhead from ``start`` to ``end`` in data coordinates."""
    return {
        "x": end[0],
        "y": end[1],
        "ax": start[0],
        "ay": start[1],
        "xref": "x",
        "yref": "y",
        "axref": "x",
        "ayref": "y",
        "text": "",
        "showarrow": True,
        "arrowhead": 2,
        "arrowwidth": 1.5,
        "arrowcolor": color,
    }


def architecture_figure(
    architecture: Architecture | str, *, title: str = "Best architecture"
) -> go.Figure:
    """The child network as boxes (image, layers, classifier) with its connections.

    ``architecture`` is an :class:`optuna_rlnas.child.Architecture` or its JSON. Edges between
    consecutive layers are straight; skip connections (Sec. 3.3) arc above the row; layers that
    read the image and layers that feed the classifier are joined to those boxes.
    """
    go = require("plotly.graph_objects")
    if isinstance(architecture, str):
        architecture = Architecture.from_json(architecture)
    layers = architecture.layers
    n = len(layers)
    boxes = ["<b>image</b>"] + [_layer_label(i, layer) for i, layer in enumerate(layers)]
    boxes.append("<b>classifier</b>")
    xs = list(range(n + 2))  # image at 0, layer i at i + 1, classifier at n + 1
    half = 0.36
    shapes: list[dict[str, Any]] = []
    for x in xs:
        is_layer = 0 < x <= n
        shapes.append(
            {
                "type": "rect",
                "x0": x - half,
                "x1": x + half,
                "y0": -0.45,
                "y1": 0.45,
                "line": {"color": "#1f4e79", "width": 1.5},
                "fillcolor": "#dbe9f6" if is_layer else "#f2f2f2",
                "layer": "below",
            }
        )
    edges: list[tuple[int, int]] = []  # (from x, to x)
    for i, layer in enumerate(layers):
        sources = [j + 1 for j in layer.inputs] if layer.inputs else [0]
        edges.extend((s, i + 1) for s in sources)
    edges.extend((j + 1, n + 1) for j in architecture.outputs)
    annotations = [
        {
            "x": x,
            "y": 0,
            "text": text,
            "showarrow": False,
            "font": {"size": 10 if n <= 10 else 8},
        }
        for x, text in zip(xs, boxes)
    ]
    top = 0.5
    for k, (a, b) in enumerate(sorted(edges, key=lambda e: (e[1] - e[0], e))):
        if b - a == 1:
            annotations.append(_arrow((a + half, 0), (b - half, 0), "#444"))
            continue
        # A skip: a quadratic arc above (odd) or below (even) the row, higher the longer it is.
        sign = 1 if k % 2 else -1
        height = 0.45 + 0.25 * (b - a)
        top = max(top, height)
        y0 = 0.45 * sign
        cx, cy = (a + b) / 2, sign * height * 2 - y0  # control point: the arc peaks at height
        shapes.append(
            {
                "type": "path",
                "path": f"M {a},{y0} Q {cx},{cy} {b},{y0}",
                "line": {"color": "#c55a11", "width": 1.5},
            }
        )
        # The arrowhead, along the arc's tangent at its end.
        annotations.append(_arrow((b + 0.12 * (cx - b), y0 + 0.12 * (cy - y0)), (b, y0), "#c55a11"))
    activations = sorted({layer.activation for layer in layers})
    subtitle = f"{n} layers, activation {'/'.join(activations)}; orange: skip connections"
    fig = go.Figure(
        layout=layout(
            f"{title}<br><sup>{subtitle}</sup>",
            xaxis={"visible": False, "range": [-0.6, n + 1.6]},
            yaxis={"visible": False, "range": [-top - 0.3, top + 0.3]},
            shapes=shapes,
            annotations=annotations,
            showlegend=False,
            margin={"l": 10, "r": 10, "t": 60, "b": 10},
        )
    )
    fig.add_trace(  # invisible points give each box a hover text
        go.Scatter(
            x=xs,
            y=[0] * len(xs),
            mode="markers",
            marker={"opacity": 0},
            text=["image"] + [f"L{i} {layer}" for i, layer in enumerate(layers)] + ["classifier"],
            hoverinfo="text",
        )
    )
    return fig
