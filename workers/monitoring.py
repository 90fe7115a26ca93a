"""Watching remote work: CPU time for the run report's cost accounting ("400 + 15N"), and a board
where running tasks post their progress for the driver to show."""
from __future__ import annotations

import functools
import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["process_cpu_seconds", "cpu_timed", "ProgressBoard", "start_board", "progress_board"]


def process_cpu_seconds() -> float:
    """CPU time (user + system, every thread) of this process and of its finished child processes
    (latency is measured in fresh child processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu_timed(fn: Callable) -> Callable:
    """``fn`` returning ``(result, cpu seconds it used)``: run it as a Ray task to learn a stage's cost."""
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        before = process_cpu_seconds()
        result = fn(*args, **kwargs)
        return result, process_cpu_seconds() - before

    return timed


class ProgressBoard:
    """Actor body: counters that running tasks set or advance (fire and forget), read by the driver."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def set(self, key: str, value: int) -> None:
        self.counts[key] = value

    def add(self, key: str, amount: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


def start_board():
    """A :class:`ProgressBoard` actor (it asks for no CPU)."""
    import ray

    return ray.remote(ProgressBoard).options(num_cpus=0).remote()


@contextmanager
def progress_board() -> Iterator:
    """A :class:`ProgressBoard` actor for the length of a ``with`` block, killed on the way out (error or not)."""
    import ray

    board = start_board()
    try:
        yield board
    finally:
        ray.kill(board)
