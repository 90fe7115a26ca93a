"""The training stages: the heaviest network w-bar, the multipath one-shot supernet w*, KD fine-tuning.

Each stage is a plain function of models, data loaders and a :class:`~supernet.recipes.StageRecipe`;
they share one loop (:func:`fit`: timm optimiser, scheduler and EMA, tqdm progress) and differ in the loss.
Accuracies are top-1 in percent.
"""
from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models import MobileNetV3
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch.utils.data import DataLoader
from tqdm import tqdm

from hardcore_nas.process import keep_heap

from .arch import Architecture
from .channels import reorder_channels
from .elastic import ElasticSupernet, timm_features
from .epoch_state import load_epoch_state, save_epoch_state
from .recipes import StageRecipe
from .sampling import PathSample
from .space import SearchSpace
from .timm_models import build_timm_model

__all__ = ["LossFn", "EpochCallback", "configure_cpu", "fit", "train_heaviest", "train_supernet",
           "finetune_subnet", "evaluate", "evaluate_architecture", "distillation_loss", "recalibrate_bn",
           "training_device"]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]
EpochCallback = Callable[[dict, nn.Module], None]
Metrics = Callable[[nn.Module], "dict[str, float]"]

logger = logging.getLogger(__name__)


def configure_cpu(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads (default: the CPUs this process may use) and keep freed memory.

    glibc hands large freed blocks back to the kernel, and the next training step faults fresh pages in
    again. On a freshly booted VM of this project (its memory not yet touched) that made an epoch of the
    heaviest tiny network take 47-57 s instead of 5 s (2026-11-28); with the mmap and trim thresholds
    raised, so that the process reuses its own heap, it took 5 s. Once the VM's memory has been touched
    the two settings time the same (benchmarks/results/supernet_training.md).
    """
    n = num_threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(n)
    keep_heap()
    return n


# --- losses -------------------------------------------------------------------------------------
def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      student_features: list[torch.Tensor] | None = None,
                      teacher_features: list[torch.Tensor] | None = None,
                      feature_divisor: float | None = None) -> torch.Tensor:
    """KL(teacher || student) at temperature 1 (``batchmean``) + sum of stage-wise MSE / divisor."""
    loss = F.kl_div(F.log_softmax(student_logits, -1), F.log_softmax(teacher_logits, -1),
                    reduction="batchmean", log_target=True)
    if feature_divisor is not None:
        if len(student_features) != len(teacher_features):
            raise ValueError(f"{len(student_features)} student vs {len(teacher_features)} teacher features")
        loss = loss + sum(F.mse_loss(s, t) for s, t in zip(student_features, teacher_features)) / feature_divisor
    return loss


# --- the shared loop ----------------------------------------------------------------------------
def fit(model: nn.Module, loss_fn: LossFn, train_loader: DataLoader, recipe: StageRecipe, *,
        metrics: Metrics | None = None, on_epoch: EpochCallback | None = None,
        desc: str = "train", epoch_state: Path | None = None,
        generators: Sequence[torch.Generator] = ()) -> list[dict]:
    """Train ``model`` in place with ``loss_fn(model, images, targets) -> (loss, logits)``.

    timm's optimiser (``recipe.opt``) and scheduler (stepped per update, warm-up and cooldown included);
    with ``recipe.ema_decay`` > 0 a :class:`ModelEmaV3` (with warm-up) is kept and its weights are copied
    into ``model`` at the end. After every epoch ``metrics(eval_model)`` (the EMA model when on) is merged
    into the epoch's record and ``on_epoch(record, eval_model)`` is called. Returns the records.

    With ``epoch_state`` (a file), everything the next epoch depends on is saved there after every epoch
    (weights, optimiser, EMA, the global, loader and ``generators`` random states), and a stage that finds
    it resumes after its last saved epoch, on the same course as if it had not been stopped.
    """
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise ValueError("the training loader yields no batch (fewer images than one batch?)")
    optimizer = create_optimizer_v2(model, opt=recipe.opt, lr=recipe.lr, weight_decay=recipe.weight_decay,
                                    momentum=recipe.momentum)
    scheduler, num_epochs = create_scheduler_v2(
        optimizer, sched=recipe.sched, num_epochs=recipe.epochs, decay_epochs=recipe.decay_epochs,
        decay_rate=recipe.decay_rate, cooldown_epochs=recipe.cooldown_epochs, min_lr=recipe.min_lr,
        warmup_lr=recipe.warmup_lr, warmup_epochs=recipe.warmup_epochs, step_on_epochs=False,
        updates_per_epoch=steps_per_epoch)
    ema = ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True) if recipe.ema_decay > 0 else None
    eval_model = ema.module if ema is not None else model
    device = _device_of(model)
    history, updates = [], 0
    rngs = [g for g in (train_loader.generator, *generators) if g is not None]
    resumed = _resume(epoch_state, desc, num_epochs, steps_per_epoch, model, optimizer, ema, rngs)
    if resumed is not None:
        history, updates = resumed
    for epoch in range(len(history), num_epochs):
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(train_loader, desc=f"{desc} {epoch + 1}/{num_epochs}", leave=False)
        for images, targets in bar:
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            loss, logits = loss_fn(model, images, targets)
            value = loss.item()     # the step's one host sync (the progress bar shows it anyway)
            if not math.isfinite(value):
                raise FloatingPointError(f"{desc}: loss became {value} at epoch {epoch + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            updates += 1
            scheduler.step_update(updates)
            if ema is not None:
                ema.update(model, step=updates)
            n = len(targets)
            total_loss += value * n
            correct += (logits.argmax(-1) == targets).sum().item()
            seen += n
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", top1=f"{100.0 * correct / seen:.1f}")
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
                  "train_loss": total_loss / seen, "train_top1": 100.0 * correct / seen}
        if metrics is not None:
            record.update(metrics(eval_model))
        history.append(record)
        if epoch_state is not None:
            save_epoch_state(epoch_state, {
                "desc": desc, "num_epochs": num_epochs, "steps_per_epoch": steps_per_epoch, "history": history,
                "updates": updates, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "ema": ema.state_dict() if ema is not None else {}, "torch_rng": torch.get_rng_state(),
                "generators": [g.get_state() for g in rngs]})
        if not _quiet():
            tqdm.write(f"{desc} {epoch + 1}/{num_epochs}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in record.items() if k != "epoch"))
        if on_epoch is not None:
            on_epoch(record, eval_model)
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    return history


def _resume(path: Path | None, desc: str, num_epochs: int, steps_per_epoch: int, model: nn.Module,
            optimizer: torch.optim.Optimizer, ema: ModelEmaV3 | None, rngs: list[torch.Generator]
            ) -> tuple[list[dict], int] | None:
    """Load what :func:`fit` saved at ``path`` into the live objects; ``(history, updates)``, or None when
    there is nothing to resume (or it is of another schedule, which starts the stage again)."""
    saved = load_epoch_state(path) if path is not None else None
    if saved is None:
        return None
    shape = (desc, num_epochs, steps_per_epoch, len(rngs))
    if (saved["desc"], saved["num_epochs"], saved["steps_per_epoch"], len(saved["generators"])) != shape:
        logger.warning("%s is of another schedule; starting %s from its first epoch", path, desc)
        return None
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if ema is not None:
        ema.load_state_dict(saved["ema"])
    torch.set_rng_state(saved["torch_rng"])
    for generator, state in zip(rngs, saved["generators"]):
        generator.set_state(state)
    logger.info("%s: resuming after epoch %d of %d (%s)", desc, len(saved["history"]), num_epochs, path)
    return saved["history"], saved["updates"]


def _quiet() -> bool:
    return os.environ.get("TQDM_DISABLE", "") not in ("", "0")


def training_device(use_gpu: bool) -> str:
    """``cuda`` when the work was given a GPU and torch sees one, else ``cpu``."""
    return "cuda" if use_gpu and torch.cuda.is_available() else "cpu"


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --- evaluation ---------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader,
             forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None) -> float:
    """Top-1 (%) of ``model`` on ``loader`` in eval mode (``forward(model, x)`` if given, else ``model(x)``)."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    correct, seen = 0, 0
    for images, targets in loader:
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        logits = forward(model, images) if forward else model(images)
        correct += (logits.argmax(-1) == targets).sum().item()
        seen += len(targets)
    model.train(was_training)
    return 100.0 * correct / max(seen, 1)


def evaluate_architecture(net: ElasticSupernet, arch: Architecture, loader: DataLoader) -> float:
    """Top-1 (%) of the supernet with every image on the path ``arch``."""
    return evaluate(net, loader, lambda m, x: m(x, PathSample.fixed(arch, len(x))))


@torch.no_grad()
def recalibrate_bn(model: nn.Module, loader: DataLoader, num_batches: int = 10) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``num_batches`` batches (weights unchanged).

    A subnet extracted from the multipath supernet inherits BN statistics that averaged over all paths;
    its own statistics differ, the more so the deeper it is (OFA and BigNAS recalibrate the same way).
    Returns ``model`` in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over the batches
    model.train()
    device = _device_of(model)
    for i, (images, _) in enumerate(loader):
        if i == num_batches:
            break
        model(images.to(device))
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    return model.eval()


# --- the stages ---------------------------------------------------------------------------------
def _classification_loss(recipe: StageRecipe) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)


