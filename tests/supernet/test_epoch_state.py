"""A training stage saved after every epoch and resumed: the state round-trips without pickle, a damaged
file starts the stage again, and a resumed run ends on exactly the weights of an unbroken one."""
import logging

import pytest
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

from supernet.data import make_loader
from supernet.epoch_state import load_epoch_state, save_epoch_state
from supernet.recipes import StageRecipe
from supernet.training import fit

RECIPE = StageRecipe(epochs=4, batch_size=16, lr=0.05, warmup_epochs=1, ema_decay=0.9)


def test_state_round_trips_with_integer_keys_tensors_and_plain_values(tmp_path):
    state = {"history": [{"epoch": 1, "loss": 0.5}], "updates": 7, "none": None, "flag": True,
             "optimizer": {"state": {0: {"momentum_buffer": torch.randn(3)}, 3: {}},
                           "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0, 3]}]},
             "rng": torch.get_rng_state()}
    save_epoch_state(tmp_path / "s.safetensors", state)
    loaded = load_epoch_state(tmp_path / "s.safetensors")
    assert list(loaded["optimizer"]["state"]) == [0, 3]            # integer keys stay integers
    buffer = state["optimizer"]["state"][0]["momentum_buffer"]
    assert torch.equal(loaded["optimizer"]["state"][0]["momentum_buffer"], buffer)
    assert torch.equal(loaded["rng"], state["rng"])
    assert loaded["history"] == state["history"] and loaded["updates"] == 7 and loaded["none"] is None
    assert loaded["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.99]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("damage", [b"", b"not a safetensors file", None])
def test_a_damaged_state_is_reported_and_the_stage_starts_again(tmp_path, caplog, damage):
    path = tmp_path / "s.safetensors"
    save_epoch_state(path, {"x": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:40] if damage is None else damage)
    with caplog.at_level(logging.WARNING, logger="supernet.epoch_state"):
        assert load_epoch_state(path) is None
    assert "unreadable" in caplog.text and "first epoch" in caplog.text


def test_a_state_that_is_not_ours_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(tmp_path / "other.safetensors"), metadata={"epoch_state": "[1, 2]"})
    assert load_epoch_state(tmp_path / "other.safetensors") is None
    with pytest.raises(TypeError, match="cannot store"):
        save_epoch_state(tmp_path / "s.safetensors", {"x": object()})


class _Stop(Exception):
    pass


def _train(epoch_state=None, stop_after=None) -> tuple[nn.Module, list[dict]]:
    """A small net with dropout (global RNG), a shuffled loader (its generator) and a generator of our own."""
    data = torch.Generator().manual_seed(1)
    images, labels = torch.randn(96, 8, generator=data), torch.randint(0, 3, (96,), generator=data)
    loader = make_loader(TensorDataset(images, labels), RECIPE.batch_size, train=True, seed=2)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    noise = torch.Generator().manual_seed(3)

    def loss_fn(m, x, y):
        logits = m(x + 0.1 * torch.randn(x.shape, generator=noise))
        return nn.functional.cross_entropy(logits, y), logits

    def on_epoch(record, _):
        if record["epoch"] == stop_after:
            raise _Stop

    history = fit(model, loss_fn, loader, RECIPE, on_epoch=on_epoch, desc="toy", epoch_state=epoch_state,
                  generators=(noise,))
    return model, history


def test_a_stopped_stage_resumes_after_its_last_epoch_on_the_same_course(tmp_path):
    unbroken, unbroken_history = _train()
    state = tmp_path / "toy.safetensors"
    with pytest.raises(_Stop):
        _train(state, stop_after=2)
    assert load_epoch_state(state)["history"][-1]["epoch"] == 2
    torch.manual_seed(123)          # whatever the process did in between
    resumed, history = _train(state)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history == unbroken_history
    for a, b in zip(unbroken.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_a_state_of_another_schedule_starts_the_stage_again(tmp_path, caplog):
    state = tmp_path / "toy.safetensors"
    with pytest.raises(_Stop):
        _train(state, stop_after=1)
    saved = load_epoch_state(state)
    save_epoch_state(state, {**saved, "num_epochs": 9})
    unbroken, _ = _train()
    with caplog.at_level(logging.WARNING, logger="supernet.training"):
        model, history = _train(state)
    assert "another schedule" in caplog.text and len(history) == 4
    for a, b in zip(unbroken.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
