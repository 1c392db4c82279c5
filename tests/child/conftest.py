"""Fixtures of the child-network tests: small Fashion-MNIST and CIFAR-10 folders.

The Fashion-MNIST fixture copies the first images of Debian's ``dataset-fashion-mnist`` into
small IDX files when the package is installed, and writes random images in the same format when
it is not. The CIFAR-10 fixture writes pickled batches shaped like the real
``cifar-10-batches-py`` (random pixels).
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def make_fashion_mnist(folder: Path, n_train: int = 300, n_test: int = 100, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    if (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        from optuna_rlnas.child._data import read_idx

        def take(stem, n):
            return read_idx(FASHION_DIR / f"{stem}.gz")[:n]

        arrays = {
            "train-images-idx3-ubyte": take("train-images-idx3-ubyte", n_train),
            "train-labels-idx1-ubyte": take("train-labels-idx1-ubyte", n_train),
            "t10k-images-idx3-ubyte": take("t10k-images-idx3-ubyte", n_test),
            "t10k-labels-idx1-ubyte": take("t10k-labels-idx1-ubyte", n_test),
        }
    else:
        rng = np.random.default_rng(0)
        arrays = {
            "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
            "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
        }
    for stem, array in arrays.items():
        write_idx(folder / stem, array, compress)
    return folder


def make_cifar10(folder: Path, per_batch: int = 20) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{name}_{k}.png".encode() for k in range(per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return folder


@pytest.fixture
def make_fashion():
    """The folder factory itself, for tests that choose sizes or compression."""
    return make_fashion_mnist


@pytest.fixture
def fashion_dir(tmp_path: Path) -> Path:
    return make_fashion_mnist(tmp_path / "fashion-mnist")


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    return make_cifar10(tmp_path / "cifar-10-batches-py")
