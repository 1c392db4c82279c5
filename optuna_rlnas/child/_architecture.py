"""The child network's architecture as a small frozen value object.

An :class:`Architecture` is what the controller's decisions describe (Zoph & Le, Sec. 3.1 and
3.3): per layer, the number of filters, the filter height and width, the stride height and width,
the activation, and the earlier layers that feed it (the skip connections chosen at the layer's
anchor point). It prints compactly, round-trips through JSON, and knows nothing about torch, so
it can be stored as a trial attribute and rebuilt anywhere.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from optuna_rlnas.child._checks import check_int
from optuna_rlnas.child._checks import is_int

# The activations a child can use: our name -> the ``torch.nn`` class that ``ChildNet`` builds.
# The one list of them; kept as class names so that this module needs no torch.
ACTIVATIONS: dict[str, str] = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "elu": "ELU",
    "gelu": "GELU",
    "sigmoid": "Sigmoid",
    "leaky_relu": "LeakyReLU",
    "selu": "SELU",
    "silu": "SiLU",
}


@dataclass(frozen=True)
class LayerSpec:
    """One convolutional layer of a child network.

    ``inputs`` lists the earlier layers whose outputs are concatenated along depth to form this
    layer's input (Sec. 3.3); an empty tuple means the layer reads the image.

    Example:
        >>> from optuna_rlnas.child import LayerSpec
        >>> layer = LayerSpec(filters=36, filter_height=3, filter_width=5, stride_width=2)
        >>> str(layer)
        '36@3x5/s1x2 relu<img'
    """

    filters: int
    filter_height: int
    filter_width: int
    stride_height: int = 1
    stride_width: int = 1
    activation: str = "relu"
    inputs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_int("filters", self.filters)
        # Odd sizes let 'same' padding (size // 2 on each side) keep a stride-1 map's size.
        check_int("filter_height", self.filter_height, odd=True)
        check_int("filter_width", self.filter_width, odd=True)
        check_int("stride_height", self.stride_height)
        check_int("stride_width", self.stride_width)
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {tuple(ACTIVATIONS)}, but got {self.activation!r}."
            )
        inputs = tuple(self.inputs)
        if any(not is_int(j) or j < 0 for j in inputs):
            raise ValueError(f"inputs must be non-negative layer indices, but got {inputs!r}.")
        if list(inputs) != sorted(set(inputs)):
            raise ValueError(f"inputs must be sorted and without repeats, but got {inputs!r}.")
        object.__setattr__(self, "inputs", inputs)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Output map size for an input map of ``height`` x ``width`` ('same' padding).

        With padding ``size // 2`` and an odd filter, the output is ``ceil(input / stride)``,
        which is never below 1 for an input of at least 1: a stride can shrink a map to 1x1
        but never below.
        """
        return math.ceil(height / self.stride_height), math.ceil(width / self.stride_width)

    def __str__(self) -> str:
        source = "+".join(str(j) for j in self.inputs) if self.inputs else "img"
        return (
            f"{self.filters}@{self.filter_height}x{self.filter_width}"
            f"/s{self.stride_height}x{self.stride_width} {self.activation}<{source}"
        )


@dataclass(frozen=True)
class Architecture:
    """A child CNN: a tuple of :class:`LayerSpec`, layer ``i`` fed only by layers ``j < i``.

    Layers that feed no later layer go to the classifier (Sec. 3.3), the last layer always
    among them.

    Example:
        >>> from optuna_rlnas.child import Architecture, LayerSpec
        >>> arch = Architecture((LayerSpec(24, 3, 3), LayerSpec(48, 5, 5, 2, 1, inputs=(0,))))
        >>> print(arch)
        L0 24@3x3/s1x1 relu<img | L1 48@5x5/s2x1 relu<0
        >>> Architecture.from_json(arch.to_json()) == arch
        True
        >>> arch.feature_map_sizes(8, 8)
        [(8, 8), (4, 8)]
    """

    layers: tuple[LayerSpec, ...]

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("an architecture needs at least one layer, but got 0.")
        for i, layer in enumerate(layers):
            if not isinstance(layer, LayerSpec):
                raise TypeError(f"layers[{i}] must be a LayerSpec, but got {type(layer).__name__}.")
            if layer.inputs and layer.inputs[-1] >= i:
                raise ValueError(
                    f"layer {i} can only take inputs from earlier layers, "
                    f"but got inputs={layer.inputs}."
                )
        object.__setattr__(self, "layers", layers)

    @property
    def depth(self) -> int:
        """Number of convolutional layers."""
        return len(self.layers)

    @property
    def outputs(self) -> tuple[int, ...]:
        """Layers whose output feeds no later layer; they go to the classifier."""
        used = {j for layer in self.layers for j in layer.inputs}
        return tuple(i for i in range(self.depth) if i not in used)

    def in_channels(self, image_channels: int) -> list[int]:
        """Input depth of every layer: the image's, or the sum of its inputs' filters."""
        return [
            sum(self.layers[j].filters for j in layer.inputs) if layer.inputs else image_channels
            for layer in self.layers
        ]

    def feature_map_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """Output map size of every layer for an image of ``height`` x ``width``.

        A layer with several inputs sees the largest height and the largest width among them,
        the smaller maps being zero-padded up to it (Sec. 3.3).
        """
        check_int("height", height)
        check_int("width", width)
        sizes: list[tuple[int, int]] = []
        for layer in self.layers:
            if layer.inputs:
                h = max(sizes[j][0] for j in layer.inputs)
                w = max(sizes[j][1] for j in layer.inputs)
            else:
                h, w = height, width
            sizes.append(layer.output_size(h, w))
        return sizes

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary; :meth:`from_dict` inverts it."""
        return {
            "layers": [
                {
                    "filters": layer.filters,
                    "filter_height": layer.filter_height,
                    "filter_width": layer.filter_width,
                    "stride_height": layer.stride_height,
                    "stride_width": layer.stride_width,
                    "activation": layer.activation,
                    "inputs": list(layer.inputs),
                }
                for layer in self.layers
            ]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        """Rebuild an architecture from :meth:`to_dict`'s output, validating every field."""
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            raise ValueError(
                f"an architecture dictionary needs a 'layers' list, but got {str(data)[:80]!r}."
            )
        layers = []
        for i, item in enumerate(data["layers"]):
            if not isinstance(item, dict):
                raise ValueError(f"layers[{i}] must be a dictionary, but got {item!r}.")
            try:
                item = dict(item, inputs=tuple(item.get("inputs", ())))
                layers.append(LayerSpec(**item))
            except TypeError as exc:
                raise ValueError(f"layers[{i}] is not a valid layer: {exc}.") from None
        return cls(tuple(layers))

    def to_json(self) -> str:
        """Compact JSON, e.g. for ``trial.set_user_attr``."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"an architecture must be JSON, but got {text[:80]!r} ({exc})."
            ) from None
        return cls.from_dict(data)

    def __str__(self) -> str:
        return " | ".join(f"L{i} {layer}" for i, layer in enumerate(self.layers))
