"""Thin Ray wrappers: latency work runs as a task on a node carrying the device's resource label.

Nodes that have a device advertise ``{"device:<name>": 1}``; each task asks for one unit, so a node
runs one measurement at a time and measurements do not disturb each other.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import ray

from supernet.space import SearchSpace

from .devices import DeviceProfile
from .latency import measure_table
from .latency_table import LatencyTable
from .latency_validation import validate_table

__all__ = ["on_device", "measure_table_task", "validate_table_task"]

logger = logging.getLogger(__name__)


def on_device(fn: Callable, profile: DeviceProfile):
    """``fn`` as a Ray remote function placed on a node labelled with ``profile``'s device.

    The task first logs the node it landed on and the label it holds, so a run on a cluster can say which
    machine measured.
    """
    label = profile.resource_label

    @functools.wraps(fn)
    def placed(*args, **kwargs):
        context = ray.get_runtime_context()
        held = context.get_assigned_resources().get(label, 0)
        logger.info("%s[%s] on node %s holding %s=%g", fn.__name__, profile.name, context.get_node_id(), label,
                    held)
        return fn(*args, **kwargs)

    return ray.remote(placed).options(
        resources={profile.resource_label: 1}, num_cpus=profile.threads or 1, max_retries=0,
        name=f"{fn.__name__}[{profile.name}]")


def measure_table_task(space: SearchSpace, profile: DeviceProfile, **kwargs) -> ray.ObjectRef:
    """:func:`workers.latency.measure_table` on the device's node; resolves to a LatencyTable."""
    return on_device(measure_table, profile).remote(space, profile, **kwargs)


def validate_table_task(table: LatencyTable, samples: int, **kwargs) -> ray.ObjectRef:
    """:func:`workers.latency_validation.validate_table` on the table's device node."""
    return on_device(validate_table, table.profile).remote(table, samples, **kwargs)
