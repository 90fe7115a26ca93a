"""Checkpoints: a safetensors state dict plus a JSON sidecar that says what the weights are for.

``NAME.safetensors`` holds the tensors; ``NAME.json`` the kind (``heaviest`` w-bar, ``supernet`` w*,
``subnet``), the space (name, width multiplier, content hash), the number of classes, the recipe, metrics
and which weights were kept (``ema`` or ``raw``). Loading checks the sidecar against the space the caller
expects and refuses a mismatch with a :class:`UsageError`; tensors load with safetensors (no pickle), and a
damaged file, tensors of the wrong shapes or non-finite weights are refused the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from timm.models import MobileNetV3

from hardcore_nas.checks import check_inside, is_number, read_json, short
from hardcore_nas.errors import UsageError

from .arch import Architecture
from .elastic import ElasticSupernet
from .recipes import Recipe
from .space import SearchSpace
from .timm_models import build_timm_model

__all__ = ["CHECKPOINT_KINDS", "STAGE_FILES", "save_checkpoint", "save_stage", "read_sidecar", "load_state_dict",
           "load_heaviest", "load_supernet", "load_weights", "read_weights", "load_subnet", "sidecar_path",
           "stage_file"]

CHECKPOINT_KINDS = ("heaviest", "supernet", "subnet")
# A supernet folder (``train-supernet --out``, a pipeline cache entry) holds w-bar and w* under these names.
STAGE_FILES = {"heaviest": "heaviest.safetensors", "supernet": "supernet.safetensors"}
_FORMAT = 1
# ImageNet-21k has 21,843 classes; a million rows of 1280 weights is already 5 GB.
_MAX_CLASSES = 1_000_000
# Sidecar keys this module and its callers read, with their types (a hostile sidecar may hold anything).
_SIDECAR_TYPES = {"kind": str, "space_hash": str, "metrics": dict, "recipe": dict, "data": str, "arch": str}


def sidecar_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def stage_file(folder: str | Path, stage: str) -> Path:
    """The checkpoint of ``stage`` in a supernet folder; it and its sidecar must lie in the folder (a symlink
    out of it is refused, :func:`hardcore_nas.checks.check_inside`)."""
    path = Path(folder) / STAGE_FILES[stage]
    for p in (path, sidecar_path(path)):
        check_inside(p, Path(folder), "checkpoint file")
    return path


def save_checkpoint(path: str | Path, model: nn.Module, *, kind: str, space: SearchSpace, num_classes: int,
                    recipe: dict | None = None, metrics: dict | None = None, weights: str = "raw",
                    extra: dict | None = None) -> Path:
    """Write ``model``'s state dict to ``path`` (``.safetensors``) and its sidecar; returns ``path``."""
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"kind must be one of {CHECKPOINT_KINDS}, got {kind!r}")
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoint path must end in .safetensors, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Cloning makes every tensor contiguous and unshared, as safetensors requires.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"kind": kind, "space_hash": space.hash})
    sidecar = {
        "format": _FORMAT, "kind": kind, "space": space.name, "width_multiplier": space.width_multiplier,
        "space_hash": space.hash, "num_classes": int(num_classes), "weights": weights,
        "recipe": recipe or {}, "metrics": metrics or {}, **(extra or {}),
    }
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return path


def save_stage(folder: str | Path, stage: str, model: nn.Module, *, space: SearchSpace, num_classes: int,
               recipe: Recipe, metrics: dict, context: dict) -> Path:
    """w-bar (``stage="heaviest"``) or w* (``"supernet"``) into a supernet folder under its
    :data:`STAGE_FILES` name, with the stage's recipe and the weights the recipe keeps (EMA or raw)."""
    stage_recipe = getattr(recipe, stage)
    return save_checkpoint(Path(folder) / STAGE_FILES[stage], model, kind=stage, space=space,
                           num_classes=num_classes, recipe={"name": recipe.name, **recipe.to_dict()[stage]},
                           metrics=metrics, weights="ema" if stage_recipe.ema_decay > 0 else "raw", extra=context)


