"""Peak activation memory at batch 1 (bytes, float32), counted exactly from the space: a maximum."""
from __future__ import annotations

from supernet.costs import peak_activation_costs

from .registry import PeakResource, ResourceContext, register_resource


@register_resource("peak_activation")
def peak_activation(context: ResourceContext) -> dict[str, PeakResource]:
    block_peaks, constant = peak_activation_costs(context.space)
    return {"peak_activation": PeakResource("peak_activation", block_peaks, constant, context.space.min_depth,
                                            unit="B")}
