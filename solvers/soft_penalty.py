"""The soft-penalty baseline: SGD on the logits with ``lambda * relu(value / bound - 1)`` per constraint.

This is how TF-NAS and FBNet handle a latency budget, and the official code's ``--nas_optimizer sgd``.
Nothing keeps the iterates inside the constraints; how far they end up outside depends on ``lambda``
(paper section 4.2.3). Its result is relaxed: project it with :func:`solvers.project` (the official
code does) or :func:`solvers.argmax_projection` (the usual practice).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from .bcsfw import GradientFn, RelaxedResult, StepRecord, unpack_gradient
from .constraints import ConstraintSet, as_constraint_set
from .resources import Constraint

__all__ = ["soft_penalty_search", "softmax"]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (every group a distribution)."""
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _logit_gradient(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Chain rule through the softmax: ``dL/dlogits = p * (g - <g, p>)`` per group."""
    return p * (g - (g * p).sum(axis=-1, keepdims=True))


def soft_penalty_search(constraints: ConstraintSet | Sequence[Constraint], gradient: GradientFn,
                        steps: int, *, lr: float, penalty: float,
                        logits: tuple[np.ndarray, np.ndarray] | None = None,
                        on_step: Callable[[StepRecord], None] | None = None) -> RelaxedResult:
    """``steps`` SGD steps on the alpha and beta logits (default: uniform) of loss + soft penalty.

    Every bound must be positive (the penalty divides by it). The log's ``penalty`` is the total
    ``sum lambda * relu(value / bound - 1)`` at the iterate the gradient was taken at.
    """
    cs = as_constraint_set(constraints)
    if (cs.bounds <= 0).any():
        raise ValueError(f"the soft penalty needs positive bounds, got {cs.bounds}")
    if steps < 0 or lr <= 0 or penalty < 0:
        raise ValueError(f"need steps >= 0, lr > 0, penalty >= 0; got {steps}, {lr}, {penalty}")
    if logits is None:
        alpha_logits, beta_logits = np.zeros(cs.alpha_shape), np.zeros(cs.beta_shape)
    else:
        alpha_logits, beta_logits = (np.array(x, dtype=np.float64) for x in logits)
    log: list[StepRecord] = []
    gradient_seconds = 0.0
    for t in range(steps):
        alpha, beta = softmax(alpha_logits), softmax(beta_logits)
        tic = time.perf_counter()
        g_alpha, g_beta, objective = unpack_gradient(gradient(alpha, beta), alpha.shape, beta.shape)
        gradient_seconds += time.perf_counter() - tic
        values = cs.values(alpha, beta)
        over = values > cs.bounds                         # relu is active
        for c, active in zip(cs.constraints, over):
            if active:
                g_alpha = g_alpha + penalty / c.bound * c.resource.alpha_coefficients(beta)
                g_beta = g_beta + penalty / c.bound * c.resource.beta_coefficients(alpha)[0]
        total_penalty = float(penalty * np.maximum(values / cs.bounds - 1.0, 0.0).sum())
        alpha_logits = alpha_logits - lr * _logit_gradient(alpha, g_alpha)
        beta_logits = beta_logits - lr * _logit_gradient(beta, g_beta)
        record = StepRecord(t, "alpha+beta", lr, cs.as_dict(values),
                            None if objective is None else objective + total_penalty,
                            penalty=total_penalty)
        log.append(record)
        if on_step is not None:
            on_step(record)
    return RelaxedResult(softmax(alpha_logits), softmax(beta_logits), log, 0.0, gradient_seconds)
