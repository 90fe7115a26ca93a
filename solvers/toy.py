"""The paper's toy problem (eq. 15, Figure 5): hard constraint (BCSFW) vs soft penalty (SGD).

    min_x  sum_i (1 + eps_i) x_i^2   s.t.  sum_i x_i = 1,   eps ~ N(0, 0.01 I) drawn anew every step.

The expected objective is ``sum_i (1 + E eps_i) x_i^2 = ||x||^2``; by Lagrange, its minimiser under
the constraint is ``x_i ∝ 1 / (1 + E eps_i)``, so the optimum is ``1 / sum_i 1 / (1 + E eps_i) = 1/d``.
It lies inside ``x >= 0``, so BCSFW works on the simplex (the paper's LP ``min <g, xi> s.t. sum xi =
1`` has no solution without a bound) and starts, as in the paper, from a normalised random vector.

BCSFW uses two predefined coordinate blocks, one picked at random per step; its linear oracle over a
block keeps ``sum x = 1`` with the other coordinates fixed: all of the block's mass on the coordinate
of least gradient. The blocks overlap in two coordinates: with disjoint blocks each block's mass would
never change, and the iterates would stop at the best point with the starting split; with an overlap,
a point optimal for both blocks has equal gradients within each and hence across both (the optimum).

SGD minimises ``sum (1 + eps) x^2 + lambda (sum x - 1)^2`` (the paper's soft penalty) from the same
start, with step ``1 / L`` where ``L = 2 (1 + lambda d)`` is the largest curvature: the largest step
that is stable whatever ``lambda`` is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bcsfw import step_size

__all__ = ["ToyTrace", "toy_optimum", "toy_start", "toy_bcsfw", "toy_sgd", "run_toy"]

NOISE_STD = 0.1          # eps ~ N(0, 0.01 I)


@dataclass(frozen=True)
class ToyTrace:
    """One method's run: the expected objective and the violation ``|sum x - 1|`` per iteration
    (index 0 is the start). ``penalty`` is SGD's lambda (``None`` for BCSFW)."""
    method: str
    penalty: float | None
    objective: np.ndarray
    violation: np.ndarray

    @property
    def label(self) -> str:
        return self.method if self.penalty is None else f"{self.method} lambda={self.penalty:g}"


def toy_optimum(dim: int, mean_noise: float = 0.0) -> float:
    """The least expected objective under ``sum x = 1``: ``1 / sum_i 1 / (1 + E eps_i)``."""
    return 1.0 / (dim / (1.0 + mean_noise))


def toy_start(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A random feasible point: a uniform random vector, normalised."""
    x = rng.random(dim)
    return x / x.sum()


def toy_blocks(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Two coordinate blocks covering ``0..dim-1`` that overlap in two coordinates."""
    half = dim // 2
    return np.arange(0, half + 1), np.arange(half - 1, dim)


def _record(x: np.ndarray) -> tuple[float, float]:
    return float(x @ x), abs(float(x.sum()) - 1.0)


def toy_bcsfw(x0: np.ndarray, steps: int, rng: np.random.Generator) -> ToyTrace:
    """BCSFW with the paper's step ``4 / (t + 4)``."""
    x = np.array(x0, dtype=np.float64)
    blocks = toy_blocks(x.size)
    history = [_record(x)]
    for t in range(steps):
        gradient = 2.0 * (1.0 + rng.normal(0.0, NOISE_STD, x.size)) * x
        block = blocks[rng.integers(2)]
        vertex = np.zeros(block.size)
        vertex[gradient[block].argmin()] = 1.0 - (x.sum() - x[block].sum())
        x[block] += step_size(t, 1.0, "decay") * (vertex - x[block])
        history.append(_record(x))
    objective, violation = np.array(history).T
    return ToyTrace("bcsfw", None, objective, violation)


def toy_sgd(x0: np.ndarray, steps: int, rng: np.random.Generator, penalty: float) -> ToyTrace:
    """SGD on the objective plus ``penalty * (sum x - 1)^2``."""
    x = np.array(x0, dtype=np.float64)
    lr = 1.0 / (2.0 * (1.0 + penalty * x.size))
    history = [_record(x)]
    for _ in range(steps):
        gradient = 2.0 * (1.0 + rng.normal(0.0, NOISE_STD, x.size)) * x + 2.0 * penalty * (x.sum() - 1.0)
        x -= lr * gradient
        history.append(_record(x))
    objective, violation = np.array(history).T
    return ToyTrace("sgd", penalty, objective, violation)


def run_toy(steps: int = 1000, seed: int = 0, penalties: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0),
            dim: int = 10) -> list[ToyTrace]:
    """BCSFW and SGD for each ``lambda`` from one random start, each with its own noise stream."""
    if steps < 1 or dim < 4:
        raise ValueError(f"need steps >= 1 and dim >= 4, got {steps}, {dim}")
    if any(p < 0 for p in penalties):
        raise ValueError(f"penalties must be non-negative, got {penalties}")
    streams = np.random.default_rng(seed).spawn(len(penalties) + 2)
    x0 = toy_start(streams[0], dim)
    traces = [toy_bcsfw(x0, steps, streams[1])]
    traces += [toy_sgd(x0, steps, rng, p) for rng, p in zip(streams[2:], penalties)]
    return traces
