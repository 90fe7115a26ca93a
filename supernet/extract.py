"""Extraction: any architecture of the space -> a standalone timm ``MobileNetV3`` with weights sliced from
the elastic supernet (official ``load_from_supernetwork``). The result loads without this project: it is
``supernet.timm_models.build_timm_model(arch, num_classes)`` with a plain state dict.

In eval mode the extracted model computes exactly what the supernet computes under
``PathSample.fixed(arch, batch)`` (tested to 1e-5 on random inputs and random BN statistics).
"""
from __future__ import annotations

import torch
from timm.models import MobileNetV3

from .arch import Architecture
from .elastic import ElasticSupernet, copy_fixed_layers
from .timm_models import build_timm_model

__all__ = ["extract_subnet", "copy_subnet_weights"]


@torch.no_grad()
def copy_subnet_weights(net: ElasticSupernet, arch: Architecture, model: MobileNetV3) -> MobileNetV3:
    """Write ``arch``'s weights, sliced from ``net``, into an existing timm model of ``arch``."""
    if arch.space != net.space:
        raise ValueError(f"architecture of space {arch.space.name!r} does not fit a supernet of space "
                         f"{net.space.name!r} (or their definitions differ)")
    copy_fixed_layers(net, model, net.space.num_stages)
    for s, stage in enumerate(arch.stages):
        for b, config in enumerate(stage):
            net.blocks[s + 1][b].export_block(model.blocks[s + 1][b], config)
    return model


def extract_subnet(net: ElasticSupernet, arch: Architecture, **kwargs) -> MobileNetV3:
    """A timm ``MobileNetV3`` of ``arch`` with weights sliced from ``net`` (same device, dtype and
    train/eval mode as ``net``). ``kwargs`` go to ``build_timm_model`` (e.g. ``drop_path_rate``)."""
    param = next(net.parameters())
    kwargs.setdefault("drop_rate", net.drop_rate)
    model = build_timm_model(arch, net.num_classes, **kwargs).to(device=param.device, dtype=param.dtype)
    copy_subnet_weights(net, arch, model)
    return model.train(net.training)
