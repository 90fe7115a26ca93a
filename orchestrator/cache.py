"""Results computed once and reused: folders keyed by the content hash of what they depend on.

A folder counts only once its manifest exists; the manifest is written last and atomically, and it
records the SHA-256 of every file beside it. A folder whose files no longer match (truncated, edited) or
whose manifest does not parse is reported in one line and computed again, never silently used. One
process at a time works on a folder (an exclusive file lock), so two runs sharing a cache compute a
table or a supernet once: the second waits, then reads what the first wrote. A folder, or a file in it, that
is a symlink out of the cache root is refused in one line: it would be read, and written through.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from hardcore_nas import UsageError, content_hash
from hardcore_nas.checks import check_inside, read_json

from .locks import exclusive_lock

__all__ = ["CacheEntry", "Cached", "StageCache"]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
T = TypeVar("T")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One cache folder: where it is, its key, and the inputs the key hashes."""
    path: Path
    key: str
    inputs: dict

    def _files(self) -> dict[str, str]:
        return {p.relative_to(self.path).as_posix(): file_sha256(p) for p in sorted(self.path.rglob("*"))
                if p.is_file() and p.name not in (MANIFEST, f"{MANIFEST}.tmp")}

    @property
    def manifest(self) -> dict | None:
        """What the run that filled the folder recorded (its MLflow run id, ...), or None when the folder is
        incomplete or no longer what was written (then the reason is logged)."""
        file = self.path / MANIFEST
        if not file.is_file():
            return None
        try:
            manifest = read_json(file, "cache manifest", allow_nan=True)
            recorded = manifest["files"]
        except (UsageError, KeyError, TypeError):
            logger.warning("cache %s: its manifest is unreadable or from an older release; computing it again",
                           self.path)
            return None
        if self._files() != recorded:
            logger.warning("cache %s: its files changed since they were written (SHA-256 mismatch); computing "
                           "them again", self.path)
            return None
        return manifest

    def complete(self, **record) -> None:
        """Mark the folder complete: ``record`` beside the key, the inputs and every file's SHA-256."""
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f"{MANIFEST}.tmp"
        body = {"key": self.key, "inputs": self.inputs, "files": self._files(), **record}
        tmp.write_text(json.dumps(body, indent=1, default=str))
        tmp.replace(self.path / MANIFEST)

    def get_or_compute(self, load: Callable[[Path], T], compute: Callable[[Path], T]) -> Cached[T]:
        """``load(folder)`` when the folder is complete and intact, else ``compute(folder)`` (which writes
        the files; the caller completes the entry once it knows what to record)."""
        root = self.path.parents[1]         # <root>/<kind>/<entry>
        check_inside(self.path, root, "cache folder")
        for path in self.path.rglob("*"):
            check_inside(path, root, "cache file")
        manifest = self.manifest
        if manifest is None and self.path.exists():
            (self.path / MANIFEST).unlink(missing_ok=True)     # half-written or damaged: start clean
        value = load(self.path) if manifest else compute(self.path)
        return Cached(value, self, manifest)


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

    @contextmanager
    def open(self, kind: str, inputs: dict, label: str = "") -> Iterator[CacheEntry]:
        """The entry, held exclusively for the ``with`` block (another process opening it waits)."""
        entry = self.entry(kind, inputs, label)
        lock_path = self.root / ".locks" / f"{kind}-{entry.path.name}.lock"    # out of the folders users list
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(lock_path, lambda: logger.info("waiting for another run computing %s", entry.path)):
            yield entry
