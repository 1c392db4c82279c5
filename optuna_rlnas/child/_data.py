"""Lightning data modules: scikit-learn's digits, Fashion-MNIST and CIFAR-10.

Every module holds out a fixed test set (the dataset's own, or for digits a split drawn with a
constant seed), then splits the rest into training and validation with a ``torch.Generator``
seeded from its ``seed`` argument. The search only ever sees training and validation; the test
set is read after the search alone (``rlnas best``, the final phase of ``rlnas run``).
``train_subset`` keeps a seeded subset of the training split so that CPU searches stay affordable.

The splits stay tensors, and the loaders are ``TensorLoader`` objects that slice them;
:meth:`ImageDataModule.to_device` moves the tensors once, e.g. into a GPU's memory. With
``augment=True`` training batches get the dataset's augmentation (a random shift, and a
horizontal flip where the classes allow it).
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from optuna_rlnas.child._checks import check_int
from optuna_rlnas.child._lightning import pl
from optuna_rlnas.child._loader import Augmentation
from optuna_rlnas.child._loader import TensorLoader

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_HINT = (
    "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
    "or download the four IDX files from https://github.com/zalandoresearch/fashion-mnist"
)
_CIFAR_HINT = (
    "download and unpack the python version of CIFAR-10, "
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, and pass its "
    "cifar-10-batches-py folder"
)


# What ``ImageDataModule._load`` returns: (train_x, train_y, test_x, test_y).
_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where the data module looks; the message says where to get them."""


def _split_sizes(n: int, size: int | float, name: str) -> int:
    if isinstance(size, float):
        if not 0.0 < size < 1.0:
            raise ValueError(f"{name} must be in (0, 1) as a fraction, but got {size}.")
        return max(1, round(n * size))
    if not 0 < size < n:
        raise ValueError(
            f"{name} must be in [1, {n - 1}] as a count ({n} training images to split), "
            f"but got {size}."
        )
    return size


class ImageDataModule(pl.LightningDataModule):
    """Base class: an in-memory image classification dataset with a seeded split.

    Subclasses implement ``_load()`` returning ``(train_x, train_y, test_x, test_y)`` as uint8 or
    float arrays ``(N, C, H, W)`` and integer labels, and set ``in_channels``, ``num_classes``,
    ``image_size``, ``mean``, ``std``, ``name`` and ``shift`` / ``flip`` (their augmentation).

    Args:
        val_size: validation split, a fraction of the training set or a count.
        train_subset: keep only this many training images (seeded), or all with ``None``.
        batch_size: mini-batch size of the training loader; validation and test batches hold
            at least 256 images (evaluation needs no small batches).
        seed: seeds the train/validation split, the training subset, the order of the training
            batches and their augmentation.
        merge_validation: train on training plus validation (``rlnas best``).
        augment: augment training batches: a random shift by up to ``shift`` pixels, and a
            horizontal flip when ``flip`` is set.
    """

    name = "images"
    in_channels = 1
    num_classes = 10
    image_size = (28, 28)
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    scale = 255.0
    shift = 2  # augmentation: random shift by up to this many pixels
    flip = True  # augmentation: horizontal flip (not for digits)

    def __init__(
        self,
        *,
        val_size: int | float = 0.1,
        train_subset: int | None = None,
        batch_size: int = 64,
        seed: int = 0,
        merge_validation: bool = False,
        augment: bool = False,
    ) -> None:
        super().__init__()
        if train_subset is not None:
            check_int("train_subset", train_subset, what="be a positive integer or None")
        check_int("batch_size", batch_size)
        if isinstance(val_size, float) and not 0.0 < val_size < 1.0:
            raise ValueError(f"val_size must be in (0, 1) as a fraction, but got {val_size}.")
        self.val_size = val_size
        self.train_subset = train_subset
        self.batch_size = batch_size
        self.seed = seed
        self.merge_validation = merge_validation
        self.augment = augment
        self.device = torch.device("cpu")
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    def check_files(self) -> None:
        """Raise :class:`DatasetNotFoundError` when the dataset's files are missing."""

    def prepare_data(self) -> None:
        # Nothing is downloaded: the files come from Debian or from the user's folder.
        self.check_files()

    def _load(self) -> _Arrays:
        raise NotImplementedError

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> TensorDataset:
        images = torch.from_numpy(np.array(x, dtype=np.float32)) / self.scale
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        images = (images - mean) / std  # (N, C, H, W)
        return TensorDataset(images, torch.as_tensor(np.asarray(y), dtype=torch.long))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        self.check_files()
        train_x, train_y, test_x, test_y = self._load()
        n = len(train_x)
        n_val = _split_sizes(n, self.val_size, "val_size")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).numpy()
        val_idx, train_idx = order[:n_val], order[n_val:]
        if self.train_subset is not None:
            # The subset is a prefix of a seeded permutation: larger subsets contain smaller ones.
            train_idx = train_idx[: self.train_subset]
        if self.merge_validation:
            train_idx = np.concatenate([train_idx, val_idx])
        self.train_set = self._tensors(train_x[train_idx], train_y[train_idx])
        self.val_set = self._tensors(train_x[val_idx], train_y[val_idx])
        self.test_set = self._tensors(test_x, test_y)
        device, self.device = self.device, torch.device("cpu")
        self.to_device(device)  # a device asked for before setup

    def to_device(self, device: str | torch.device) -> ImageDataModule:
        """Keep every split on ``device`` (e.g. ``"cuda:0"``); the loaders then slice it there."""
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device {str(device)!r} needs a CUDA GPU, but torch.cuda.is_available() is False."
            )
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if device != self.device:
            for name in ("train_set", "val_set", "test_set"):
                dataset = getattr(self, name)
                if dataset is not None:
                    setattr(self, name, TensorDataset(*(t.to(device) for t in dataset.tensors)))
            self.device = device
        return self

    @property
    def augmentation(self) -> Augmentation:
        """The dataset's augmentation; the padding takes a black pixel's normalised value."""
        fill = tuple(-m / s for m, s in zip(self.mean, self.std))
        return Augmentation(pad=self.shift, flip=self.flip, fill=fill)

    def _loader(self, dataset: TensorDataset | None, train: bool) -> TensorLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a data loader.")
        images, labels = dataset.tensors
        if train:
            augment = self.augmentation if self.augment else None
            return TensorLoader(
                images,
                labels,
                batch_size=self.batch_size,
                shuffle=True,
                seed=self.seed,
                augment=augment,
            )
        return TensorLoader(images, labels, batch_size=max(self.batch_size, 256))

    def n_images(self, split: str) -> int:
        """The number of images in ``split`` ("train", "val" or "test"), once set up."""
        dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
        if dataset is None:
            raise RuntimeError(f"the {split} split is not set up: call setup() first.")
        return len(dataset)

    def train_dataloader(self) -> TensorLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> TensorLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> TensorLoader:
        return self._loader(self.test_set, train=False)

    def describe(self) -> str:
        """One line: the dataset and the sizes of its splits (after ``setup``)."""
        sizes = [len(s) if s is not None else "?" for s in (self.train_set, self.val_set)]
        test = len(self.test_set) if self.test_set is not None else "?"
        return f"{self.name}: train {sizes[0]}, validation {sizes[1]}, test {test}"


