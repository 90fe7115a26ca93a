"""Data sources found by name, as timm registers models: ``@register_data_source("name")`` on a loader.

A spec is ``NAME`` or ``NAME:ROOT``; whether ROOT is refused, optional or required is the source's to say.
``load_data`` turns a source's training set into the train / val split (per class) and keeps its test set.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from torch.utils.data import Dataset

from hardcore_nas.errors import UsageError

from .splits import DataSplits, TransformedSubset, per_class_split

__all__ = ["DataSource", "SourceSets", "get_data_source", "list_data_sources", "load_data", "parse_data_spec",
           "register_data_source"]

RootPolicy = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class SourceSets:
    """What a loader gives: the training set (``targets`` per item; split into train / val by
    ``load_data``), the held-out test set, the transforms of training and of evaluation, the class count."""
    trainval: Dataset
    test: Dataset
    train_transform: Callable | None
    eval_transform: Callable | None
    num_classes: int


class Loader(Protocol):
    def __call__(self, root: Path | None, input_size: int, in_chans: int) -> SourceSets: ...


@dataclass(frozen=True)
class DataSource:
    """A registered source: its name, its loader and whether its spec takes a ``:ROOT``."""
    name: str
    loader: Loader
    root: RootPolicy

    @property
    def usage(self) -> str:
        return {"none": self.name, "optional": f"{self.name}[:ROOT]", "required": f"{self.name}:ROOT"}[self.root]


_SOURCES: dict[str, DataSource] = {}


def register_data_source(name: str, *, root: RootPolicy = "required") -> Callable[[Loader], Loader]:
    """Register ``loader(root, input_size, in_chans) -> SourceSets`` under ``name``."""
    if root not in ("none", "optional", "required"):
        raise ValueError(f"root must be 'none', 'optional' or 'required', got {root!r}")
    if ":" in name:
        raise ValueError(f"a data source name cannot hold ':' (it separates the root): {name!r}")

    def decorator(loader: Loader) -> Loader:
        if name in _SOURCES:
            raise ValueError(f"data source {name!r} is already registered")
        _SOURCES[name] = DataSource(name, loader, root)
        return loader

    return decorator


def list_data_sources() -> list[str]:
    """The registered source names, sorted."""
    return sorted(_SOURCES)


def get_data_source(name: str) -> DataSource:
    if name not in _SOURCES:
        known = ", ".join(_SOURCES[n].usage for n in list_data_sources())
        raise UsageError(f"unknown data {name!r}; known sources: {known}")
    return _SOURCES[name]


def parse_data_spec(spec: str) -> tuple[str, Path | None]:
    """``NAME`` or ``NAME:ROOT`` -> (name, root), checked against the source's root policy."""
    name, colon, root = spec.partition(":")
    source = get_data_source(name)
    if source.root == "none" and colon:
        raise UsageError(f"--data {name} takes no path (use --data {name})")
    if source.root == "required" and not root:
        raise UsageError(f"--data {name} needs a local root, e.g. {name}:/data/{name}")
    if colon and not root:
        raise UsageError(f"--data {spec!r} has an empty path after ':' (use {name} or {name}:ROOT)")
    return name, Path(root).expanduser() if root else None


def load_data(spec: str, input_size: int, *, val_fraction: float = 0.2, seed: int = 0,
              in_chans: int = 3) -> DataSplits:
    """The train / val (search) / test splits of ``spec`` at ``in_chans`` x ``input_size`` x ``input_size``."""
    name, root = parse_data_spec(spec)
    if root is not None and not root.is_dir():
        raise UsageError(f"data path {root} does not exist (or is not a directory)")
    sets = _SOURCES[name].loader(root, input_size, in_chans)
    train_idx, val_idx = per_class_split(sets.trainval.targets, val_fraction, seed)
    return DataSplits(
        name=name,
        train=TransformedSubset(sets.trainval, train_idx, sets.train_transform),
        val=TransformedSubset(sets.trainval, val_idx, sets.eval_transform),
        test=TransformedSubset(sets.test, np.arange(len(sets.test)), sets.eval_transform),
        num_classes=sets.num_classes,
    )
