"""Supernet training (w-bar, then w*) as one Ray task with an explicit resource request.

The task returns the weights as numpy arrays (the driver writes the checkpoint where it keeps its
cache, which need not be a disk the training node shares) with both stages' histories and the
held-out top-1 of w-bar and of w*'s lightest and heaviest paths.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from supernet.recipes import Recipe
from supernet.space import SearchSpace

from .gradients import numpy_state
from .monitoring import cpu_timed

__all__ = ["TrainedSupernet", "train_supernet_weights", "start_supernet_training"]


@dataclass(frozen=True)
class TrainedSupernet:
    teacher: dict[str, np.ndarray]       # w-bar: the heaviest timm network's state dict
    supernet: dict[str, np.ndarray]      # w*: the elastic supernet's state dict
    heaviest_history: list[dict]
    supernet_history: list[dict]
    test_top1: dict[str, float]


def train_supernet_weights(space: SearchSpace, num_classes: int, data: str, data_seed: int, recipe: Recipe,
                           seed: int, threads: int | None = None, use_gpu: bool = False,
                           on_epoch: Callable[[str, dict], None] = lambda stage, record: None,
                           epoch_states: str | None = None) -> TrainedSupernet:
    """Stage 1 (w-bar) and stage 2 (w*, multipath, distilled from w-bar) on ``data``'s train split, on
    CUDA when ``use_gpu`` and one is visible; ``on_epoch(stage, record)`` after every epoch of either stage
    (``stage``: "w-bar" or "w*"). With ``epoch_states`` (a folder), both stages save their state there
    after every epoch and a call that finds it resumes after the last saved epoch."""
    import torch

    from supernet.arch import Architecture
    from supernet.data import load_data, make_loader
    from supernet.training import (
        configure_cpu,
        evaluate,
        evaluate_architecture,
        train_heaviest,
        train_supernet,
        training_device,
    )

    configure_cpu(threads)
    torch.manual_seed(seed)
    splits = load_data(data, space.input_size, seed=data_seed)
    val = make_loader(splits.val, 256, train=False)
    test = make_loader(splits.test, 256, train=False)
    heaviest, supernet = recipe.heaviest, recipe.supernet

    def state_file(stage: str) -> Path | None:
        return Path(epoch_states) / f"{stage}.safetensors" if epoch_states else None

    teacher, heaviest_history = train_heaviest(
        space, num_classes,
        make_loader(splits.training_set(heaviest.augment), heaviest.batch_size, train=True, seed=seed),
        heaviest, val_loader=val, on_epoch=lambda record, model: on_epoch("w-bar", record),
        device=training_device(use_gpu), epoch_state=state_file("w-bar"))
    net, supernet_history = train_supernet(
        space, teacher,
        make_loader(splits.training_set(supernet.augment), supernet.batch_size, train=True, seed=seed + 1),
        supernet, num_classes=num_classes, val_loader=val, seed=seed,
        on_epoch=lambda record, model: on_epoch("w*", record), epoch_state=state_file("w-star"))
    test_top1 = {"w_bar": evaluate(teacher, test)}
    for name, arch in (("w_star_heaviest", Architecture.heaviest(space)),
                       ("w_star_lightest", Architecture.lightest(space))):
        test_top1[name] = evaluate_architecture(net, arch, test)
    return TrainedSupernet(numpy_state(teacher), numpy_state(net), heaviest_history, supernet_history,
                           test_top1)


def start_supernet_training(space: SearchSpace, num_classes: int, data: str, data_seed: int, recipe: Recipe,
                            seed: int, board, num_cpus: float, num_gpus: float = 0.0,
                            epoch_states: str | None = None, max_retries: int = 0):
    """:func:`train_supernet_weights` as a Ray task asking for ``num_cpus`` CPUs and ``num_gpus`` GPUs,
    posting each stage's finished epochs to ``board`` (a :class:`~workers.monitoring.ProgressBoard`);
    resolves to ``(TrainedSupernet, CPU seconds)``. Ray runs it again, up to ``max_retries`` times, when
    its process dies; with ``epoch_states`` (a folder the retry can reach) it resumes after its last
    finished epoch."""
    import ray

    def on_epoch(stage: str, record: dict) -> None:
        board.set.remote(stage, record["epoch"])

    task = ray.remote(cpu_timed(train_supernet_weights)).options(
        num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries, name="train-supernet")
    return task.remote(space, num_classes, data, data_seed, recipe, seed, max(1, int(num_cpus)), num_gpus > 0,
                       on_epoch, epoch_states)
