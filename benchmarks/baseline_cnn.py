"""The hand-written baseline: the plain 3-layer CNN a practitioner would write for small images.

Three 3x3 convolutions (32, 64, 128 filters) with batch norm and ReLU, 2x2 max pooling after the
first two, global average pooling and a linear classifier; about 94,000 parameters on
Fashion-MNIST. ``benchmarks/fashion_budget.py`` trains it the same final way as the search's
winner (``optuna_rlnas.child.FINAL_TRAINING``) for comparison.
"""

from __future__ import annotations

from torch import nn


class BaselineCNN(nn.Sequential):
    """conv32-pool-conv64-pool-conv128-avgpool-linear.

    Example:
        >>> import torch
        >>> from benchmarks.baseline_cnn import BaselineCNN
        >>> BaselineCNN(in_channels=1, num_classes=10)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU()]

        super().__init__(
            *block(in_channels, 32),
            nn.MaxPool2d(2),
            *block(32, 64),
            nn.MaxPool2d(2),
            *block(64, 128),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(128, num_classes),
        )

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
