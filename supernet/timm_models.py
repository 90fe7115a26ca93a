"""Plain timm ``MobileNetV3`` models of architectures (what a user deploys, no project import needed)."""
from __future__ import annotations

from functools import partial

import torch.nn as nn
from timm.models import MobileNetV3
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import decode_arch_def, round_channels

from .arch import Architecture

__all__ = ["build_timm_model", "timm_model_kwargs"]


def timm_model_kwargs(arch: Architecture, num_classes: int) -> dict:
    """The ``MobileNetV3`` keyword arguments of timm's ``hardcorenas`` builder for ``arch``."""
    sp = arch.space
    if sp.stem_act != "hard_swish" or sp.head_act != "hard_swish":
        raise ValueError("timm's hardcorenas builder uses hard-swish in the stem and head")
    return dict(
        block_args=decode_arch_def(arch.to_arch_def()),
        num_classes=num_classes,
        in_chans=sp.in_chans,
        stem_size=sp.stem_channels,
        num_features=sp.head_channels,
        norm_layer=nn.BatchNorm2d,
        act_layer=nn.Hardswish,
        se_layer=partial(SqueezeExcite, gate_layer="hard_sigmoid", force_act_layer=nn.ReLU,
                         rd_round_fn=round_channels),
    )


def build_timm_model(arch: Architecture, num_classes: int, **kwargs) -> MobileNetV3:
    """A timm ``MobileNetV3`` of ``arch``; for the ``imagenet`` preset, identical to ``hardcorenas_x``.

    The stem stride is 2 in timm's MobileNetV3, so only spaces with ``stem_stride == 2`` map.
    """
    if arch.space.stem_stride != 2:
        raise ValueError("timm's MobileNetV3 stem has stride 2")
    return MobileNetV3(**{**timm_model_kwargs(arch, num_classes), **kwargs})