class DigitsDataModule(ImageDataModule):
    """scikit-learn's 8x8 handwritten digits (1,797 images); the default, needs no download.

    A fixed 20% test split (drawn with seed 0, whatever ``seed`` is) stands in for a test set.
    Batches of 32 by default (tuned for the 2-epoch search of the README, docs/decisions.md);
    augmentation shifts by one pixel and never flips (a flipped digit is another symbol).

    Example:
        >>> from optuna_rlnas.child import DigitsDataModule
        >>> dm = DigitsDataModule(train_subset=100, seed=1)
        >>> dm.setup("fit")
        >>> dm.describe()
        'digits: train 100, validation 288, test 359'
    """

    name = "digits"
    in_channels = 1
    num_classes = 10
    image_size = (8, 8)
    mean = (0.3053,)
    std = (0.3760,)
    scale = 16.0
    shift = 1
    flip = False
    test_fraction = 0.2

    def __init__(self, *, val_size: int | float = 0.2, batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(val_size=val_size, batch_size=batch_size, **kwargs)

    def _load(self) -> _Arrays:
        try:
            from sklearn.datasets import load_digits
        except ImportError as exc:  # pragma: no cover
            raise ImportError(
                f'the digits dataset needs scikit-learn: pip install "optuna-rlnas[lightning]" '
                f"({exc})."
            ) from exc
        digits = load_digits()
        x = digits.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8), values 0..16
        y = digits.target.astype(np.int64)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).numpy()
        n_test = round(len(x) * self.test_fraction)
        test, train = order[:n_test], order[n_test:]
        return x[train], y[train], x[test], y[test]


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (as Fashion-MNIST and MNIST ship), gzip-compressed or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:  # a damaged .gz, an unreadable file
        raise ValueError(f"{path} cannot be read as an IDX file: {exc}.") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number).")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {array.size} bytes of data, but its header says {shape}.")
    return array.reshape(shape)


