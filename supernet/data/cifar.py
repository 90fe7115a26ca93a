"""CIFAR-10 and CIFAR-100 in their python batch format, from a local copy (``cifar10:ROOT``)."""
from __future__ import annotations

from pathlib import Path

from torchvision.datasets import CIFAR10, CIFAR100

from hardcore_nas.errors import UsageError

from .registry import SourceSets, register_data_source
from .transforms import require_rgb

_MEAN, _STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class _WithoutChecksums:
    """Mixin for torchvision's CIFAR readers: the same pickled-batch reading, no md5 check of the files.

    Any data in CIFAR's python batch format loads (re-packed copies, subsets); ``_load`` checks that
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


@register_data_source("cifar10")
def cifar10(root: Path, input_size: int, in_chans: int) -> SourceSets:
    return _load("cifar10", _CIFAR10Files, root, input_size, in_chans)


@register_data_source("cifar100")
def cifar100(root: Path, input_size: int, in_chans: int) -> SourceSets:
    return _load("cifar100", _CIFAR100Files, root, input_size, in_chans)


def _load(name: str, reader: type, root: Path, input_size: int, in_chans: int) -> SourceSets:
    require_rgb(name, in_chans)
    folder = root / reader.base_folder
    needed = [file for file, _ in reader.train_list + reader.test_list] + [reader.meta["filename"]]
    missing = [file for file in needed if not (folder / file).is_file()]
    if missing:
        raise UsageError(f"{name} data not found: {folder} lacks {', '.join(missing)} (expected the "
                         f"python version of {name}, extracted under {root})")
    train = reader(str(root), train=True, download=False)
    test = reader(str(root), train=False, download=False)
    train_tf, eval_tf = _transforms(input_size)
    return SourceSets(train, test, train_tf, eval_tf, num_classes=len(train.classes))


def _transforms(input_size: int):
    from torchvision import transforms

    resize = [transforms.Resize(input_size)] if input_size != 32 else []
    normalize = [transforms.ToTensor(), transforms.Normalize(_MEAN, _STD)]
    train = transforms.Compose(resize + [transforms.RandomCrop(input_size, padding=input_size // 8),
                                         transforms.RandomHorizontalFlip()] + normalize)
    return train, transforms.Compose(resize + normalize)
