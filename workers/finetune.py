"""KD fine-tune of one found architecture as a Ray Tune trial.

The student is the architecture's subnet sliced from w* (:func:`supernet.extract.extract_subnet`), its
BN statistics re-estimated on the training data (:func:`supernet.training.recalibrate_bn`); the teacher
is the heaviest network w-bar; the loss is the paper's CE + 2 KL(teacher || student)
(:func:`supernet.training.finetune_subnet` with the recipe's fine-tune stage). Every epoch reports its
metrics and a checkpoint (``model.safetensors`` + ``progress.json``); a trial that fails and is retried
(``FailureConfig``) resumes from its last checkpoint and runs the epochs that were left, with a fresh
schedule over them. With ``FinetuneJob.epochs_dir`` each trial also keeps its last epoch there, under a
folder named by its architecture's hash: a new trial of the same architecture (a run resumed after its
driver died) starts from it, so resuming never needs Tune's pickled experiment state. The last report
carries the held-out test top-1 and the final weights.

The large inputs (w*, w-bar) reach the trials through :func:`tune.with_parameters`, which puts them
in the object store once.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from supernet.arch import Architecture
from supernet.recipes import StageRecipe
from supernet.space import SearchSpace
from supernet.timm_models import build_timm_model

from .gradients import supernet_from_weights, teacher_from_weights
from .monitoring import process_cpu_seconds

__all__ = ["FinetuneJob", "finetune_trial", "trainable", "load_checkpoint_model", "epochs_folder", "MODEL_FILE"]

MODEL_FILE = "model.safetensors"
PROGRESS_FILE = "progress.json"


@dataclass(frozen=True)
class FinetuneJob:
    """What every trial of one fine-tune fan-out shares (the per-trial part is ``config["arch"]``)."""
    space: SearchSpace
    num_classes: int
    data: str
    data_seed: int
    recipe: StageRecipe
    threads: int
    use_gpu: bool = False     # train on CUDA when the trial was given a GPU
    epochs_dir: str | None = None   # where each architecture keeps its last epoch across runs (see above)


def _save_checkpoint(model: torch.nn.Module, folder: Path, epoch: int) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(folder / MODEL_FILE))
    (folder / PROGRESS_FILE).write_text(json.dumps({"epoch": epoch}))


def _keep_epoch(model: torch.nn.Module, folder: Path, epoch: int) -> None:
    """The last epoch in ``folder``, replaced whole: written beside it, then renamed over it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{folder.name}-", dir=folder.parent) as tmp:
        staged = Path(tmp) / "epoch"
        staged.mkdir()
        _save_checkpoint(model, staged, epoch)
        old = Path(tmp) / "old"
        if folder.exists():
            folder.rename(old)
        staged.rename(folder)


def _kept_epoch(folder: Path, arch: Architecture, num_classes: int) -> tuple[torch.nn.Module, int] | None:
    """What :func:`_keep_epoch` left in ``folder``: the model and its epoch; None when nothing is there.
    A folder that does not load is a :class:`UsageError` (hardcore_nas.checks reads it, no pickle)."""
    from hardcore_nas.checks import check_inside, check_scalar, read_json

    if not (folder / PROGRESS_FILE).is_file():
        return None
    for name in (PROGRESS_FILE, MODEL_FILE):
        check_inside(folder / name, folder.parent, "fine-tune epoch file")
    progress = read_json(folder / PROGRESS_FILE, "fine-tune progress")
    epoch = check_scalar(progress.get("epoch") if isinstance(progress, dict) else progress,
                         f"{folder / PROGRESS_FILE}: epoch", int, min_val=0)
    return load_checkpoint_model(folder, arch, num_classes), epoch


def load_checkpoint_model(folder: str | Path, arch: Architecture, num_classes: int) -> torch.nn.Module:
    """The timm model of ``arch`` with the weights of a trial checkpoint folder (eval mode)."""
    from supernet.checkpoints import load_weights

    return load_weights(build_timm_model(arch, num_classes), Path(folder) / MODEL_FILE).eval()