class FashionMNISTDataModule(ImageDataModule):
    """Fashion-MNIST, 28x28 grey images of clothes, read from its four IDX files.

    ``data_dir`` defaults to ``/usr/share/datasets/fashion-mnist`` (Debian's
    ``dataset-fashion-mnist``); the files may be gzip-compressed or not.

    Example:
        >>> from optuna_rlnas.child import FashionMNISTDataModule
        >>> dm = FashionMNISTDataModule(data_dir="/no/such/folder")
        >>> try:
        ...     dm.prepare_data()
        ... except FileNotFoundError as exc:
        ...     print(str(exc)[:40])
        Fashion-MNIST not found in /no/such/fold
    """

    name = "fashion-mnist"
    in_channels = 1
    num_classes = 10
    image_size = (28, 28)
    mean = (0.2860,)
    std = (0.3530,)
    files = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir) if data_dir is not None else FASHION_MNIST_DIR

    def _paths(self) -> list[Path]:
        """The four files, in the order of ``files``; raises naming the missing ones."""
        found = [_find(self.data_dir, stem) for stem in self.files]
        missing = [stem for stem, path in zip(self.files, found) if path is None]
        if missing:
            raise DatasetNotFoundError(
                f"Fashion-MNIST not found in {self.data_dir}: missing {', '.join(missing)} "
                f"(.gz or not); {_FASHION_HINT}."
            )
        return [path for path in found if path is not None]

    def check_files(self) -> None:
        self._paths()

    def _load(self) -> _Arrays:
        arrays = [read_idx(path) for path in self._paths()]
        train_x, train_y, test_x, test_y = arrays
        return train_x[:, None], train_y.astype(np.int64), test_x[:, None], test_y.astype(np.int64)


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10, 32x32 colour images, from the python-format folder ``cifar-10-batches-py``.

    The folder holds ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``, pickled
    dictionaries with ``b"data"`` (N x 3072 uint8) and ``b"labels"``; they are unpickled as
    torchvision does, so pass only a folder you trust.

    Example:
        >>> from optuna_rlnas.child import CIFAR10DataModule
        >>> CIFAR10DataModule(data_dir="/no/such/folder").image_size
        (32, 32)
    """

    name = "cifar10"
    in_channels = 3
    num_classes = 10
    image_size = (32, 32)
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    shift = 4
    files = tuple(f"data_batch_{k}" for k in range(1, 6)) + ("test_batch",)

    def __init__(self, data_dir: str | os.PathLike[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_dir is None:
            raise ValueError(f"CIFAR-10 needs data_dir: {_CIFAR_HINT}.")
        self.data_dir = Path(data_dir)

    def check_files(self) -> None:
        missing = [name for name in self.files if not (self.data_dir / name).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"CIFAR-10 not found in {self.data_dir}: missing {', '.join(missing)}; "
                f"{_CIFAR_HINT}."
            )

    def _read(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        path = self.data_dir / name
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            x = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as exc:  # junk: unpickling, a missing key, a bad shape all end here
            raise ValueError(
                f"{path} is not a CIFAR-10 python batch ({type(exc).__name__}: {exc}); "
                f"{_CIFAR_HINT}."
            ) from exc
        if len(x) != len(y):
            raise ValueError(f"{path} holds {len(x)} images but {len(y)} labels.")
        return x, y

    def _load(self) -> _Arrays:
        parts = [self._read(name) for name in self.files[:-1]]
        test_x, test_y = self._read("test_batch")
        train_x = np.concatenate([x for x, _ in parts])
        train_y = np.concatenate([y for _, y in parts])
        return train_x, train_y, test_x, test_y


DATASETS: dict[str, type[ImageDataModule]] = {
    "digits": DigitsDataModule,
    "fashion-mnist": FashionMNISTDataModule,
    "cifar10": CIFAR10DataModule,
}


def make_datamodule(
    dataset: str = "digits", data_dir: str | os.PathLike[str] | None = None, **kwargs: Any
) -> ImageDataModule:
    """The data module for ``dataset`` (``"digits"``, ``"fashion-mnist"`` or ``"cifar10"``).

    ``data_dir`` is refused for digits (it ships with scikit-learn), optional for Fashion-MNIST
    and required for CIFAR-10; the other keyword arguments go to :class:`ImageDataModule`.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, but got {dataset!r}.")
    if dataset == "digits":
        if data_dir is not None:
            raise ValueError(
                "digits ships with scikit-learn and reads no data folder, but got "
                f"data_dir={str(data_dir)!r}; a folder is for fashion-mnist or cifar10."
            )
        return DigitsDataModule(**kwargs)
    if dataset == "fashion-mnist":
        return FashionMNISTDataModule(data_dir=data_dir, **kwargs)
    if data_dir is None:
        raise ValueError(f"CIFAR-10 needs a data folder: {_CIFAR_HINT}.")
    return CIFAR10DataModule(data_dir=data_dir, **kwargs)