def train_heaviest(space: SearchSpace, num_classes: int, train_loader: DataLoader, recipe: StageRecipe, *,
                   val_loader: DataLoader | None = None, on_epoch: EpochCallback | None = None,
                   device: str | torch.device = "cpu", epoch_state: Path | None = None
                   ) -> tuple[MobileNetV3, list[dict]]:
    """Stage 1, w-bar: the heaviest architecture as a plain timm MobileNetV3, trained normally on ``device``
    (resumable from ``epoch_state``, see :func:`fit`)."""
    model = build_timm_model(Architecture.heaviest(space), num_classes, drop_rate=recipe.drop_rate,
                             drop_path_rate=recipe.drop_path_rate).to(device)
    criterion = _classification_loss(recipe)

    def loss_fn(m, images, targets):
        logits = m(images)
        return criterion(logits, targets), logits

    metrics = (lambda m: {"val_top1": evaluate(m, val_loader)}) if val_loader is not None else None
    history = fit(model, loss_fn, train_loader, recipe, metrics=metrics, on_epoch=on_epoch, desc="w-bar",
                  epoch_state=epoch_state)
    return model.eval(), history


def train_supernet(space: SearchSpace, teacher: MobileNetV3, train_loader: DataLoader, recipe: StageRecipe,
                   *, num_classes: int, val_loader: DataLoader | None = None,
                   on_epoch: EpochCallback | None = None, seed: int = 0, epoch_state: Path | None = None
                   ) -> tuple[ElasticSupernet, list[dict]]:
    """Stage 2, w*: the elastic supernet initialised from w-bar, trained with multipath sampling.

    Every image of every batch takes its own uniformly drawn path (``PathSample.uniform``; with
    ``recipe.sampling == "single-path"``, one path per batch as the paper's baseline); the loss is
    CE(label smoothing) + kd_weight * (stage-wise MSE / feature_kd_divisor + KL) against the frozen
    teacher w-bar (set to eval mode without gradients). Trains on the teacher's device. Per-epoch
    metrics: val top-1 of the heaviest and lightest paths. Resumable from ``epoch_state`` (see :func:`fit`;
    the channel order is computed again, the same from the same w-bar and batches).
    """
    if recipe.taylor_batches:
        # Function-preserving: the teacher computes the same, with its most important channels first.
        reorder_channels(teacher, space, itertools.islice(train_loader, recipe.taylor_batches))
    net = ElasticSupernet(space, num_classes, drop_rate=recipe.drop_rate).to(_device_of(teacher))
    net.load_heaviest(teacher)
    teacher = teacher.eval().requires_grad_(False)
    criterion = _classification_loss(recipe)
    paths = torch.Generator().manual_seed(seed)
    draw = PathSample.uniform if recipe.sampling == "multipath" else PathSample.single_path

    def loss_fn(m, images, targets):
        logits, features = m(images, draw(space, len(images), paths), return_features=True)
        loss = criterion(logits, targets)
        if recipe.kd_weight:
            with torch.no_grad():
                teacher_logits, teacher_features = timm_features(teacher, images)
            loss = loss + recipe.kd_weight * distillation_loss(
                logits, teacher_logits, features, teacher_features, recipe.feature_kd_divisor)
        return loss, logits

    named = {"heaviest": Architecture.heaviest(space), "lightest": Architecture.lightest(space)}
    metrics = (lambda m: {f"val_top1_{name}": evaluate_architecture(m, arch, val_loader)
                          for name, arch in named.items()}) if val_loader is not None else None
    history = fit(net, loss_fn, train_loader, recipe, metrics=metrics, on_epoch=on_epoch, desc="w*",
                  epoch_state=epoch_state, generators=(paths,))
    return net.eval(), history


