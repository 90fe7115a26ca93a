"""The fine-tune trial under real Ray Tune: per-epoch checkpoints, and a retry after its process is killed
resumes from the last checkpoint instead of starting over."""
import os
import signal

import numpy as np
import pytest
import torch

from supernet import Architecture, get_space
from supernet.elastic import ElasticSupernet
from supernet.recipes import get_recipe
from supernet.timm_models import build_timm_model
from tests.faults.report import record_fault
from workers.finetune import FinetuneJob, load_checkpoint_model, trainable
from workers.gradients import numpy_state

pytestmark = pytest.mark.slow
SPACE = get_space("tiny")


def test_a_killed_trial_is_retried_from_its_last_checkpoint(tmp_path):
    import ray
    from ray import tune

    torch.manual_seed(0)
    arch = Architecture.random(SPACE, np.random.default_rng(3))
    supernet = numpy_state(ElasticSupernet(SPACE, 10))
    teacher = numpy_state(build_timm_model(Architecture.heaviest(SPACE), 10))
    job = FinetuneJob(SPACE, 10, "digits", 0, get_recipe("tiny").finetune.replace(epochs=2, batch_size=128), 1)

    class KillAfterFirstEpoch(tune.Callback):
        killed, recovered, epochs = [], [], []     # epochs: (worker pid, epoch) of every epoch report

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if not result.get("final"):
                self.epochs.append((result["pid"], result["epoch"]))

        def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
            # Once epoch 1's checkpoint is registered, kill the trial's own worker process, mid-run.
            if trial.last_result["epoch"] == 1 and not self.killed:
                self.killed.append(trial.last_result["pid"])
                os.kill(trial.last_result["pid"], signal.SIGKILL)

        def on_trial_recover(self, iteration, trials, trial, **info):
            self.recovered.append(trial.trial_id)

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        tuner = tune.Tuner(
            trainable(job, supernet, teacher, cpus=1), param_space={"arch": tune.grid_search([str(arch)])},
            run_config=tune.RunConfig(name="ft", storage_path=str(tmp_path), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=1),
                                      callbacks=[KillAfterFirstEpoch()]))
        (result,) = tuner.fit()
    finally:
        ray.shutdown()
    assert KillAfterFirstEpoch.killed and KillAfterFirstEpoch.recovered
    assert result.error is None and result.metrics["final"] and 0 <= result.metrics["test_top1"] <= 100
    (killed,) = KillAfterFirstEpoch.killed
    assert [e for pid, e in KillAfterFirstEpoch.epochs if pid == killed] == [1]
    assert [e for pid, e in KillAfterFirstEpoch.epochs if pid != killed] == [2]   # epoch 1 not trained again
    with result.checkpoint.as_directory() as folder:
        model = load_checkpoint_model(folder, arch, 10)
    assert isinstance(model, torch.nn.Module) and not model.training
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    record_fault("fine-tune trial's worker killed", "SIGKILL to the trial's process after epoch 1 of 2",
                 survived="Tune retried the trial from its epoch-1 checkpoint; epoch 1 not trained again",
                 extra_s=None, lost="the epoch in progress")


def test_a_fine_tune_keeps_its_last_epoch_whole_and_reads_it_back_checked(tmp_path):
    from hardcore_nas import UsageError
    from workers.finetune import PROGRESS_FILE, _keep_epoch, _kept_epoch

    arch = Architecture.random(SPACE, np.random.default_rng(3))
    folder = tmp_path / "epochs" / "arch"
    assert _kept_epoch(folder, arch, 10) is None
    for epoch in (1, 2):
        torch.manual_seed(epoch)
        model = build_timm_model(arch, 10)
        _keep_epoch(model, folder, epoch)
    kept, epoch = _kept_epoch(folder, arch, 10)
    assert epoch == 2 and [p.name for p in (tmp_path / "epochs").iterdir()] == ["arch"]    # no staging left
    for a, b in zip(model.state_dict().values(), kept.state_dict().values()):
        assert torch.equal(a, b)
    (folder / PROGRESS_FILE).write_text('{"epoch": "two"}')
    with pytest.raises(UsageError, match="epoch"):
        _kept_epoch(folder, arch, 10)