def read_sidecar(path: str | Path, space: SearchSpace, kind: str | None = None) -> dict:
    """The sidecar of the checkpoint at ``path``, checked against ``space`` (and ``kind`` if given)."""
    path = Path(path)
    meta_path = sidecar_path(path)
    for p in (path, meta_path):
        if not p.is_file():
            raise UsageError(f"checkpoint file {p} does not exist; train one with "
                             f"`hardcore-nas train-supernet --space {space.name}`")
    meta = read_sidecar_file(meta_path)
    if kind is not None and meta.get("kind") != kind:
        raise UsageError(f"checkpoint {path} holds a {meta.get('kind')!r} model, not a {kind!r} one")
    if meta.get("space_hash") != space.hash:
        raise UsageError(
            f"checkpoint {path} was trained for space {meta.get('space')!r} (width multiplier "
            f"{meta.get('width_multiplier')}, hash {meta.get('space_hash')}), not for {space.name!r} "
            f"(width multiplier {space.width_multiplier}, hash {space.hash}); use that space or train a "
            f"new supernet with `hardcore-nas train-supernet --space {space.name}`")
    return meta


def read_sidecar_file(meta_path: Path) -> dict:
    """A sidecar's JSON, with the keys that are read of the types they must have."""
    meta = read_json(meta_path, "checkpoint sidecar")
    if not isinstance(meta, dict):
        raise UsageError(f"checkpoint sidecar {meta_path} must be a JSON object, got {short(meta)}")
    for key, kind in _SIDECAR_TYPES.items():
        if key in meta and not isinstance(meta[key], kind):
            raise UsageError(f"checkpoint sidecar {meta_path}: '{key}' must be a {kind.__name__}, "
                             f"got {short(meta[key])}")
    for key, least, most in (("num_classes", 1, _MAX_CLASSES), ("seed", 0, None)):
        value = meta.get(key, least)
        if not is_number(value, int) or value < least or (most is not None and value > most):
            raise UsageError(f"checkpoint sidecar {meta_path}: '{key}' must be an integer >= {least}"
                             f"{f' and <= {most}' if most else ''}, got {short(value)}")
    return meta


def load_state_dict(path: str | Path, space: SearchSpace, kind: str | None = None) -> tuple[dict, dict]:
    """``(state_dict, sidecar)`` of a checkpoint after checking its sidecar and its tensors
    (:func:`read_weights`)."""
    meta = read_sidecar(path, space, kind)
    return read_weights(path), meta


def read_weights(path: str | Path) -> dict:
    """The tensors of a safetensors file; a file safetensors cannot read or a tensor with NaN or infinite
    values is refused (a network with such weights is never meant)."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UsageError(f"checkpoint {path} is not a readable safetensors file ({str(exc).splitlines()[0]}); "
                         f"train it again") from None
    bad = next((k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()), None)
    if bad is not None:
        raise UsageError(f"checkpoint {path}: tensor {short(bad)} holds NaN or infinite weights; train it again")
    return state


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """``model`` with the checked tensors of ``path`` (:func:`read_weights`), refused if they do not fit."""
    _load_into(model, read_weights(path), Path(path))
    return model


def _load_into(model: nn.Module, state: dict, path: Path) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise UsageError(f"checkpoint {path} does not fit its declared model: "
                         f"{str(exc).splitlines()[0]}") from None


def load_heaviest(path: str | Path, space: SearchSpace) -> tuple[MobileNetV3, dict]:
    """w-bar as a timm MobileNetV3 (eval mode) and its sidecar."""
    state, meta = load_state_dict(path, space, "heaviest")
    model = build_timm_model(Architecture.heaviest(space), meta["num_classes"])
    _load_into(model, state, Path(path))
    return model.eval(), meta


def load_supernet(path: str | Path, space: SearchSpace) -> tuple[ElasticSupernet, dict]:
    """w* as an :class:`ElasticSupernet` (eval mode) and its sidecar."""
    state, meta = load_state_dict(path, space, "supernet")
    net = ElasticSupernet(space, meta["num_classes"])
    _load_into(net, state, Path(path))
    return net.eval(), meta


def load_subnet(path: str | Path, space: SearchSpace) -> tuple[MobileNetV3, Architecture, dict]:
    """A subnet checkpoint (saved with ``extra={"arch": str(arch)}``) as a timm MobileNetV3 (eval mode)."""
    state, meta = load_state_dict(path, space, "subnet")
    if "arch" not in meta:
        raise UsageError(f"subnet checkpoint {path} names no architecture ('arch' in its sidecar)")
    try:
        arch = Architecture.from_string(meta["arch"], space)
    except ValueError as exc:
        raise UsageError(f"subnet checkpoint {path}: its 'arch' is not an architecture of {space.name!r} "
                         f"({str(exc).splitlines()[0]})") from None
    model = build_timm_model(arch, meta["num_classes"])
    _load_into(model, state, Path(path))
    return model.eval(), arch, meta
