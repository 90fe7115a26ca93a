"""Transforms shared by sources: grayscale images to the space's input, and the check of RGB sources."""
from __future__ import annotations

import numpy as np
import torch

from hardcore_nas.errors import UsageError

__all__ = ["GrayToInput", "gray_mean_std", "require_rgb"]


class GrayToInput:
    """A uint8 (1, H, W) image -> float (in_chans, size, size) in [0, 1]: bilinear resize, channel copies."""

    def __init__(self, size: int, in_chans: int):
        self.size = size
        self.in_chans = in_chans

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = image.to(torch.float32).div_(255.0)
        if x.shape[-2:] != (self.size, self.size):
            x = torch.nn.functional.interpolate(x[None], size=(self.size, self.size), mode="bilinear",
                                                align_corners=False)[0].clamp_(0, 1)
        return x.expand(self.in_chans, -1, -1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, in_chans={self.in_chans})"


def gray_mean_std(images: np.ndarray) -> tuple[float, float]:
    """Mean and std of uint8 pixels, scaled to [0, 1], from their histogram (no float copy of the set)."""
    counts = np.bincount(images.reshape(-1), minlength=256).astype(np.float64)
    levels = np.arange(256) / 255.0
    mean = float(counts @ levels / counts.sum())
    return mean, float(np.sqrt(counts @ (levels - mean) ** 2 / counts.sum()))


def require_rgb(name: str, in_chans: int) -> None:
    if in_chans != 3:
        raise UsageError(f"data {name} has RGB images; the space takes {in_chans} input channel(s), not 3")
