"""Where a training stage stands after an epoch, on disk without pickle, so that a killed stage resumes.

One safetensors file per stage: the tensors (model, optimiser, EMA, random generators) are its tensors, and
everything else (epoch records, update count, the optimiser's hyper-parameters) is JSON in its header's
metadata. The file is replaced atomically, so it always holds one whole epoch. A file that does not parse
is reported in one line and the stage starts again from its first epoch: losing an epoch's work is better
than stopping a run.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

__all__ = ["save_epoch_state", "load_epoch_state"]

logger = logging.getLogger(__name__)

_KEY = "epoch_state"


def save_epoch_state(path: str | Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` (nested dicts, lists, tensors, numbers, strings) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, tensors, "t")
    tmp = path.with_name(f"{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={_KEY: json.dumps(tree)})
    with tmp.open("rb") as f:      # on disk before it replaces the last epoch's state
        os.fsync(f.fileno())
    tmp.replace(path)


def load_epoch_state(path: str | Path) -> dict | None:
    """What :func:`save_epoch_state` wrote at ``path``; None when there is none or it does not parse."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            tree = json.loads((f.metadata() or {})[_KEY])
            tensors = {name: f.get_tensor(name) for name in f.keys()}
        return _decode(tree, tensors)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("%s is unreadable (%s); starting the stage from its first epoch", path, exc)
        return None


# JSON has no integer keys (an optimiser's state is keyed by parameter index) and no tensors, so every
# dict is a list of [key, value] pairs and every tensor a reference into the file.
def _encode(value: Any, tensors: dict[str, torch.Tensor], name: str) -> Any:
    if isinstance(value, torch.Tensor):
        tensors[name] = value.detach().cpu().contiguous().clone()
        return {"tensor": name}
    if isinstance(value, Mapping):
        if not all(isinstance(k, (str, int)) for k in value):
            raise TypeError(f"{name}: keys must be str or int")
        return {"dict": [[k, _encode(v, tensors, f"{name}.{i}")] for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, (list, tuple)):
        return {"list": [_encode(v, tensors, f"{name}.{i}") for i, v in enumerate(value)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise TypeError(f"{name}: cannot store a {type(value).__name__}")


def _decode(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    (kind, body), = node.items()
    if kind == "tensor":
        return tensors[body]
    if kind == "dict":
        return {k: _decode(v, tensors) for k, v in body}
    if kind == "list":
        return [_decode(v, tensors) for v in body]
    if kind == "value":
        return body
    raise ValueError(f"unknown entry {kind!r}")
