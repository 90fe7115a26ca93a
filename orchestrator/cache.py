"""Results computed once and reused: folders keyed by the content hash of what they depend on.

A folder counts only once its manifest exists; the manifest is written last and atomically, so an
interrupted computation is done again instead of being read half-written.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from hardcore_nas import content_hash

__all__ = ["CacheEntry", "Cached", "StageCache"]

MANIFEST = "manifest.json"
T = TypeVar("T")


@dataclass(frozen=True)
class CacheEntry:
    """One cache folder: where it is, its key, and the inputs the key hashes."""
    path: Path
    key: str
    inputs: dict

    @property
    def manifest(self) -> dict | None:
        """What the run that filled the folder recorded (its MLflow run id, ...); None while incomplete."""
        file = self.path / MANIFEST
        return json.loads(file.read_text()) if file.is_file() else None

    def complete(self, **record) -> None:
        """Mark the folder complete, with ``record`` beside the key and the inputs."""
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps({"key": self.key, "inputs": self.inputs, **record}, indent=1, default=str))
        tmp.replace(self.path / MANIFEST)


@dataclass(frozen=True)
class Cached(Generic[T]):
    """A value read from the cache (``manifest`` is what its producer recorded) or just computed."""
    value: T
    entry: CacheEntry
    manifest: dict | None

    @property
    def reused(self) -> bool:
        return self.manifest is not None


class StageCache:
    """Cache folders under ``root``: ``<kind>/<label>-<key>`` (or ``<kind>/<key>`` without a label)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def entry(self, kind: str, inputs: dict, label: str = "") -> CacheEntry:
        key = content_hash(inputs)
        return CacheEntry(self.root / kind / (f"{label}-{key}" if label else key), key, inputs)

    def get_or_compute(self, kind: str, inputs: dict, load: Callable[[Path], T], compute: Callable[[Path], T],
                       label: str = "") -> Cached[T]:
        """``load(folder)`` when a complete folder exists, else ``compute(folder)`` (which writes the files;
        the caller completes the entry once it knows what to record)."""
        entry = self.entry(kind, inputs, label)
        manifest = entry.manifest
        value = load(entry.path) if manifest else compute(entry.path)
        return Cached(value, entry, manifest)
