"""Parameters and MACs, counted exactly from the space (``supernet.costs``)."""
from __future__ import annotations

from solvers import ResourceModel
from supernet.costs import mac_costs, param_costs

from .registry import ResourceContext, SumResource, register_resource


@register_resource("params")
def params(context: ResourceContext) -> dict[str, SumResource]:
    model = ResourceModel("params", *param_costs(context.space, context.num_classes), context.space.min_depth)
    return {"params": SumResource(model)}


@register_resource("macs")
def macs(context: ResourceContext) -> dict[str, SumResource]:
    model = ResourceModel("macs", *mac_costs(context.space, context.num_classes), context.space.min_depth)
    return {"macs": SumResource(model)}
