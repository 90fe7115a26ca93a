"""Taylor ordering of w-bar's expansion channels before multipath training (official ``reorganize_channels``).

The elastic supernet takes an e3 or e4 block as the first channels of the e6 block (nested slicing), so
the channels it keeps should be the ones that matter most. Before w* is initialised from w-bar, every
searched block's expansion (mid) channels are sorted by descending first-order Taylor importance
``sum |w * dL/dw|`` over each channel's filters in ``conv_pw``, ``conv_dw`` and ``se.conv_expand``, and
its SE channels by that of ``se.conv_reduce``. The permutation is applied consistently to every layer
that touches those channels, so w-bar computes exactly what it computed before.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from timm.models import MobileNetV3
from torch import nn

from .space import SearchSpace

__all__ = ["taylor_importance", "reorder_channels"]


def _searched_blocks(model: MobileNetV3, space: SearchSpace) -> list[nn.Module]:
    return [block for stage in model.blocks[1:1 + space.num_stages] for block in stage]


def _filter_sum(t: torch.Tensor) -> torch.Tensor:
    return t.abs().flatten(1).sum(1)


def taylor_importance(model: MobileNetV3, space: SearchSpace, batches: Iterable
                      ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per searched block, ``(mid importance, SE importance)`` from the CE gradients of ``batches``
    (``(images, targets)`` pairs), summed over them; the model stays in eval mode (BN statistics untouched)."""
    blocks = _searched_blocks(model, space)
    weights = [(b.conv_pw.weight, b.conv_dw.weight, b.se.conv_expand.weight, b.se.conv_reduce.weight)
               for b in blocks]
    params = [w for group in weights for w in group]
    was_training, needed_grad = model.training, [w.requires_grad for w in params]
    model.eval()
    for w in params:
        w.requires_grad_(True)
    grads = [torch.zeros_like(w) for w in params]
    device = params[0].device
    with torch.enable_grad():       # also when called under no_grad
        for images, targets in batches:
            loss = F.cross_entropy(model(images.to(device)), targets.to(device))
            for total, g in zip(grads, torch.autograd.grad(loss, params)):
                total += g
    model.train(was_training)
    for w, flag in zip(params, needed_grad):
        w.requires_grad_(flag)
    result, per_block = [], [grads[i:i + 4] for i in range(0, len(grads), 4)]
    for (pw, dw, expand, reduce), (g_pw, g_dw, g_expand, g_reduce) in zip(weights, per_block):
        mid = _filter_sum(pw * g_pw) + _filter_sum(dw * g_dw) + _filter_sum(expand * g_expand)
        result.append((mid.detach(), _filter_sum(reduce * g_reduce).detach()))
    return result


def _permute_bn(bn: nn.BatchNorm2d, order: torch.Tensor) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        t = getattr(bn, name)
        t.copy_(t[order])


def reorder_channels(model: MobileNetV3, space: SearchSpace, batches: Iterable) -> MobileNetV3:
    """Sort every searched block's mid and SE channels of the heaviest network ``model`` (in place) by
    :func:`taylor_importance` over ``batches``; the network's function is unchanged."""
    importance = taylor_importance(model, space, batches)
    with torch.no_grad():
        _permute_channels(model, space, importance)
    return model


def _permute_channels(model: MobileNetV3, space: SearchSpace, importance: list) -> None:
    for block, (mid_score, se_score) in zip(_searched_blocks(model, space), importance):
        mid = torch.argsort(mid_score, descending=True)
        block.conv_pw.weight.copy_(block.conv_pw.weight[mid])
        _permute_bn(block.bn1, mid)
        block.conv_dw.weight.copy_(block.conv_dw.weight[mid])
        _permute_bn(block.bn2, mid)
        se, se_order = block.se, torch.argsort(se_score, descending=True)
        se.conv_reduce.weight.copy_(se.conv_reduce.weight[se_order][:, mid])
        se.conv_reduce.bias.copy_(se.conv_reduce.bias[se_order])
        se.conv_expand.weight.copy_(se.conv_expand.weight[mid][:, se_order])
        se.conv_expand.bias.copy_(se.conv_expand.bias[mid])
        block.conv_pwl.weight.copy_(block.conv_pwl.weight[:, mid])
