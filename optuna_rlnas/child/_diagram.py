"""The child network as an SVG picture, written by hand (no plotting library needed).

The layout is the dashboard's architecture figure (``optuna_rlnas.dashboard``) as a static file:
image, layers and classifier as a row of boxes; edges between consecutive boxes are straight,
skip connections (Sec. 3.3) arc above and below the row, higher the longer they are. The file
goes along with the saved model and is uploaded as an image artifact.
"""

from __future__ import annotations

from html import escape

from optuna_rlnas.child._architecture import Architecture

_STEP = 120  # horizontal distance between box centres (px)
_HALF_W, _HALF_H = 48, 30  # half the width and height of a box
_LINE, _SKIP = "#444444", "#c55a11"


def _box(x: float, y: float, lines: list[str], fill: str) -> str:
    text = "".join(
        f'<tspan x="{x:.0f}" dy="{0 if k == 0 else 13}">{escape(line)}</tspan>'
        for k, line in enumerate(lines)
    )
    top = y - 6.5 * (len(lines) - 1) + 4
    return (
        f'<rect x="{x - _HALF_W:.0f}" y="{y - _HALF_H:.0f}" width="{2 * _HALF_W}" '
        f'height="{2 * _HALF_H}" rx="5" fill="{fill}" stroke="#1f4e79" stroke-width="1.5"/>'
        f'<text y="{top:.1f}" text-anchor="middle">{text}</text>'
    )


def architecture_svg(architecture: Architecture, *, title: str = "") -> str:
    """An SVG document of ``architecture``; ``title`` is written above it.

    Example:
        >>> from optuna_rlnas.child import Architecture, LayerSpec
        >>> from optuna_rlnas.child._diagram import architecture_svg
        >>> svg = architecture_svg(Architecture((LayerSpec(24, 3, 3),)), title="one layer")
        >>> svg.startswith("<svg") and "24@3x3" in svg
        True
    """
    layers = architecture.layers
    n = len(layers)
    edges = [(j + 1, i + 1) for i, layer in enumerate(layers) for j in layer.inputs]
    edges += [(0, i + 1) for i, layer in enumerate(layers) if not layer.inputs]
    edges += [(j + 1, n + 1) for j in architecture.outputs]
    longest = max((b - a for a, b in edges), default=1)
    arc = 18 + 14 * longest  # room for the highest arc above and below the row
    width = _STEP * (n + 2)
    mid = 40 + arc + _HALF_H
    height = mid + _HALF_H + arc + 10
    cx = [_STEP / 2 + _STEP * k for k in range(n + 2)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" font-family="sans-serif" font-size="11">',
        '<defs><marker id="a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
        'fill="context-stroke"/></marker></defs>',
        f'<rect width="{width}" height="{height:.0f}" fill="white"/>',
        f'<text x="10" y="20" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="10" y="36" fill="#555">{n} layers; orange: skip connections</text>',
    ]
    for k, (a, b) in enumerate(sorted(edges, key=lambda e: (e[1] - e[0], e))):
        if b - a == 1:
            parts.append(
                f'<line x1="{cx[a] + _HALF_W:.0f}" y1="{mid:.0f}" x2="{cx[b] - _HALF_W:.0f}" '
                f'y2="{mid:.0f}" stroke="{_LINE}" stroke-width="1.5" marker-end="url(#a)"/>'
            )
            continue
        sign = -1 if k % 2 else 1  # alternate above and below the row
        y0 = mid + sign * _HALF_H
        peak = y0 + sign * 2 * (18 + 14 * (b - a))  # the control point: the arc peaks halfway
        parts.append(
            f'<path d="M{cx[a]:.0f},{y0:.0f} Q{(cx[a] + cx[b]) / 2:.0f},{peak:.0f} '
            f'{cx[b]:.0f},{y0:.0f}" fill="none" stroke="{_SKIP}" stroke-width="1.5" '
            'marker-end="url(#a)"/>'
        )
    parts.append(_box(cx[0], mid, ["image"], "#f2f2f2"))
    for i, layer in enumerate(layers):
        lines = [
            f"L{i} {layer.filters}@{layer.filter_height}x{layer.filter_width}",
            f"s{layer.stride_height}x{layer.stride_width} {layer.activation}",
        ]
        parts.append(_box(cx[i + 1], mid, lines, "#dbe9f6"))
    parts.append(_box(cx[n + 1], mid, ["classifier"], "#f2f2f2"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
