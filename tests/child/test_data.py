from __future__ import annotations

import pytest
import torch

from optuna_rlnas.child import CIFAR10DataModule
from optuna_rlnas.child import DatasetNotFoundError
from optuna_rlnas.child import DigitsDataModule
from optuna_rlnas.child import FashionMNISTDataModule
from optuna_rlnas.child import make_datamodule


def test_digits_split_is_seeded_and_the_test_set_fixed() -> None:
    a, b, c = (DigitsDataModule(seed=s) for s in (1, 1, 2))
    for dm in (a, b, c):
        dm.setup("fit")
    assert torch.equal(a.val_set.tensors[0], b.val_set.tensors[0])
    assert not torch.equal(a.val_set.tensors[0], c.val_set.tensors[0])
    assert torch.equal(a.test_set.tensors[0], c.test_set.tensors[0])  # independent of seed
    assert (len(a.train_set), len(a.val_set), len(a.test_set)) == (1150, 288, 359)


def test_train_subset_and_merge_validation() -> None:
    small = DigitsDataModule(train_subset=100)
    small.setup()
    assert len(small.train_set) == 100
    merged = DigitsDataModule(train_subset=100, merge_validation=True)
    merged.setup()
    assert len(merged.train_set) == 100 + len(merged.val_set)
    images, labels = next(iter(small.train_dataloader()))
    assert images.shape == (32, 1, 8, 8) and labels.dtype == torch.long  # digits: batch 32


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_reads_idx_files(tmp_path, make_fashion, compress) -> None:
    folder = make_fashion(tmp_path / "f", n_train=120, n_test=40, compress=compress)
    dm = FashionMNISTDataModule(folder, val_size=20, train_subset=50)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.describe() == "fashion-mnist: train 50, validation 20, test 40"
    images, labels = dm.train_set.tensors
    assert images.shape == (50, 1, 28, 28)
    assert 0 <= int(labels.min()) and int(labels.max()) <= 9


def test_missing_fashion_mnist_says_where_to_get_it(tmp_path) -> None:
    dm = FashionMNISTDataModule(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="dataset-fashion-mnist"):
        dm.prepare_data()


def test_cifar10_reads_the_python_format(cifar_dir) -> None:
    dm = make_datamodule("cifar10", cifar_dir, val_size=10)
    dm.setup("fit")
    assert dm.describe() == "cifar10: train 90, validation 10, test 20"
    assert dm.train_set.tensors[0].shape == (90, 3, 32, 32)


def test_missing_cifar10_says_where_to_get_it(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        CIFAR10DataModule(tmp_path).prepare_data()
    with pytest.raises(ValueError, match="CIFAR-10 needs a data folder"):
        make_datamodule("cifar10")


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match=r"dataset must be one of .*, but got 'mnist'"):
        make_datamodule("mnist")
