"""Data sets: the embedded offline default (scikit-learn's digits), CIFAR-10/100 and ImageNet-layout folders.

Every source gives three splits (paper 4.1.1): ``train`` (80% of every class of the training set: the
weights are trained on it), ``val`` (the other 20%: the search's validation data, eval transforms) and
``test`` (held out: the accuracy reported for a model). Nothing is downloaded.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import CIFAR10, CIFAR100

from hardcore_nas.errors import UsageError

__all__ = ["DataSplits", "TransformedSubset", "load_data", "make_loader", "parse_data_spec",
           "per_class_split", "DATA_KINDS"]

DATA_KINDS = ("digits", "cifar10", "cifar100", "imagenet")
_CIFAR_MEAN, _CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
# The digits' held-out test split is fixed, independent of the train/val seed.
_DIGITS_TEST_SEED = 20210401
_DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DataSplits:
    """The three splits of a data source and its number of classes."""
    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int


class TransformedSubset(Dataset):
    """``base[indices[i]]`` with ``transform`` applied to the image (one base, several transforms)."""

    def __init__(self, base: Dataset, indices: Sequence[int], transform: Callable | None = None):
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        image, target = self.base[int(self.indices[i])]
        return (self.transform(image) if self.transform else image), target


class _ImageTensors(Dataset):
    """Images held as one float tensor (N, C, H, W) in [0, 1] with integer targets."""

    def __init__(self, images: torch.Tensor, targets: np.ndarray):
        self.images = images
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.images[i], int(self.targets[i])


def per_class_split(targets: Sequence[int], val_fraction: float = 0.2, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic per-class split: ``round(val_fraction * n_c)`` of each class's items go to val.

    Items are shuffled within each class by ``seed`` (data sets are often ordered by writer or source);
    both index arrays come back sorted.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    targets = np.asarray(targets)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == c))
        n_val = int(round(val_fraction * len(members)))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def parse_data_spec(spec: str) -> tuple[str, Path | None]:
    """``digits`` or ``KIND:ROOT`` (cifar10, cifar100, imagenet) -> (kind, root)."""
    kind, _, root = spec.partition(":")
    if kind not in DATA_KINDS:
        raise UsageError(f"unknown data {spec!r}; use digits, cifar10:ROOT, cifar100:ROOT or imagenet:ROOT")
    if kind == "digits":
        if root:
            raise UsageError("--data digits takes no path (the digits ship with scikit-learn)")
        return kind, None
    if not root:
        raise UsageError(f"--data {kind} needs a local root, e.g. {kind}:/data/{kind}")
    return kind, Path(root).expanduser()


def load_data(spec: str, input_size: int, *, val_fraction: float = 0.2, seed: int = 0) -> DataSplits:
    """The train / val (search) / test splits of ``spec`` at ``input_size`` x ``input_size``."""
    kind, root = parse_data_spec(spec)
    if root is not None and not root.is_dir():
        raise UsageError(f"data path {root} does not exist (or is not a directory)")
    if kind == "digits":
        base, test_base, (train_tf, eval_tf) = _digits(input_size)
        num_classes = 10
    elif kind in ("cifar10", "cifar100"):
        base, test_base = _cifar(kind, root)
        num_classes = len(base.classes)
        train_tf, eval_tf = _cifar_transforms(input_size)
    else:
        base, test_base = _image_folders(root)
        num_classes = len(base.classes)
        train_tf, eval_tf = _imagenet_transforms(input_size)
    train_idx, val_idx = per_class_split(base.targets, val_fraction, seed)
    return DataSplits(
        name=kind,
        train=TransformedSubset(base, train_idx, train_tf),
        val=TransformedSubset(base, val_idx, eval_tf),
        test=TransformedSubset(test_base, np.arange(len(test_base)), eval_tf),
        num_classes=num_classes,
    )


def make_loader(dataset: Dataset, batch_size: int, *, train: bool, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    """Shuffled, last partial batch dropped when ``train`` (BN needs >1 image); ordered otherwise."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=train, drop_last=train and len(dataset) > batch_size,
        generator=torch.Generator().manual_seed(seed) if train else None,
        num_workers=num_workers, persistent_workers=num_workers > 0,
    )


