"""The naming convention that tells the sampler which decisions are skip connections.

Zoph & Le (Sec. 3.3) predict skip connections at *anchor points*: at layer ``i`` the controller
emits one sigmoid per earlier layer ``j``,

    P(layer j is an input to layer i) = sigmoid(v^T tanh(W_prev h_j + W_curr h_i)),

where ``h_j`` and ``h_i`` are the controller's hidden states at the anchors of layers ``j`` and
``i``. A define-by-run sampler only sees parameter names, so the layer structure is carried by the
names:

* ``[scope/]layer_{i}/{field}`` is a decision that belongs to layer ``i`` (any field name);
* ``[scope/]layer_{i}/skip_{j}`` is the skip connection from layer ``j`` into layer ``i``, a
  categorical with the choices ``(False, True)`` (or ``(0, 1)``); the second choice means
  "connected".

The anchor of layer ``j`` is the controller's step for the last decision of layer ``j`` made so
far in the trial; the current step is the anchor of layer ``i``. A skip decision whose source
layer has no decision yet in the trial falls back to an ordinary categorical head. ``scope`` lets
one trial hold several independent stacks (``"encoder/"``, ``"decoder/"``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_LAYER_RE = re.compile(r"^(?P<scope>(?:.*/)?)layer_(?P<layer>\d+)/(?P<field>[^/]+)$")
_SKIP_RE = re.compile(r"^skip_(?P<source>\d+)$")


class LayerName(NamedTuple):
    scope: str
    layer: int
    field: str
    skip_source: int | None


def layer_param(layer: int, field: str, scope: str = "") -> str:
    """Name of the decision ``field`` of layer ``layer``, e.g. ``layer_2/filters``."""
    if layer < 0:
        raise ValueError(f"layer must be >= 0, but got {layer}.")
    if "/" in field or not field:
        raise ValueError(f"field must be a non-empty name without '/', but got {field!r}.")
    if scope and not scope.endswith("/"):
        scope += "/"
    return f"{scope}layer_{layer}/{field}"


def skip_param(layer: int, source: int, scope: str = "") -> str:
    """Name of the skip-connection decision from layer ``source`` into layer ``layer``."""
    if not 0 <= source < layer:
        raise ValueError(
            f"a skip connection needs 0 <= source < layer, but got source={source}, layer={layer}."
        )
    return layer_param(layer, f"skip_{source}", scope)


def parse_param_name(name: str) -> LayerName | None:
    """Split a parameter name by the convention above; ``None`` when it names no layer."""
    match = _LAYER_RE.match(name)
    if match is None:
        return None
    field = match["field"]
    skip = _SKIP_RE.match(field)
    source = int(skip["source"]) if skip else None
    layer = int(match["layer"])
    if source is not None and source >= layer:
        source = None  # not a backward connection: treat as an ordinary decision
    return LayerName(match["scope"], layer, field, source)
