"""Fashion-MNIST (Zalando): 60k training and 10k test 28x28 grayscale images of 10 kinds of clothing.

Read from its four IDX files (``.gz`` or not), looked up in ROOT (``fashion-mnist:ROOT``) and then in the
Debian package ``dataset-fashion-mnist``'s folder. Nothing is downloaded here: ``make fashion-mnist
DEST=DIR`` fetches the files at set-up time where apt-get is not an option.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from hardcore_nas.errors import UsageError

from .idx import read_idx
from .registry import SourceSets, register_data_source
from .splits import ImageTensors
from .transforms import GrayToInput, gray_mean_std

__all__ = ["FILES", "NUM_CLASSES", "SYSTEM_DIRS", "find_files", "fashion_mnist"]

logger = logging.getLogger(__name__)

FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
NUM_CLASSES = 10
# Searched after ROOT, in order (tests point it elsewhere).
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)
HOW_TO_GET = ("install it with 'apt-get install dataset-fashion-mnist', or point fashion-mnist:ROOT at a folder "
              "with the four IDX files ('make fashion-mnist DEST=DIR' downloads them)")


def find_files(root: Path | None = None) -> dict[str, Path]:
    """The four files from the first folder (ROOT, then ``SYSTEM_DIRS``) that holds all of them.

    Files are never mixed across folders: a partial copy in ROOT must not pair with another copy's test set.
    """
    folders = ([root] if root is not None else []) + list(SYSTEM_DIRS)
    problems = []
    for folder in folders:
        found = {key: _find(folder, name) for key, name in FILES.items()}
        missing = [f"{FILES[key]}[.gz]" for key, path in found.items() if path is None]
        if not missing:
            if root is not None and folder != root:
                logger.warning("fashion-mnist: %s lacks the IDX files; using %s", root, folder)
            return found
        problems.append(f"{folder} does not exist" if not folder.is_dir()
                        else f"{folder} lacks {', '.join(missing)}")
    raise UsageError(f"fashion-mnist data not found ({'; '.join(problems)}); {HOW_TO_GET}")


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise UsageError(f"{images_path} must hold uint8 images (N, H, W), it holds {images.dtype} "
                         f"{images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise UsageError(f"{labels_path} must hold uint8 labels (N,), it holds {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise UsageError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise UsageError(f"{labels_path} has label {labels.max()}; Fashion-MNIST's are 0..{NUM_CLASSES - 1}")
    return images, labels.astype(np.int64)


@register_data_source("fashion-mnist", root="optional")
def fashion_mnist(root: Path | None, input_size: int, in_chans: int) -> SourceSets:
    """The official 60k / 10k split; images bilinearly resized to ``input_size``, copied to ``in_chans``."""
    from torchvision import transforms

    files = find_files(root)
    logger.info("fashion-mnist from %s", files["train_images"].parent)
    train_x, train_y = _read_pair(files["train_images"], files["train_labels"])
    test_x, test_y = _read_pair(files["test_images"], files["test_labels"])
    # Kept as uint8 at 28x28 (55 MB), resized per item: the set at 3x32x32 in float32 would be 860 MB.
    trainval = ImageTensors(torch.from_numpy(train_x).unsqueeze(1), train_y)
    test = ImageTensors(torch.from_numpy(test_x).unsqueeze(1), test_y)
    mean, std = gray_mean_std(train_x)
    to_input = GrayToInput(input_size, in_chans)
    normalize = transforms.Normalize([mean] * in_chans, [std] * in_chans)
    # Shifts of up to ~3 original pixels and mirror images (clothes are about left-right symmetric).
    augment = [transforms.RandomCrop(input_size, padding=max(1, input_size // 8)), transforms.RandomHorizontalFlip()]
    return SourceSets(trainval, test, transforms.Compose([to_input, *augment, normalize]),
                      transforms.Compose([to_input, normalize]), num_classes=NUM_CLASSES)
