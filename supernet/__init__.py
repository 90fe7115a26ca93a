"""The search space, elastic supernet, multipath training, subnet extraction and data sets."""
from .arch import Architecture, timm_arch_def
from .elastic import ElasticSupernet, timm_features
from .errors import UsageError
from .extract import extract_subnet
from .sampling import PathSample
from .space import BlockConfig, SearchSpace, StageSpec, get_space, list_spaces, register_space

__all__ = ["Architecture", "BlockConfig", "ElasticSupernet", "PathSample", "SearchSpace", "StageSpec",
           "UsageError", "extract_subnet", "get_space", "list_spaces", "register_space", "timm_arch_def",
           "timm_features"]
