from __future__ import annotations

import itertools

import pytest
import torch

from optuna_rlnas.child import Architecture
from optuna_rlnas.child import ChildNet
from optuna_rlnas.child import LayerSpec

STRIDES = list(itertools.product((1, 2, 3), repeat=2))


def _skip_patterns(depth: int) -> dict[str, list[tuple[int, ...]]]:
    return {
        "none": [() for _ in range(depth)],  # every layer reads the image
        "chain": [() if i == 0 else (i - 1,) for i in range(depth)],
        "all": [tuple(range(i)) for i in range(depth)],  # every earlier layer feeds layer i
        "first": [() if i == 0 else (0,) for i in range(depth)],
    }


def _map_sizes(net: ChildNet, images: torch.Tensor) -> list[tuple[int, int]]:
    sizes = []
    hooks = [
        layer.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:])))
        for layer in net.layers
    ]
    out = net(images)
    for hook in hooks:
        hook.remove()
    assert out.shape == (images.shape[0], 10)
    assert torch.isfinite(out).all()
    return sizes


@pytest.mark.parametrize("pattern", ["none", "chain", "all", "first"])
@pytest.mark.parametrize("stride", STRIDES, ids=lambda s: f"s{s[0]}x{s[1]}")
def test_shapes_for_every_stride_and_skip_pattern(stride, pattern) -> None:
    depth = 5
    layers = tuple(
        LayerSpec(8, 3 if i % 2 else 7, 1 if i % 2 else 5, *stride, inputs=inputs)
        for i, inputs in enumerate(_skip_patterns(depth)[pattern])
    )
    arch = Architecture(layers)
    for size in [(8, 8), (28, 28), (1, 1), (2, 9)]:
        net = ChildNet(arch, in_channels=1, num_classes=10, image_size=size)
        got = _map_sizes(net.eval(), torch.randn(3, 1, *size))
        assert got == arch.feature_map_sizes(*size) == net.feature_map_sizes
        assert all(h >= 1 and w >= 1 for h, w in got)


def test_mixed_strides_pad_smaller_maps_before_concatenating() -> None:
    arch = Architecture(
        (
            LayerSpec(4, 3, 3, 3, 1),  # 8x8 -> 3x8
            LayerSpec(5, 1, 1, 1, 2),  # image -> 8x4
            LayerSpec(6, 3, 3, 1, 1, inputs=(0, 1)),  # sees 8x8 with 4 + 5 channels
        )
    )
    net = ChildNet(arch, in_channels=1, num_classes=10, image_size=(8, 8))
    assert net.layers[2][0].in_channels == 9
    assert _map_sizes(net, torch.randn(2, 1, 8, 8)) == [(3, 8), (8, 4), (8, 8)]


def test_unconnected_outputs_feed_the_classifier() -> None:
    arch = Architecture((LayerSpec(4, 3, 3), LayerSpec(5, 3, 3), LayerSpec(6, 3, 3, inputs=(1,))))
    net = ChildNet(arch, in_channels=3, num_classes=7)
    assert arch.outputs == (0, 2)
    assert net.classifier.in_features == 4 + 6
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_wrong_images_raise_a_clear_error() -> None:
    net = ChildNet(
        Architecture((LayerSpec(4, 3, 3),)), in_channels=1, num_classes=10, image_size=(8, 8)
    )
    with pytest.raises(ValueError, match=r"images must have shape \(batch, 1, height, width\)"):
        net(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="images must be 8x8, but got 9x8"):
        net(torch.randn(2, 1, 9, 8))
    with pytest.raises(ValueError, match="image_size must be at least 1x1, but got 0x8"):
        ChildNet(
            Architecture((LayerSpec(4, 3, 3),)), in_channels=1, num_classes=10, image_size=(0, 8)
        )
