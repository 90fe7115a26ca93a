"""torch eager on a CUDA GPU: CUDA events recorded on the stream, read after synchronising."""
from __future__ import annotations

from collections.abc import Sequence

from .registry import register_backend
from .torch_cpu import TorchCpuBackend

__all__ = ["TorchCudaBackend"]


class _CudaClock:
    """CUDA events recorded on the stream; intervals are read after synchronising."""

    def __init__(self) -> None:
        import torch

        self._torch = torch

    def stamp(self):
        event = self._torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def intervals_ms(self, stamps: Sequence) -> list[float]:
        self._torch.cuda.synchronize()
        return [float(a.elapsed_time(b)) for a, b in zip(stamps[:-1], stamps[1:])]


@register_backend("torch-cuda")
class TorchCudaBackend(TorchCpuBackend):
    """torch eager on the first CUDA device (cuDNN autotuning on); ``threads`` is the host's."""

    device = "cuda"

    @classmethod
    def versions(cls, profile) -> dict:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        return {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": gpu}

    def setup(self) -> None:
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"device {self.profile.name!r} needs CUDA, which this machine lacks")
        super().setup()
        torch.backends.cudnn.benchmark = True

    def clock(self):
        return _CudaClock()
