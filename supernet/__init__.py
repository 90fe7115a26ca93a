"""The search space, elastic supernet, multipath training, subnet extraction and data sets.

Public names are imported on first use, so that importing one light module (``supernet.space``) does
not load torch and timm: ``hardcore-nas --help`` and each command's ``--help`` stay instant.
"""
from importlib import import_module

_EXPORTS = {
    "Architecture": "arch", "timm_arch_def": "arch",
    "ElasticSupernet": "elastic", "timm_features": "elastic",
    "extract_subnet": "extract",
    "PathSample": "sampling",
    "BlockConfig": "space", "SearchSpace": "space", "StageSpec": "space", "get_space": "space",
    "list_spaces": "space", "register_space": "space",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'supernet' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return __all__
