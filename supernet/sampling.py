"""Per-image paths through the elastic supernet (multipath sampling).

A :class:`PathSample` holds, for every image of a batch, its own architecture: one configuration index per
searched block (``configs``, shape ``(B, S, D)`` with ``D = space.max_depth``) and the depth of every stage
(``depths``, shape ``(B, S)``, actual depths ``space.min_depth..space.max_depth``). Entries of ``configs``
beyond an image's stage depth are still meaningful during search (the official code computes every block of
a stage and mixes the depths, so a block past the chosen depth still has a sampled configuration), and are
ignored by the plain forward pass.

Sampling a one-hot vector with the hard Gumbel-softmax of logits ``log p`` is the same as drawing a category
from ``p``; the straight-through gradient does not depend on the temperature (official-implementation 3.4),
so the samplers here draw categories directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .arch import Architecture
from .space import SearchSpace

__all__ = ["PathSample"]


def _as_probabilities(p, shape: tuple[int, ...], name: str) -> torch.Tensor:
    values = p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else p
    # A copy: Ray hands arrays over read-only, which torch warns about (and the array is small).
    t = torch.as_tensor(np.array(values, dtype=np.float64))
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    if not torch.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"{name} must hold finite non-negative probabilities")
    total = t.sum(-1, keepdim=True)
    if (total <= 0).any():
        raise ValueError(f"every row of {name} needs a positive entry")
    return t / total


def _categorical(probs: torch.Tensor, batch: int, generator: torch.Generator | None) -> torch.Tensor:
    """``batch`` independent draws from every row of ``probs`` (rows, n): a LongTensor (batch, rows)."""
    return torch.multinomial(probs, batch, replacement=True, generator=generator).T.contiguous()


@dataclass
class PathSample:
    """Per-image architectures of a batch: ``configs`` (B, S, D) and actual ``depths`` (B, S)."""
    configs: torch.Tensor
    depths: torch.Tensor

    def __post_init__(self) -> None:
        self.configs = torch.as_tensor(self.configs, dtype=torch.long)
        self.depths = torch.as_tensor(self.depths, dtype=torch.long, device=self.configs.device)
        if self.configs.dim() != 3 or self.depths.dim() != 2 or \
                self.configs.shape[:2] != self.depths.shape:
            raise ValueError(f"configs must be (B, S, D) and depths (B, S); got "
                             f"{tuple(self.configs.shape)} and {tuple(self.depths.shape)}")

    # --- constructors -----------------------------------------------------------------------
    @classmethod
    def uniform(cls, space: SearchSpace, batch: int, generator: torch.Generator | None = None
                ) -> PathSample:
        """Every image gets its own uniformly drawn path (multipath training, mode ``full1``)."""
        s, d, c = space.num_stages, space.max_depth, space.num_configs
        configs = torch.randint(c, (batch, s, d), generator=generator)
        choice = torch.randint(len(space.depths), (batch, s), generator=generator)
        return cls(configs, choice + space.min_depth)

    @classmethod
    def single_path(cls, space: SearchSpace, batch: int, generator: torch.Generator | None = None
                    ) -> PathSample:
        """One uniformly drawn path shared by the whole batch (single-path training, the paper's baseline)."""
        one = cls.uniform(space, 1, generator)
        return cls(one.configs.expand(batch, -1, -1).clone(), one.depths.expand(batch, -1).clone())

    @classmethod
    def from_distributions(cls, space: SearchSpace, alpha, beta, batch: int,
                           generator: torch.Generator | None = None) -> PathSample:
        """Independent per-image draws from ``alpha`` (S, D, C) and ``beta`` (S, K) probabilities."""
        s, d, c, k = space.num_stages, space.max_depth, space.num_configs, len(space.depths)
        pa = _as_probabilities(alpha, (s, d, c), "alpha").reshape(s * d, c)
        pb = _as_probabilities(beta, (s, k), "beta")
        configs = _categorical(pa, batch, generator).reshape(batch, s, d)
        depths = _categorical(pb, batch, generator) + space.min_depth
        return cls(configs, depths)

    @classmethod
    def fixed(cls, arch: Architecture, batch: int) -> PathSample:
        """The same architecture for every image (blocks past a stage's depth get the lightest config)."""
        alpha, beta = arch.to_one_hot()
        configs = torch.as_tensor(alpha.argmax(-1), dtype=torch.long)
        depths = torch.as_tensor(arch.depths, dtype=torch.long)
        return cls(configs.expand(batch, *configs.shape).clone(), depths.expand(batch, -1).clone())

    @classmethod
    def heaviest(cls, space: SearchSpace, batch: int) -> PathSample:
        return cls.fixed(Architecture.heaviest(space), batch)

    # --- views ------------------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return int(self.configs.shape[0])

    def __len__(self) -> int:
        return self.batch_size

    def to(self, device) -> PathSample:
        return PathSample(self.configs.to(device), self.depths.to(device))

    def __getitem__(self, index) -> PathSample:
        """The sample of a subset of images (an index, slice, mask or index tensor)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return PathSample(self.configs[index], self.depths[index])

    def architecture(self, space: SearchSpace, n: int) -> Architecture:
        """Image ``n``'s path as a discrete :class:`Architecture`."""
        cfg, dep = self.configs[n].tolist(), self.depths[n].tolist()
        return Architecture(space, tuple(tuple(cfg[s][:d]) for s, d in enumerate(dep)))

    def one_hot(self, space: SearchSpace, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image one-hot ``alpha`` (B, S, D, C) and ``beta`` (B, S, K) of this sample."""
        a = torch.nn.functional.one_hot(self.configs, space.num_configs).to(dtype)
        b = torch.nn.functional.one_hot(self.depths - space.min_depth, len(space.depths)).to(dtype)
        return a, b

    def distinct_paths(self, space: SearchSpace) -> int:
        """How many different architectures the batch holds (the configs past each depth ignored)."""
        return len({self.architecture(space, n) for n in range(self.batch_size)})
