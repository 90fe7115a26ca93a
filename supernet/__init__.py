"""The search space, elastic supernet, multipath training, subnet extraction and data sets."""
from .arch import Architecture, timm_arch_def
from .errors import UsageError
from .space import BlockConfig, SearchSpace, StageSpec, get_space, list_spaces, register_space

__all__ = ["Architecture", "BlockConfig", "SearchSpace", "StageSpec", "UsageError", "get_space",
           "list_spaces", "register_space", "timm_arch_def"]
