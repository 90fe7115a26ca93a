"""Discrete architectures of a search space and their timm ``decode_arch_def`` strings."""
from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass

import numpy as np

from .space import BlockConfig, SearchSpace, get_space

__all__ = ["Architecture", "timm_arch_def"]


def _act_suffix(act: str) -> str:
    return "_nre" if act == "relu" else ""


def _parse_block_string(text: str) -> dict:
    """Split a timm block string (``ir_r1_k5_s2_e6_c40_nre_se0.25``) into its options."""
    parts = text.split("_")
    opts: dict = {"type": parts[0], "act": "hard_swish", "se": 0.0}
    for part in parts[1:]:
        if part == "nre":
            opts["act"] = "relu"
        elif part.startswith("se"):
            opts["se"] = float(part[2:])
        elif part[:1] in "rksec" and part[1:].isdigit():
            opts[part[0]] = int(part[1:])
        else:
            raise ValueError(f"unsupported option {part!r} in block string {text!r}")
    return opts


@dataclass(frozen=True)
class Architecture:
    """A discrete choice: per searched stage, the config index of each present block.

    ``stages[s]`` has one entry per block of stage ``s`` (its length is the stage depth); entries
    index ``space.configs``.
    """
    space: SearchSpace
    stages: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        stages = tuple(tuple(int(c) for c in st) for st in self.stages)
        object.__setattr__(self, "stages", stages)
        if len(stages) != self.space.num_stages:
            raise ValueError(f"space {self.space.name!r} has {self.space.num_stages} stages, "
                             f"got {len(stages)}")
        for s, st in enumerate(stages):
            if not self.space.min_depth <= len(st) <= self.space.max_depth:
                raise ValueError(f"stage {s} depth {len(st)} outside "
                                 f"{self.space.min_depth}..{self.space.max_depth}")
            for c in st:
                if not 0 <= c < self.space.num_configs:
                    raise ValueError(f"config index {c} outside 0..{self.space.num_configs - 1}")

    # --- views ------------------------------------------------------------------------------
    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(st) for st in self.stages)

    def blocks(self) -> list[tuple[int, int, BlockConfig]]:
        """``(stage, index, config)`` of every present searched block."""
        configs = self.space.configs
        return [(s, b, configs[c]) for s, st in enumerate(self.stages) for b, c in enumerate(st)]

    # --- timm strings -----------------------------------------------------------------------
    def to_arch_def(self) -> list[list[str]]:
        """The timm ``decode_arch_def`` list of this architecture."""
        sp = self.space
        arch_def = [[f"ds_r1_k3_s1_e1_c{sp.ds_channels}{_act_suffix(sp.ds_act)}"]]
        for s, st in enumerate(self.stages):
            stage_def = []
            for b, c in enumerate(st):
                slot, cfg = sp.slot(s, b), sp.configs[c]
                text = (f"ir_r1_k{cfg.kernel}_s{slot.stride}_e{cfg.expansion}_c{slot.out_channels}"
                        f"{_act_suffix(slot.act)}")
                if cfg.se:
                    text += f"_se{sp.se_ratio}"
                stage_def.append(text)
            arch_def.append(stage_def)
        arch_def.append([f"cn_r1_k1_s1_c{sp.last_channels}"])
        return arch_def

    def __str__(self) -> str:
        return str(self.to_arch_def())

    @classmethod
    def from_arch_def(cls, arch_def: list[list[str]], space: SearchSpace | str = "imagenet"
                      ) -> Architecture:
        """Parse a timm ``decode_arch_def`` list, checking it is a point of ``space``."""
        sp = get_space(space) if isinstance(space, str) else space
        if len(arch_def) != sp.num_stages + 2:
            raise ValueError(f"expected {sp.num_stages + 2} stage lists (ds, {sp.num_stages} searched, "
                             f"cn) for space {sp.name!r}, got {len(arch_def)}")
        expected_ds = f"ds_r1_k3_s1_e1_c{sp.ds_channels}{_act_suffix(sp.ds_act)}"
        expected_cn = f"cn_r1_k1_s1_c{sp.last_channels}"
        if list(arch_def[0]) != [expected_ds] or list(arch_def[-1]) != [expected_cn]:
            raise ValueError(f"first and last stages must be [{expected_ds!r}] and [{expected_cn!r}] "
                             f"in space {sp.name!r}")
        stages = []
        for s, stage_def in enumerate(arch_def[1:-1]):
            if not sp.min_depth <= len(stage_def) <= sp.max_depth:
                raise ValueError(f"stage {s} has {len(stage_def)} blocks; space {sp.name!r} allows "
                                 f"{sp.min_depth}..{sp.max_depth}")
            indices = []
            for b, text in enumerate(stage_def):
                opts, slot = _parse_block_string(text), sp.slot(s, b)
                want = {"type": "ir", "r": 1, "s": slot.stride, "c": slot.out_channels, "act": slot.act}
                for key, value in want.items():
                    if opts.get(key) != value:
                        raise ValueError(f"block {text!r} (stage {s}, block {b}): {key} must be "
                                         f"{value} in space {sp.name!r}")
                if opts["se"] not in (0.0, sp.se_ratio):
                    raise ValueError(f"block {text!r}: SE ratio must be 0 or {sp.se_ratio}")
                indices.append(sp.config_index(BlockConfig(opts.get("e"), opts.get("k"),
                                                           opts["se"] > 0)))
            stages.append(tuple(indices))
        return cls(sp, tuple(stages))

    @classmethod
    def from_string(cls, text: str, space: SearchSpace | str = "imagenet") -> Architecture:
        """Parse the printed form (a Python literal list of lists of block strings)."""
        try:
            arch_def = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"not an architecture string: {text[:60]!r}...") from exc
        if not isinstance(arch_def, list) or not all(isinstance(st, list) for st in arch_def):
            raise ValueError("an architecture string is a list of lists of block strings")
        return cls.from_arch_def(arch_def, space)

    # --- one-hot encodings (the solver's alpha, beta) -----------------------------------------
    def to_one_hot(self) -> tuple[np.ndarray, np.ndarray]:
        """``alpha`` (stages, max_depth, configs) and ``beta`` (stages, depth options), float64.

        Blocks beyond a stage's depth get the lightest config (they do not count: beta excludes them).
        """
        sp = self.space
        alpha = np.zeros((sp.num_stages, sp.max_depth, sp.num_configs))
        alpha[:, :, sp.lightest_config] = 1.0
        beta = np.zeros((sp.num_stages, len(sp.depths)))
        for s, st in enumerate(self.stages):
            alpha[s, :len(st)] = 0.0
            alpha[s, np.arange(len(st)), st] = 1.0
            beta[s, len(st) - sp.min_depth] = 1.0
        return alpha, beta

    @classmethod
    def from_one_hot(cls, space: SearchSpace, alpha: np.ndarray, beta: np.ndarray) -> Architecture:
        """Inverse of :meth:`to_one_hot`; refuses anything that is not one-hot."""
        alpha, beta = np.asarray(alpha, float), np.asarray(beta, float)
        want_a = (space.num_stages, space.max_depth, space.num_configs)
        want_b = (space.num_stages, len(space.depths))
        if alpha.shape != want_a or beta.shape != want_b:
            raise ValueError(f"alpha, beta must have shapes {want_a}, {want_b}; "
                             f"got {alpha.shape}, {beta.shape}")
        for name, arr in (("alpha", alpha), ("beta", beta)):
            if not (np.isin(arr, (0.0, 1.0)).all() and (arr.sum(-1) == 1.0).all()):
                raise ValueError(f"{name} is not one-hot in every block")
        depths = space.min_depth + beta.argmax(-1)
        choice = alpha.argmax(-1)
        return cls(space, tuple(tuple(choice[s, :d]) for s, d in enumerate(depths)))

    # --- notable points ---------------------------------------------------------------------
    @classmethod
    def uniform(cls, space: SearchSpace, config: int, depth: int) -> Architecture:
        return cls(space, tuple((config,) * depth for _ in space.stages))

    @classmethod
    def heaviest(cls, space: SearchSpace) -> Architecture:
        return cls.uniform(space, space.heaviest_config, space.max_depth)

    @classmethod
    def lightest(cls, space: SearchSpace) -> Architecture:
        return cls.uniform(space, space.lightest_config, space.min_depth)

    @classmethod
    def random(cls, space: SearchSpace, rng: np.random.Generator) -> Architecture:
        """A uniform draw: depth per stage, then a config per block."""
        return cls(space, tuple(
            tuple(rng.integers(space.num_configs, size=int(rng.choice(space.depths))))
            for _ in space.stages))


def timm_arch_def(model_name: str) -> list[list[str]]:
    """The ``arch_def`` literal of a timm ``hardcorenas_*`` entry point, read from timm's source."""
    from timm.models import hardcorenas

    fn = getattr(hardcorenas, model_name, None)
    if fn is None:
        raise ValueError(f"timm has no model {model_name!r} in timm.models.hardcorenas")
    for node in ast.walk(ast.parse(inspect.getsource(fn))):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "arch_def":
            return ast.literal_eval(node.value)
    raise ValueError(f"could not find arch_def in timm's {model_name}")
