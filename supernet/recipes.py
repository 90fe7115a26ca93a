"""Training recipes of the three stages: heaviest network (w-bar), multipath supernet (w*), KD fine-tune.

The ``imagenet`` preset is the official code's effective settings (official-implementation.md 1.1); the
``tiny`` preset trains the ``tiny`` space on the embedded digits in a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hardcore_nas.checks import OptionError, check_choice, check_scalar
from hardcore_nas.errors import UsageError

SAMPLINGS = ("multipath", "single-path")

__all__ = ["SAMPLINGS", "StageRecipe", "Recipe", "get_recipe", "list_recipes"]


@dataclass(frozen=True)
class StageRecipe:
    """Settings of one training stage (optimiser and scheduler names are timm's factory names).

    ``epochs`` excludes ``cooldown_epochs``, which timm adds to cosine schedules only (as the official
    code's timm did). ``ema_decay`` 0 turns the weight EMA off; when on, the stage ends with the EMA
    weights. The loss is CE(``label_smoothing``) + ``kd_weight`` * (stage-wise feature MSE /
    ``feature_kd_divisor`` + KL(teacher || student)); no teacher term when ``kd_weight`` is 0 and no
    feature term when ``feature_kd_divisor`` is None. ``taylor_batches`` (supernet stage only): batches of
    training data whose gradients order w-bar's expansion channels by Taylor importance before w* is
    initialised from it (``supernet.channels``); 0 keeps timm's order. ``sampling`` (supernet stage only):
    ``multipath`` gives every image its own path, ``single-path`` one path per batch (the paper's Fig. 4
    baseline). ``augment``: the data source's training augmentation (random crop, flip); off, training
    images get the evaluation transform, which pays in short schedules (``benchmarks/results/capacity.md``).
    """
    epochs: int
    batch_size: int
    lr: float
    sched: str = "cosine"
    opt: str = "sgd"  # timm's "sgd": SGD with Nesterov momentum
    momentum: float = 0.9
    weight_decay: float = 1e-5
    warmup_epochs: float = 3
    warmup_lr: float = 1e-4
    min_lr: float = 1e-5
    cooldown_epochs: int = 0
    decay_epochs: float = 2.4
    decay_rate: float = 0.97
    label_smoothing: float = 0.1
    ema_decay: float = 0.999
    drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    kd_weight: float = 0.0
    feature_kd_divisor: float | None = None
    taylor_batches: int = 0
    sampling: str = "multipath"
    augment: bool = True

    def __post_init__(self) -> None:
        # Each setting checked once, here: a config's overrides and the CLI's flags come through this.
        for name, least in (("epochs", 1), ("batch_size", 2), ("cooldown_epochs", 0), ("taylor_batches", 0)):
            check_scalar(getattr(self, name), name, int, min_val=least)
        for name in ("lr", "decay_epochs"):
            check_scalar(getattr(self, name), name, float, min_val=0.0, include_boundaries="neither")
        for name in ("weight_decay", "warmup_epochs", "warmup_lr", "min_lr", "kd_weight"):
            check_scalar(getattr(self, name), name, float, min_val=0.0)
        for name in ("momentum", "label_smoothing", "ema_decay", "drop_rate", "drop_path_rate"):
            check_scalar(getattr(self, name), name, float, min_val=0.0, max_val=1.0, include_boundaries="left")
        check_scalar(self.decay_rate, "decay_rate", float, min_val=0.0, max_val=1.0, include_boundaries="right")
        if self.feature_kd_divisor is not None:
            check_scalar(self.feature_kd_divisor, "feature_kd_divisor", float, min_val=0.0,
                         include_boundaries="neither")
        for name in ("sched", "opt"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise OptionError(name, "a timm factory name", getattr(self, name))
        check_choice(self.sampling, "sampling", SAMPLINGS)
        if not isinstance(self.augment, bool):
            raise OptionError("augment", "true or false", self.augment)

    def replace(self, **changes) -> StageRecipe:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Recipe:
    """The three stages' settings under one name."""
    name: str
    heaviest: StageRecipe
    supernet: StageRecipe
    finetune: StageRecipe

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **stage_changes: dict) -> Recipe:
        """The recipe with some settings of some stages changed: ``replace(heaviest={"epochs": 2})``."""
        return dataclasses.replace(self, **{stage: getattr(self, stage).replace(**changes)
                                            for stage, changes in stage_changes.items()})


def _imagenet() -> Recipe:
    """Official commands (1), (2), (4): step lr 0.128 / cosine 0.0128 / cosine 0.00128, SGD-Nesterov."""
    return Recipe(
        name="imagenet",
        heaviest=StageRecipe(epochs=300, batch_size=256, lr=0.128, sched="step", decay_epochs=2.4,
                             decay_rate=0.97, warmup_lr=1e-6, drop_rate=0.3, drop_path_rate=0.2),
        # Taylor ordering on 10% of the 1.28M training images, as the official reorganize_channels.
        supernet=StageRecipe(epochs=100, cooldown_epochs=10, batch_size=200, lr=0.0128,
                             kd_weight=1.0, feature_kd_divisor=50.0, taylor_batches=640),
        # The official code forces label smoothing to 0 when distilling the fine-tuned child.
        finetune=StageRecipe(epochs=50, cooldown_epochs=10, batch_size=128, lr=0.00128,
                             label_smoothing=0.0, kd_weight=2.0),
    )


def _tiny() -> Recipe:
    """The same structure, short: a few minutes per stage on 2 CPU cores with the digits."""
    return Recipe(
        name="tiny",
        heaviest=StageRecipe(epochs=12, batch_size=64, lr=0.1, warmup_epochs=1, warmup_lr=1e-3,
                             ema_decay=0.98, drop_rate=0.2, drop_path_rate=0.05),
        # Taylor ordering on 2 batches (~10% of the digits training split): benchmarks/results/channel_order.md
        supernet=StageRecipe(epochs=25, batch_size=64, lr=0.1, warmup_epochs=1, warmup_lr=1e-3,
                             ema_decay=0.98, kd_weight=1.0, feature_kd_divisor=50.0, taylor_batches=2),
        finetune=StageRecipe(epochs=5, batch_size=64, lr=0.01, warmup_epochs=0, label_smoothing=0.0,
                             ema_decay=0.0, kd_weight=2.0),
    )


_PRESETS = {"imagenet": _imagenet, "tiny": _tiny}


def list_recipes() -> list[str]:
    return sorted(_PRESETS)


def get_recipe(name: str) -> Recipe:
    if name not in _PRESETS:
        raise UsageError(f"unknown recipe {name!r}; choose one of {', '.join(list_recipes())}")
    return _PRESETS[name]()
