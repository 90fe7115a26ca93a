"""Formula (3): a resource (latency, params, MACs) of a relaxed architecture, as arrays.

``alpha`` has shape ``(S, D, C)``: per stage ``s`` and block position ``b`` a distribution over ``C``
configurations. ``beta`` has shape ``(S, K)``: per stage a distribution over the depths
``min_depth .. min_depth + K - 1``. Blocks ``b < min_depth`` are always present; block ``b >= min_depth``
is present when the depth exceeds ``b``. Hence (cumulative per stage, official-implementation 4.3)

    LAT(alpha, beta) = const + p . alpha + alpha^T Theta beta

with ``p`` the costs of the always-present blocks and ``Theta[(s,b,c), (s,k)] = t[s,b,c]`` when depth
option ``k`` includes block ``b``. It is linear in ``alpha`` for fixed ``beta`` and in ``beta`` for
fixed ``alpha``; on one-hot inputs it is the sum of the present blocks' costs plus the constant, and on
distributions it is the expectation over independently drawn architectures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ResourceModel", "Constraint"]


@dataclass(frozen=True)
class ResourceModel:
    """A resource in the ``alpha^T Theta beta + p^T alpha + const`` form.

    ``block_costs[s, b, c]``: cost of block ``b`` of stage ``s`` in config ``c`` (finite, any sign).
    """
    name: str
    block_costs: np.ndarray
    constant: float
    min_depth: int
    unit: str = ""

    def __post_init__(self) -> None:
        costs = np.array(self.block_costs, dtype=np.float64)
        if costs.ndim != 3:
            raise ValueError(f"block_costs must be (stages, max_depth, configs), got {costs.shape}")
        if not np.isfinite(costs).all() or not np.isfinite(self.constant):
            raise ValueError(f"resource {self.name!r} has non-finite costs")
        if not 1 <= self.min_depth <= costs.shape[1]:
            raise ValueError(f"min_depth {self.min_depth} outside 1..{costs.shape[1]}")
        costs.setflags(write=False)
        object.__setattr__(self, "block_costs", costs)
        object.__setattr__(self, "constant", float(self.constant))

    # --- shapes ----------------------------------------------------------------------------
    @property
    def alpha_shape(self) -> tuple[int, int, int]:
        return self.block_costs.shape

    @property
    def beta_shape(self) -> tuple[int, int]:
        s, d, _ = self.block_costs.shape
        return s, d - self.min_depth + 1

    @property
    def presence(self) -> np.ndarray:
        """``presence[b, k]`` is 1 when depth option ``k`` includes block ``b`` (shape ``(D, K)``)."""
        d, k = self.block_costs.shape[1], self.beta_shape[1]
        return (np.arange(d)[:, None] < self.min_depth + np.arange(k)[None, :]).astype(np.float64)

    # --- the matrix form ---------------------------------------------------------------------
    @property
    def p(self) -> np.ndarray:
        """Linear term over flattened alpha: the always-present blocks' costs."""
        p = self.block_costs.copy()
        p[:, self.min_depth:] = 0.0
        return p.reshape(-1)

    @property
    def theta(self) -> np.ndarray:
        """Bilinear term ``(S*D*C, S*K)``: block-diagonal over stages, cumulative over depths."""
        s, d, c = self.block_costs.shape
        k = self.beta_shape[1]
        optional = self.presence.copy()
        optional[: self.min_depth] = 0.0
        theta = np.zeros((s, d, c, s, k))
        for i in range(s):
            theta[i, :, :, i, :] = self.block_costs[i][:, :, None] * optional[:, None, :]
        return theta.reshape(s * d * c, s * k)

    # --- evaluation ------------------------------------------------------------------------
    def _check(self, alpha: np.ndarray | None, beta: np.ndarray | None) -> None:
        if alpha is not None and np.shape(alpha) != self.alpha_shape:
            raise ValueError(f"alpha must have shape {self.alpha_shape}, got {np.shape(alpha)}")
        if beta is not None and np.shape(beta) != self.beta_shape:
            raise ValueError(f"beta must have shape {self.beta_shape}, got {np.shape(beta)}")

    def alpha_coefficients(self, beta: np.ndarray) -> np.ndarray:
        """``a`` with ``LAT(alpha, beta) = a . alpha + const`` for this fixed ``beta``."""
        self._check(None, beta)
        weight = np.einsum("dk,sk->sd", self.presence, beta)   # P(block b present) per stage
        return self.block_costs * weight[:, :, None]

    def beta_coefficients(self, alpha: np.ndarray) -> tuple[np.ndarray, float]:
        """``(b, offset)`` with ``LAT(alpha, beta) = b . beta + offset + const`` for this ``alpha``.

        ``offset`` is the always-present blocks' expected cost; ``b[s, k]`` the expected cost of the
        optional blocks that depth option ``k`` adds.
        """
        self._check(alpha, None)
        expected = np.einsum("sdc,sdc->sd", self.block_costs, alpha)
        optional = self.presence.copy()
        optional[: self.min_depth] = 0.0
        return expected @ optional, float(expected[:, : self.min_depth].sum())

    def evaluate(self, alpha: np.ndarray, beta: np.ndarray) -> float:
        """Formula (3) at ``(alpha, beta)``."""
        self._check(alpha, beta)
        return float((self.alpha_coefficients(beta) * alpha).sum() + self.constant)

    # --- reachable range -------------------------------------------------------------------
    def _extreme(self, pick) -> float:
        per_block = pick(self.block_costs, axis=2)                        # (S, D)
        cumulative = np.cumsum(per_block, axis=1)[:, self.min_depth - 1:]  # (S, K) cost per depth
        return float(pick(cumulative, axis=1).sum() + self.constant)

    def least(self) -> float:
        """The least value over the space (exact; the relaxation attains it at a vertex)."""
        return self._extreme(np.min)

    def largest(self) -> float:
        """The largest value over the space (exact)."""
        return self._extreme(np.max)

    def least_architecture(self) -> tuple[np.ndarray, np.ndarray]:
        """One-hot ``(alpha, beta)`` of an architecture attaining :meth:`least`.

        Per stage: each block's cheapest config, then the depth with the cheapest cumulative cost.
        """
        c = self.block_costs.shape[2]
        choice = self.block_costs.argmin(axis=2)                           # (S, D)
        depth = np.cumsum(self.block_costs.min(axis=2), axis=1)[:, self.min_depth - 1:].argmin(axis=1)
        return np.eye(c)[choice], np.eye(self.beta_shape[1])[depth]


@dataclass(frozen=True)
class Constraint:
    """A hard constraint ``resource(alpha, beta) <= bound``."""
    resource: ResourceModel
    bound: float

    @property
    def name(self) -> str:
        return self.resource.name

    def slack(self, alpha: np.ndarray, beta: np.ndarray) -> float:
        """``bound - value``; non-negative exactly when the constraint holds."""
        return self.bound - self.resource.evaluate(alpha, beta)
