"""ImageNet layout on disk (``imagenet:ROOT``): ``ROOT/train/<class>/*`` and ``ROOT/val/<class>/*``."""
from __future__ import annotations

from pathlib import Path

from hardcore_nas.errors import UsageError

from .registry import SourceSets, register_data_source
from .transforms import require_rgb


@register_data_source("imagenet")
def imagenet(root: Path, input_size: int, in_chans: int) -> SourceSets:
    """Class folders of images; ``val`` is the held-out test split."""
    from torchvision.datasets import ImageFolder

    require_rgb("imagenet", in_chans)
    folders = {split: root / split for split in ("train", "val")}
    for split, folder in folders.items():
        if not folder.is_dir():
            raise UsageError(f"ImageNet-layout data needs {folder} (class sub-folders of images); "
                             f"{root} has no '{split}' folder")
    train, test = ImageFolder(str(folders["train"])), ImageFolder(str(folders["val"]))
    if train.classes != test.classes:
        raise UsageError(f"{folders['train']} and {folders['val']} must hold the same class folders")
    train_tf, eval_tf = _transforms(input_size)
    return SourceSets(train, test, train_tf, eval_tf, num_classes=len(train.classes))


def _transforms(input_size: int):
    """The official recipe's augmentation (RandAugment m9, random erasing 0.2, colour jitter 0.4)."""
    from timm.data import create_transform

    train = create_transform(input_size, is_training=True, auto_augment="rand-m9-mstd0.5",
                             re_prob=0.2, color_jitter=0.4, interpolation="random")
    return train, create_transform(input_size, is_training=False, crop_pct=0.875)