def finetune_subnet(student: nn.Module, teacher: nn.Module, train_loader: DataLoader, recipe: StageRecipe,
                    *, val_loader: DataLoader | None = None, on_epoch: EpochCallback | None = None
                    ) -> list[dict]:
    """KD fine-tune of an extracted subnet (in place, on its device): CE + kd_weight * KL(teacher || student).

    The teacher (on the same device) is set to eval mode without gradients.
    ``on_epoch(record, model)`` after every epoch is where a Ray Tune trial reports metrics and saves
    checkpoints. Returns the per-epoch records (``val_top1`` when ``val_loader`` is given).
    """
    teacher = teacher.eval().requires_grad_(False)
    criterion = _classification_loss(recipe)

    def loss_fn(m, images, targets):
        logits = m(images)
        loss = criterion(logits, targets)
        if recipe.kd_weight:
            with torch.no_grad():
                teacher_logits = teacher(images)
            loss = loss + recipe.kd_weight * distillation_loss(logits, teacher_logits)
        return loss, logits

    metrics = (lambda m: {"val_top1": evaluate(m, val_loader)}) if val_loader is not None else None
    history = fit(student, loss_fn, train_loader, recipe, metrics=metrics, on_epoch=on_epoch, desc="fine-tune")
    student.eval()
    return history
