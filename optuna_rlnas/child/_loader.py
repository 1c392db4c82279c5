"""Mini-batches sliced from tensors that stay where they are, and their augmentation.

The datasets here fit in memory, and on a GPU in the GPU's memory. :class:`TensorLoader` keeps the
images and labels as two tensors on one device and yields slices of them, so a step pays no
per-image ``__getitem__``, no collation and no host-to-device copy (a ``DataLoader`` over a
``TensorDataset`` does all three). :class:`Augmentation` is applied to a whole batch on its device:
a random crop of the zero-padded image (a shift of up to ``pad`` pixels) and an optional
horizontal flip, the standard recipe for small images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from optuna_rlnas.child._checks import check_int


@dataclass(frozen=True)
class Augmentation:
    """Random shift by up to ``pad`` pixels (crop of the padded image) and optional flip.

    ``fill`` is the value the padding takes per channel, in the batch's (normalised) units:
    the normalised value of a black pixel, as if the raw image had been padded.

    Example:
        >>> import torch
        >>> from optuna_rlnas.child._loader import Augmentation
        >>> batch = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).view(2, 1, 3, 3)
        >>> out = Augmentation(pad=1, flip=True)(batch, torch.Generator().manual_seed(0))
        >>> out.shape
        torch.Size([2, 1, 3, 3])
    """

    pad: int = 0
    flip: bool = False
    fill: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        check_int("pad", self.pad, low=0)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, channels, height, width = images.shape
        device = images.device
        if self.pad:
            fill = torch.tensor(self.fill, dtype=images.dtype, device=device).view(1, -1, 1, 1)
            p = self.pad
            padded = F.pad(images - fill, (p, p, p, p)) + fill  # pads with `fill`, per channel
            offsets = torch.randint(0, 2 * p + 1, (2, batch), generator=generator).to(device)
            rows = offsets[0, :, None] + torch.arange(height, device=device)  # (batch, H)
            cols = offsets[1, :, None] + torch.arange(width, device=device)  # (batch, W)
            index = torch.arange(batch, device=device)[:, None, None]
            # Advanced indices around a slice put their broadcast dims first: (batch, H, W, C).
            crops = padded[index, :, rows[:, :, None], cols[:, None, :]]
            images = crops.permute(0, 3, 1, 2).contiguous()  # (batch, C, H, W)
        if self.flip:
            flip = (torch.rand(batch, generator=generator) < 0.5).to(device)
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        return images


class TensorLoader:
    """Batches of ``(images, labels)`` sliced from two tensors on one device.

    A loader is iterable any number of times; each pass over a shuffled loader draws a new
    order from its own generator, seeded once from ``seed``, so two loaders built alike yield
    the same batches in the same order. ``augment`` is applied to every training batch.

    Example:
        >>> import torch
        >>> from optuna_rlnas.child._loader import TensorLoader
        >>> loader = TensorLoader(torch.zeros(10, 1, 2, 2), torch.arange(10), batch_size=4)
        >>> len(loader), [len(y) for _, y in loader]
        (3, [4, 4, 2])
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        augment: Augmentation | None = None,
    ) -> None:
        check_int("batch_size", batch_size)
        if len(images) != len(labels):
            raise ValueError(
                f"images and labels must have the same length, but got {len(images)} and "
                f"{len(labels)}."
            )
        if labels.device != images.device:
            raise ValueError(
                f"images and labels must be on one device, but got {images.device} and "
                f"{labels.device}."
            )
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = None
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.images.device)
        for start in range(0, n, self.batch_size):
            if order is None:  # a plain slice is a view: no copy at all
                images = self.images[start : start + self.batch_size]
                labels = self.labels[start : start + self.batch_size]
            else:
                index = order[start : start + self.batch_size]
                images, labels = self.images[index], self.labels[index]
            if self.augment is not None:
                images = self.augment(images, self.generator)
            yield images, labels
