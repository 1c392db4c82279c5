"""The device-resident loader and the batch augmentation."""

from __future__ import annotations

import pytest
import torch

from optuna_rlnas.child import DigitsDataModule
from optuna_rlnas.child._loader import Augmentation
from optuna_rlnas.child._loader import TensorLoader


def test_loader_covers_every_image_once_per_pass_in_a_new_order() -> None:
    loader = TensorLoader(
        torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10), batch_size=4, shuffle=True, seed=3
    )
    passes = [torch.cat([y for _, y in loader]) for _ in range(2)]
    assert [len(y) for _, y in loader] == [4, 4, 2] and len(loader) == 3
    for order in passes:
        assert sorted(order.tolist()) == list(range(10))
    assert not torch.equal(passes[0], passes[1])  # each pass draws a new order
    again = TensorLoader(
        torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10), batch_size=4, shuffle=True, seed=3
    )
    assert torch.equal(torch.cat([y for _, y in again]), passes[0])  # same seed, same batches


def test_unshuffled_batches_are_views_of_the_tensors() -> None:
    images = torch.randn(6, 1, 2, 2)
    first, _ = next(iter(TensorLoader(images, torch.zeros(6, dtype=torch.long), batch_size=4)))
    assert first.data_ptr() == images.data_ptr()  # a slice: no copy


def test_loader_refuses_mismatched_tensors() -> None:
    with pytest.raises(ValueError, match="same length, but got 3 and 2"):
        TensorLoader(torch.zeros(3, 1, 1, 1), torch.zeros(2), batch_size=1)


def test_shift_moves_images_by_at_most_pad_and_fills_with_black() -> None:
    image = torch.zeros(1, 1, 5, 5)
    image[0, 0, 2, 2] = 1.0  # one bright pixel in the middle
    batch = image.expand(200, 1, 5, 5).contiguous()
    out = Augmentation(pad=1, fill=(-1.0,))(batch, torch.Generator().manual_seed(0))
    positions = {tuple((o[0] == 1.0).nonzero()[0].tolist()) for o in out}
    assert positions == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}  # all 9 shifts occur
    shifted = out[[k for k, o in enumerate(out) if o[0, 0, 0] == -1.0]]
    assert len(shifted) > 0  # the padding that came in is the fill value, not zero


def test_flip_mirrors_about_half_of_the_batch() -> None:
    batch = torch.arange(3.0).view(1, 1, 1, 3).expand(1000, 1, 1, 3)
    out = Augmentation(flip=True)(batch, torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, 0] == 2.0).sum().item()
    assert 400 < flipped < 600
    assert torch.equal(out[out[:, 0, 0, 0] == 2.0][0, 0, 0], torch.tensor([2.0, 1.0, 0.0]))


def test_digits_augmentation_shifts_and_never_flips() -> None:
    augmented = DigitsDataModule(train_subset=64, augment=True)
    plain = DigitsDataModule(train_subset=64)
    for dm in (augmented, plain):
        dm.setup()
    assert augmented.augmentation.pad == 1 and augmented.augmentation.flip is False
    assert augmented.augmentation.fill == pytest.approx((-0.3053 / 0.3760,))  # black, normalised
    (a, a_labels), (p, p_labels) = (next(iter(d.train_dataloader())) for d in (augmented, plain))
    assert torch.equal(a_labels, p_labels)  # same order of images
    assert a.shape == p.shape == (32, 1, 8, 8) and not torch.equal(a, p)
    val = [next(iter(d.val_dataloader()))[0] for d in (augmented, plain)]
    assert torch.equal(val[0], val[1])  # validation batches are never augmented