def epochs_folder(job: FinetuneJob, arch: str) -> Path | None:
    """Where the trials of ``arch`` keep their last epoch (None: only in Tune's checkpoints)."""
    from hardcore_nas import content_hash

    return Path(job.epochs_dir) / content_hash(arch) if job.epochs_dir else None


def _report(metrics: dict, model: torch.nn.Module, epoch: int, keep: Path | None) -> None:
    from ray import tune

    if keep is not None:
        _keep_epoch(model, keep, epoch)
    with tempfile.TemporaryDirectory(prefix="hcn-ckpt-") as tmp:
        _save_checkpoint(model, Path(tmp), epoch)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def finetune_trial(config: dict[str, Any], job: FinetuneJob, supernet_weights: dict[str, np.ndarray],
                   teacher_weights: dict[str, np.ndarray]) -> None:
    """The trial body: ``config["arch"]`` is the architecture's timm string."""
    import logging

    from ray import tune

    from supernet.data import load_data, make_loader
    from supernet.extract import extract_subnet
    from supernet.training import configure_cpu, evaluate, finetune_subnet, recalibrate_bn, training_device

    # One "Checkpoint successfully created" line per epoch and trial would bury the run's progress bars.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)

    started = process_cpu_seconds()
    configure_cpu(job.threads)
    torch.manual_seed(job.data_seed)        # augmentation draws: the same trial trains the same way
    device = training_device(job.use_gpu)
    arch = Architecture.from_string(config["arch"], job.space)
    splits = load_data(job.data, job.space.input_size, seed=job.data_seed)
    teacher = teacher_from_weights(job.space, job.num_classes, teacher_weights).to(device)
    checkpoint, keep = tune.get_checkpoint(), epochs_folder(job, config["arch"])
    kept = _kept_epoch(keep, arch, job.num_classes) if keep is not None and checkpoint is None else None
    if checkpoint is not None:      # a retry of this trial
        with checkpoint.as_directory() as folder:
            student = load_checkpoint_model(folder, arch, job.num_classes).to(device)
            done = json.loads((Path(folder) / PROGRESS_FILE).read_text())["epoch"]
    elif kept is not None:          # a new trial of an architecture an interrupted run was training
        student, done = kept[0].to(device), kept[1]
    else:
        # Sliced on the CPU: only the subnet goes to the device, not the whole of w*.
        net = supernet_from_weights(job.space, job.num_classes, supernet_weights)
        student, done = extract_subnet(net, arch).to(device), 0
        del net
        # w*'s BN statistics average every path; the subnet starts from its own.
        recalibrate_bn(student, make_loader(splits.train, job.recipe.batch_size, train=True, seed=job.data_seed))
    student.train().requires_grad_(True)
    test_loader = make_loader(splits.test, 256, train=False)

    def on_epoch(record: dict, model: torch.nn.Module) -> None:
        epoch = done + record["epoch"]
        _report({**record, "epoch": epoch, "cpu_seconds": process_cpu_seconds() - started}, model, epoch, keep)

    remaining = job.recipe.epochs - done
    if remaining > 0:
        finetune_subnet(student, teacher, make_loader(splits.training_set(job.recipe.augment),
                                                      job.recipe.batch_size, train=True, seed=job.data_seed + done),
                        job.recipe.replace(epochs=remaining),
                        val_loader=make_loader(splits.val, 256, train=False), on_epoch=on_epoch)
    final = {"epoch": job.recipe.epochs, "test_top1": evaluate(student, test_loader), "final": True,
             "cpu_seconds": process_cpu_seconds() - started}
    _report(final, student.eval(), job.recipe.epochs, None)


def trainable(job: FinetuneJob, supernet_weights: dict[str, np.ndarray],
              teacher_weights: dict[str, np.ndarray], cpus: float, gpus: float = 0.0):
    """The Tune trainable: :func:`finetune_trial` with the shared inputs in the object store and an
    explicit resource request per trial."""
    from ray import tune

    fn = tune.with_parameters(finetune_trial, job=job, supernet_weights=supernet_weights,
                              teacher_weights=teacher_weights)
    return tune.with_resources(fn, {"cpu": cpus, "gpu": gpus})
