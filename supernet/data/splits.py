"""The train / val / test splits every data source gives, and the datasets and loaders behind them."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["DataSplits", "ImageTensors", "TransformedSubset", "make_loader", "per_class_split"]


@dataclass(frozen=True)
class DataSplits:
    """The three splits of a data source and its number of classes."""
    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int

    def training_set(self, augment: bool = True) -> Dataset:
        """The train split, with the source's augmentation or with the evaluation transform only."""
        if augment:
            return self.train
        return TransformedSubset(self.train.base, self.train.indices, self.test.transform)


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


class ImageTensors(Dataset):
    """Images held as one tensor (N, C, H, W) with integer ``targets`` (a NumPy array)."""

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


def make_loader(dataset: Dataset, batch_size: int, *, train: bool, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    """Shuffled, last partial batch dropped when ``train`` (BN needs >1 image); ordered otherwise."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=train, drop_last=train and len(dataset) > batch_size,
        generator=torch.Generator().manual_seed(seed) if train else None,
        num_workers=num_workers, persistent_workers=num_workers > 0,
    )
