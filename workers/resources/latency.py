"""Latency on each device, from its measured table (formula (3) in ms); bounded by the device's targets."""
from __future__ import annotations

from .registry import ResourceContext, SumResource, register_resource


@register_resource("latency", boundable=False)
def latency(context: ResourceContext) -> dict[str, SumResource]:
    models = (table.resource_model(context.space) for table in context.tables.values())
    return {model.name: SumResource(model) for model in models}
