"""An exclusive lock on a file, held across processes (``flock``): released when the block ends or when its
process dies, so a killed run never leaves a lock behind."""
from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["exclusive_lock"]


@contextmanager
def exclusive_lock(path: Path, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold ``path`` (created if missing) exclusively for the ``with`` block; ``waiting()`` is called once
    when another process holds it, before this one waits."""
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