# --- sources ------------------------------------------------------------------------------------
def _digits(input_size: int):
    """scikit-learn's 1797 8x8 digits, bilinearly resized, 3 channels; a fixed 20% per class held out."""
    from sklearn.datasets import load_digits
    from torchvision import transforms

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = torch.nn.functional.interpolate(images, size=(input_size, input_size), mode="bilinear",
                                             align_corners=False).clamp_(0, 1).expand(-1, 3, -1, -1)
    targets = digits.target.astype(np.int64)
    trainval_idx, test_idx = per_class_split(targets, _DIGITS_TEST_FRACTION, _DIGITS_TEST_SEED)
    trainval = _ImageTensors(images[trainval_idx].contiguous(), targets[trainval_idx])
    test = _ImageTensors(images[test_idx].contiguous(), targets[test_idx])
    mean, std = trainval.images.mean().item(), trainval.images.std().item()
    normalize = transforms.Normalize([mean] * 3, [std] * 3)
    # Shifts of up to one original pixel; no flips (digits are not mirror-symmetric).
    shift = transforms.RandomCrop(input_size, padding=max(1, input_size // 8))
    return trainval, test, (transforms.Compose([shift, normalize]), normalize)


class _WithoutChecksums:
    """Mixin for torchvision's CIFAR readers: the same pickled-batch reading, no md5 check of the files.

    Any data in CIFAR's python batch format loads (re-packed copies, subsets); ``_cifar`` checks that
    the files exist and names what is missing.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.train_list = [[name, None] for name, _ in cls.train_list]
        cls.test_list = [[name, None] for name, _ in cls.test_list]
        cls.meta = {**cls.meta, "md5": None}


class _CIFAR10Files(_WithoutChecksums, CIFAR10):
    """CIFAR-10 in its python batch format."""


class _CIFAR100Files(_WithoutChecksums, CIFAR100):
    """CIFAR-100 in its python batch format."""


def _cifar(kind: str, root: Path):
    reader = _CIFAR10Files if kind == "cifar10" else _CIFAR100Files
    folder = root / reader.base_folder
    needed = [name for name, _ in reader.train_list + reader.test_list] + [reader.meta["filename"]]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise UsageError(f"{kind} data not found: {folder} lacks {', '.join(missing)} (expected the "
                         f"python version of {kind}, extracted under {root})")
    return reader(str(root), train=True, download=False), reader(str(root), train=False, download=False)


def _cifar_transforms(input_size: int):
    from torchvision import transforms

    resize = [transforms.Resize(input_size)] if input_size != 32 else []
    normalize = [transforms.ToTensor(), transforms.Normalize(_CIFAR_MEAN, _CIFAR_STD)]
    train = transforms.Compose(resize + [transforms.RandomCrop(input_size, padding=input_size // 8),
                                         transforms.RandomHorizontalFlip()] + normalize)
    return train, transforms.Compose(resize + normalize)


def _image_folders(root: Path):
    """ImageNet layout: ``root/train/<class>/*`` and ``root/val/<class>/*`` (val is the test split)."""
    from torchvision.datasets import ImageFolder

    folders = {split: root / split for split in ("train", "val")}
    for split, folder in folders.items():
        if not folder.is_dir():
            raise UsageError(f"ImageNet-layout data needs {folder} (class sub-folders of images); "
                             f"{root} has no '{split}' folder")
    train, test = ImageFolder(str(folders["train"])), ImageFolder(str(folders["val"]))
    if train.classes != test.classes:
        raise UsageError(f"{folders['train']} and {folders['val']} must hold the same class folders")
    return train, test


def _imagenet_transforms(input_size: int):
    """The official recipe's augmentation (RandAugment m9, random erasing 0.2, colour jitter 0.4)."""
    from timm.data import create_transform

    train = create_transform(input_size, is_training=True, auto_augment="rand-m9-mstd0.5",
                             re_prob=0.2, color_jitter=0.4, interpolation="random")
    return train, create_transform(input_size, is_training=False, crop_pct=0.875)
