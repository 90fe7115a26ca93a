"""torch eager on the CPU: wall-clock stamps, per-block times from forward hooks inside the network."""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .registry import LatencyBackend, TimedNetwork, register_backend, segment_boundaries

__all__ = ["TorchCpuBackend", "TorchNetwork"]


class _CpuClock:
    """Wall-clock stamps; the caller's thread does all the work on CPU."""

    def stamp(self) -> int:
        return time.perf_counter_ns()

    def intervals_ms(self, stamps: Sequence[int]) -> list[float]:
        return (np.diff(np.asarray(stamps, dtype=np.int64)) / 1e6).tolist()


class TorchNetwork(TimedNetwork):
    """A torch module timed with ``clock``; segments are the intervals between forward-hook stamps, so
    the segments of one pass add up to that pass exactly."""

    def __init__(self, model, x, clock) -> None:
        self.model, self.x, self.clock = model, x, clock
        self.boundaries = [model.get_submodule(name) for name in segment_boundaries(model)]

    def _runs(self, runs: int, blocks: bool) -> list[list[float]]:
        import torch

        stamps: list = []
        handles = [m.register_forward_hook(lambda *_: stamps.append(self.clock.stamp()))
                   for m in self.boundaries] if blocks else []
        try:
            out = []
            with torch.inference_mode():
                for _ in range(runs):
                    stamps.clear()
                    stamps.append(self.clock.stamp())
                    self.model(self.x)
                    stamps.append(self.clock.stamp())
                    out.append(self.clock.intervals_ms(stamps))
            return out
        finally:
            for handle in handles:
                handle.remove()

    def totals(self, runs: int) -> list[float]:
        return [sum(r) for r in self._runs(runs, False)]

    def segments(self, runs: int) -> list[list[float]]:
        return self._runs(runs, True)

    def close(self) -> None:
        self.model = self.x = None


@register_backend("torch-cpu")
class TorchCpuBackend(LatencyBackend):
    """torch eager, ``threads`` intra-op threads (``torch.set_num_threads``)."""

    device = "cpu"

    @classmethod
    def versions(cls, profile) -> dict:
        import torch

        return {"torch": torch.__version__}

    def setup(self) -> None:
        import torch

        torch.set_num_threads(self.profile.resolved_threads())

    def clock(self):
        return _CpuClock()

    def load(self, model, example, blocks: bool) -> TorchNetwork:
        return TorchNetwork(model.eval().to(self.device), example.to(self.device), self.clock())
