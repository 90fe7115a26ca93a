"""glibc allocator settings that training processes and latency-probe processes share.

glibc hands large freed blocks back to the kernel and adjusts its mmap threshold as a process runs, so
the next allocation faults fresh pages in: a training step or a timed network then runs at a speed
that depends on the process's history. Raising both thresholds keeps a process on its own heap.
Training sets them in-process (:func:`keep_heap`); latency probes start their processes with them in
the environment (:data:`ALLOCATOR_ENV`), which glibc reads at start-up.
"""
from __future__ import annotations

import ctypes

__all__ = ["ALLOCATOR_ENV", "MALLOC_MMAP_THRESHOLD", "MALLOC_TRIM_THRESHOLD", "keep_heap"]

MALLOC_MMAP_THRESHOLD = 32 << 20    # bytes: larger blocks come from mmap, smaller from the heap
MALLOC_TRIM_THRESHOLD = 1 << 30     # bytes of free heap top glibc keeps instead of returning them
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters

ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(MALLOC_MMAP_THRESHOLD),
    "MALLOC_TRIM_THRESHOLD_": str(MALLOC_TRIM_THRESHOLD),
}


def keep_heap() -> bool:
    """Set both thresholds in this process; False where the C library is not glibc (nothing to tune)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    libc.mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)
    libc.mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD)
    return True
