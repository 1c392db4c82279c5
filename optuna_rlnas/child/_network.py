"""The child network built from an :class:`Architecture` (Zoph & Le, Sec. 3.3).

Every layer is a convolution with 'same' padding, batch norm and its activation. A layer's input
is the image when it has no inputs, else its inputs' outputs concatenated along depth, the smaller
maps zero-padded to the largest height and width. The layers that feed nothing are globally
average-pooled and concatenated into the linear classifier's input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from optuna_rlnas.child._architecture import ACTIVATIONS
from optuna_rlnas.child._architecture import Architecture


def _pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    # Zero-pad a smaller map on both sides (the extra row or column at the bottom/right).
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


def concat_padded(maps: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate maps along depth, zero-padding the smaller ones (Sec. 3.3)."""
    if len(maps) == 1:
        return maps[0]
    height = max(m.shape[-2] for m in maps)
    width = max(m.shape[-1] for m in maps)
    return torch.cat([_pad_to(m, height, width) for m in maps], dim=1)  # (batch, sum C, H, W)


class ChildNet(nn.Module):
    """A CNN classifier built from an :class:`Architecture`.

    ``image_size`` (height, width), when given, is checked at once: the network refuses images
    whose maps could not be built (a side below 1) with a ``ValueError`` naming the layer. With
    odd filters and 'same' padding a stride shrinks a map to ``ceil(size / stride)``, so a map
    reaches 1x1 at the smallest and stays there; no sampled architecture is rejected for its
    strides. ``forward`` checks the image's channels and size the same way.

    Example:
        >>> import torch
        >>> from optuna_rlnas.child import Architecture, ChildNet, LayerSpec
        >>> arch = Architecture((LayerSpec(24, 3, 3, 3, 3), LayerSpec(36, 7, 1, 2, 2, inputs=(0,))))
        >>> net = ChildNet(arch, in_channels=1, num_classes=10, image_size=(8, 8))
        >>> net(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
        >>> net.feature_map_sizes
        [(3, 3), (2, 2)]
    """

    def __init__(
        self,
        architecture: Architecture,
        *,
        in_channels: int,
        num_classes: int,
        image_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(architecture, Architecture):
            raise TypeError(
                f"architecture must be an Architecture, but got {type(architecture).__name__}."
            )
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, but got {in_channels}.")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, but got {num_classes}.")
        self.architecture = architecture
        self.in_channels = in_channels
        self.image_size = image_size
        self.feature_map_sizes: list[tuple[int, int]] | None = None
        if image_size is not None:
            self.feature_map_sizes = self._check_sizes(*image_size)

        channels = architecture.in_channels(in_channels)
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(
                    channels[i],
                    spec.filters,
                    kernel_size=(spec.filter_height, spec.filter_width),
                    stride=(spec.stride_height, spec.stride_width),
                    padding=(spec.filter_height // 2, spec.filter_width // 2),
                    bias=False,  # batch norm's shift plays the bias
                ),
                nn.BatchNorm2d(spec.filters),
                getattr(nn, ACTIVATIONS[spec.activation])(),
            )
            for i, spec in enumerate(architecture.layers)
        )
        self._outputs = architecture.outputs
        features = sum(architecture.layers[i].filters for i in self._outputs)
        self.classifier = nn.Linear(features, num_classes)

    def _check_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        if height < 1 or width < 1:
            raise ValueError(f"image_size must be at least 1x1, but got {height}x{width}.")
        sizes = self.architecture.feature_map_sizes(height, width)
        for i, (h, w) in enumerate(sizes):
            if h < 1 or w < 1:  # cannot happen with 'same' padding; kept as the invariant
                raise ValueError(
                    f"layer {i} would shrink the {height}x{width} image to a {h}x{w} map; "
                    "every map must stay at least 1x1."
                )
        return sizes

    @property
    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"images must have shape (batch, {self.in_channels}, height, width), "
                f"but got {tuple(images.shape)}."
            )
        if self.image_size is not None and tuple(images.shape[-2:]) != tuple(self.image_size):
            raise ValueError(
                f"images must be {self.image_size[0]}x{self.image_size[1]}, "
                f"but got {images.shape[-2]}x{images.shape[-1]}."
            )
        outputs: list[torch.Tensor] = []
        for spec, layer in zip(self.architecture.layers, self.layers):
            if spec.inputs:
                x = concat_padded([outputs[j] for j in spec.inputs])
            else:
                x = images  # a layer with no input takes the image (Sec. 3.3)
            outputs.append(layer(x))  # (batch, filters, H', W')
        # Unconnected outputs go to the classifier: pooled one by one, then concatenated.
        pooled = [outputs[i].mean(dim=(-2, -1)) for i in self._outputs]  # each (batch, filters)
        logits: torch.Tensor = self.classifier(torch.cat(pooled, dim=1))  # (batch, num_classes)
        return logits
