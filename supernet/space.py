"""The search space: the single source of truth for stages, channels, strides and per-block choices.

Everything else derives from a :class:`SearchSpace`: latency-table keys, the resource matrices of
formula (3), timm architecture strings and the elastic supernet's shapes.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from timm.layers import make_divisible

from hardcore_nas import UsageError, content_hash

__all__ = [
    "BlockConfig", "StageSpec", "BlockSlot", "SearchSpace",
    "register_space", "get_space", "list_spaces", "mid_channels", "se_channels",
]

ACTIVATIONS = ("relu", "hard_swish")
MAX_WIDTH_MULTIPLIER = 10.0


class BlockConfig(NamedTuple):
    """One configuration of an elastic MBInvRes block."""
    expansion: int
    kernel: int
    se: bool

    def __str__(self) -> str:
        return f"e{self.expansion}_k{self.kernel}_se{int(self.se)}"


@dataclass(frozen=True)
class StageSpec:
    """A searched stage: output channels, stride of its first block and activation."""
    channels: int
    stride: int
    act: str


class BlockSlot(NamedTuple):
    """The fixed context of one searched block position (what a latency entry depends on)."""
    stage: int
    index: int
    in_channels: int
    out_channels: int
    stride: int
    input_size: int
    act: str

    @property
    def signature(self) -> str:
        """Key of the block's shape context; blocks with the same signature cost the same."""
        return (f"in{self.in_channels}_out{self.out_channels}_s{self.stride}"
                f"_r{self.input_size}_{self.act}")

    @property
    def has_skip(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    @property
    def output_size(self) -> int:
        return conv_output_size(self.input_size, self.stride)


def conv_output_size(size: int, stride: int) -> int:
    """Spatial size after a 'same'-padded conv of this stride (timm's symmetric padding)."""
    return (size + stride - 1) // stride


def mid_channels(in_channels: int, expansion: int) -> int:
    """Expanded width of an MBInvRes block, exactly as timm's ``InvertedResidual`` computes it."""
    return make_divisible(in_channels * expansion)


def se_channels(mid: int, se_ratio: float) -> int:
    """Reduced width of the SE branch (timm's ``round_channels`` on mid * ratio)."""
    return make_divisible(mid * se_ratio)


@dataclass(frozen=True)
class SearchSpace:
    """A MobileNetV3-like space: stem, fixed depthwise-separable block, searched stages, head.

    Each searched stage has ``min_depth..max_depth`` blocks; blocks ``0..min_depth-1`` are always
    present. Every block picks one of ``configs`` (expansion x kernel x SE), ordered as the official
    code orders them: index = expansion_idx * 4 + kernel_idx * 2 + se_idx.
    """
    name: str
    input_size: int
    stem_channels: int
    stem_stride: int
    ds_channels: int
    stages: tuple[StageSpec, ...]
    last_channels: int
    head_channels: int
    expansions: tuple[int, ...] = (3, 4, 6)
    kernels: tuple[int, ...] = (3, 5)
    se_ratio: float = 0.25
    min_depth: int = 2
    max_depth: int = 4
    stem_act: str = "hard_swish"
    ds_act: str = "relu"
    head_act: str = "hard_swish"
    in_chans: int = 3
    width_multiplier: float = 1.0
    _slots: tuple[BlockSlot, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a search space needs at least one searched stage")
        if not 1 <= self.min_depth <= self.max_depth:
            raise ValueError(f"need 1 <= min_depth <= max_depth, got {self.min_depth}..{self.max_depth}")
        for stage in self.stages:
            if stage.act not in ACTIVATIONS:
                raise ValueError(f"stage activation must be one of {ACTIVATIONS}, got {stage.act!r}")
        object.__setattr__(self, "_slots", tuple(self._build_slots()))

    def _build_slots(self) -> Iterator[BlockSlot]:
        size = conv_output_size(self.input_size, self.stem_stride)
        in_ch = self.ds_channels
        for s, stage in enumerate(self.stages):
            for b in range(self.max_depth):
                stride = stage.stride if b == 0 else 1
                yield BlockSlot(s, b, in_ch, stage.channels, stride, size, stage.act)
                size = conv_output_size(size, stride)
                in_ch = stage.channels

    # --- derived structure -------------------------------------------------------------------
    @property
    def configs(self) -> tuple[BlockConfig, ...]:
        return tuple(BlockConfig(e, k, se) for e in self.expansions for k in self.kernels
                     for se in (False, True))

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    @property
    def num_configs(self) -> int:
        return len(self.expansions) * len(self.kernels) * 2

    @property
    def depths(self) -> tuple[int, ...]:
        """The depth options of every stage (``beta`` has one entry per option)."""
        return tuple(range(self.min_depth, self.max_depth + 1))

    @property
    def heaviest_config(self) -> int:
        return self.config_index(BlockConfig(max(self.expansions), max(self.kernels), True))

    @property
    def lightest_config(self) -> int:
        return self.config_index(BlockConfig(min(self.expansions), min(self.kernels), False))

    def config_index(self, config: BlockConfig) -> int:
        try:
            return self.configs.index(BlockConfig(*config))
        except ValueError:
            raise ValueError(f"{config} is not a configuration of space {self.name!r}") from None

    def slot(self, stage: int, index: int) -> BlockSlot:
        return self._slots[stage * self.max_depth + index]

    @property
    def slots(self) -> tuple[BlockSlot, ...]:
        """Every searched block position, stage-major."""
        return self._slots

    @property
    def final_size(self) -> int:
        last = self.slot(self.num_stages - 1, self.max_depth - 1)
        return last.output_size

    @property
    def stem_output_size(self) -> int:
        return conv_output_size(self.input_size, self.stem_stride)

    def signatures(self) -> tuple[str, ...]:
        """Unique block signatures, in order of first appearance."""
        return tuple(dict.fromkeys(slot.signature for slot in self._slots))

    def latency_keys(self) -> tuple[str, ...]:
        """Every key a latency table of this space must hold (besides the constant part)."""
        return tuple(block_key(sig, c) for sig in self.signatures() for c in self.configs)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("_slots", None)
        return d

    @property
    def hash(self) -> str:
        """Content hash of the definition (a table or checkpoint records it)."""
        return content_hash(self.to_dict())

    def scaled(self, width_multiplier: float) -> SearchSpace:
        """The same space with every channel count (but the head) scaled and made divisible by 8."""
        # Wider than 10x is no longer a mobile network, and far wider overflows the channel counts.
        if not (isinstance(width_multiplier, (int, float)) and 0 < width_multiplier <= MAX_WIDTH_MULTIPLIER):
            raise UsageError(f"width multiplier must be a number > 0 and <= {MAX_WIDTH_MULTIPLIER:g}, "
                             f"got {width_multiplier!r}")
        m = width_multiplier / self.width_multiplier

        def r(c: int) -> int:
            return make_divisible(c * m)

        return dataclasses.replace(
            self,
            stem_channels=r(self.stem_channels), ds_channels=r(self.ds_channels),
            stages=tuple(dataclasses.replace(st, channels=r(st.channels)) for st in self.stages),
            last_channels=r(self.last_channels), width_multiplier=width_multiplier,
        )


def block_key(signature: str, config: BlockConfig) -> str:
    """Latency-table key of one block configuration in one shape context."""
    return f"{signature}|{config}"


# --- presets ----------------------------------------------------------------------------------
_REGISTRY: dict[str, Callable[[], SearchSpace]] = {}


def register_space(fn: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
    """Register a preset builder under its function name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_spaces() -> list[str]:
    return sorted(_REGISTRY)


def get_space(name: str, width_multiplier: float = 1.0) -> SearchSpace:
    """A preset by name, optionally width-scaled."""
    if name not in _REGISTRY:
        raise UsageError(f"unknown search space {name!r}; choose one of {', '.join(list_spaces())}")
    space = _REGISTRY[name]()
    return space if width_multiplier == 1.0 else space.scaled(width_multiplier)


@register_space
def imagenet() -> SearchSpace:
    """The paper's space (official code and timm ``hardcorenas_*``): 224 input, 5 searched stages."""
    return SearchSpace(
        name="imagenet", input_size=224, stem_channels=32, stem_stride=2, ds_channels=16,
        stages=(StageSpec(24, 2, "relu"), StageSpec(40, 2, "relu"), StageSpec(80, 2, "hard_swish"),
                StageSpec(112, 1, "hard_swish"), StageSpec(192, 2, "hard_swish")),
        last_channels=960, head_channels=1280,
    )


@register_space
def tiny() -> SearchSpace:
    """The same structure sized for 2 CPU cores and 32x32 images (digits, CIFAR)."""
    return SearchSpace(
        name="tiny", input_size=32, stem_channels=16, stem_stride=2, ds_channels=8,
        stages=(StageSpec(16, 1, "relu"), StageSpec(24, 2, "relu"), StageSpec(40, 2, "hard_swish"),
                StageSpec(48, 1, "hard_swish"), StageSpec(64, 2, "hard_swish")),
        last_channels=192, head_channels=384,
    )


@register_space
def tiny16() -> SearchSpace:
    """``tiny`` at a quarter of its width, for 16x16 inputs (Fashion-MNIST resized): narrow enough that its
    lightest networks underfit, so that capacity pays (benchmarks/results/capacity.md)."""
    return dataclasses.replace(tiny().scaled(0.25), name="tiny16", input_size=16, width_multiplier=1.0)
