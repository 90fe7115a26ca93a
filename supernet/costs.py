"""Exact parameter and MAC counts of every block configuration, derived from the search space.

Each function returns ``(block_costs, constant)``: ``block_costs[s, b, c]`` is the cost of block ``b``
of stage ``s`` in config ``c`` (shape ``(stages, max_depth, configs)``), ``constant`` the cost of the
fixed part (stem, depthwise-separable block, last conv, head, classifier). An architecture's total is
the constant plus the costs of its present blocks: the additive form formula (3) needs. MACs count
convolutions and the classifier (multiply-accumulates of BN and activations are not counted).

Peak activation memory is not additive: a network's peak is the largest of its layers' peaks, so
:func:`peak_activation_costs` returns per-block peaks and the fixed part's peak, to be combined by a
maximum over the present blocks.
"""
from __future__ import annotations

import numpy as np

from .space import BlockConfig, BlockSlot, SearchSpace, mid_channels, se_channels

__all__ = ["param_costs", "mac_costs", "peak_activation_costs", "block_params", "block_macs",
           "block_peak_activation"]

ACTIVATION_BYTES = 4    # float32


def block_params(space: SearchSpace, slot: BlockSlot, cfg: BlockConfig) -> int:
    """Parameters of a timm ``InvertedResidual`` (BN affine included, running stats not)."""
    mid = mid_channels(slot.in_channels, cfg.expansion)
    n = slot.in_channels * mid + 2 * mid          # conv_pw + bn1
    n += mid * cfg.kernel ** 2 + 2 * mid          # conv_dw + bn2
    if cfg.se:
        rd = se_channels(mid, space.se_ratio)
        n += mid * rd + rd + rd * mid + mid       # conv_reduce, conv_expand (with biases)
    return n + mid * slot.out_channels + 2 * slot.out_channels  # conv_pwl + bn3


def block_macs(space: SearchSpace, slot: BlockSlot, cfg: BlockConfig) -> int:
    """Multiply-accumulates of one image through a timm ``InvertedResidual``."""
    mid = mid_channels(slot.in_channels, cfg.expansion)
    n = slot.input_size ** 2 * slot.in_channels * mid
    n += slot.output_size ** 2 * mid * cfg.kernel ** 2
    if cfg.se:
        n += 2 * mid * se_channels(mid, space.se_ratio)
    return n + slot.output_size ** 2 * mid * slot.out_channels


def block_peak_activation(space: SearchSpace, slot: BlockSlot, cfg: BlockConfig) -> int:
    """Bytes of activations alive at once in a timm ``InvertedResidual`` at batch 1 (float32).

    As deployed runtimes run a network (BatchNorm folded into the convolutions, activations in place),
    each convolution holds its input and its output; a block with a skip connection also keeps its input
    alive until the addition. The peak is the largest of the three convolutions' sums (SE's pooled
    vectors are small, and its rescaling is never larger than the depthwise convolution's sum).
    """
    mid = mid_channels(slot.in_channels, cfg.expansion)
    block_in = slot.input_size ** 2 * slot.in_channels
    wide_in, wide_out = slot.input_size ** 2 * mid, slot.output_size ** 2 * mid
    block_out = slot.output_size ** 2 * slot.out_channels
    kept = block_in if slot.has_skip else 0
    return ACTIVATION_BYTES * max(block_in + wide_in, wide_in + wide_out + kept, wide_out + block_out + kept)


def _constant_peak_activation(space: SearchSpace) -> int:
    """The fixed part's peak: stem, depthwise-separable block, last 1x1 conv (pooled head vectors are small)."""
    image = space.input_size ** 2 * space.in_chans
    stem = space.stem_output_size ** 2 * space.stem_channels
    ds = space.stem_output_size ** 2 * space.ds_channels
    kept = stem if space.stem_channels == space.ds_channels else 0     # timm's skip of a stride-1 ds block
    final = space.final_size ** 2
    last = final * space.stages[-1].channels + final * space.last_channels
    return ACTIVATION_BYTES * max(image + stem, 2 * stem, stem + ds + kept, last)


def _constant_params(space: SearchSpace, num_classes: int) -> int:
    stem, ds = space.stem_channels, space.ds_channels
    last_in = space.stages[-1].channels
    n = space.in_chans * stem * 9 + 2 * stem                  # conv_stem + bn1
    n += stem * 9 + 2 * stem + stem * ds + 2 * ds             # depthwise-separable block
    n += last_in * space.last_channels + 2 * space.last_channels
    n += space.last_channels * space.head_channels + space.head_channels   # conv_head has a bias
    return n + space.head_channels * num_classes + num_classes


def _constant_macs(space: SearchSpace, num_classes: int) -> int:
    stem, ds, r = space.stem_channels, space.ds_channels, space.stem_output_size
    n = r ** 2 * space.in_chans * stem * 9
    n += r ** 2 * (stem * 9 + stem * ds)
    n += space.final_size ** 2 * space.stages[-1].channels * space.last_channels
    return n + space.last_channels * space.head_channels + space.head_channels * num_classes


def _tabulate(space: SearchSpace, fn) -> np.ndarray:
    costs = np.zeros((space.num_stages, space.max_depth, space.num_configs))
    for slot in space.slots:
        costs[slot.stage, slot.index] = [fn(space, slot, cfg) for cfg in space.configs]
    return costs


def param_costs(space: SearchSpace, num_classes: int) -> tuple[np.ndarray, float]:
    """Exact parameter counts: ``(block_costs, constant)``."""
    return _tabulate(space, block_params), float(_constant_params(space, num_classes))


def mac_costs(space: SearchSpace, num_classes: int) -> tuple[np.ndarray, float]:
    """Exact MACs per image: ``(block_costs, constant)``."""
    return _tabulate(space, block_macs), float(_constant_macs(space, num_classes))


def peak_activation_costs(space: SearchSpace) -> tuple[np.ndarray, float]:
    """Peak activation bytes at batch 1: ``(block_peaks, constant_peak)``; a network's peak is the
    maximum of ``constant_peak`` and its present blocks' peaks."""
    return _tabulate(space, block_peak_activation), float(_constant_peak_activation(space))
