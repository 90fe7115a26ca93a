"""The data-source registry: names, root policies, the one-line errors, a source plugged in from outside."""
import numpy as np
import pytest
import torch

from hardcore_nas.errors import UsageError
from supernet.data import SourceSets, get_data_source, list_data_sources, load_data, parse_data_spec
from supernet.data import registry as registry_module
from supernet.data.registry import register_data_source
from supernet.data.splits import ImageTensors


def test_builtin_sources_are_registered():
    assert {"digits", "cifar10", "cifar100", "imagenet"} <= set(list_data_sources())
    assert get_data_source("digits").root == "none" and get_data_source("cifar10").root == "required"


def test_unknown_source_lists_the_known_ones_in_one_line():
    with pytest.raises(UsageError) as info:
        parse_data_spec("mnist:/tmp")
    message = str(info.value)
    assert "\n" not in message and "'mnist'" in message
    for name in list_data_sources():
        assert name in message
    assert "cifar10:ROOT" in message and "digits," in message


@pytest.mark.parametrize("spec, parsed", [("digits", ("digits", None)), ("cifar10:/d/c", ("cifar10", "/d/c"))])
def test_parse_data_spec(spec, parsed):
    name, root = parse_data_spec(spec)
    assert (name, None if root is None else str(root)) == parsed


@pytest.fixture
def scratch_registry(monkeypatch):
    """The registry with its current sources; whatever a test registers is gone afterwards."""
    monkeypatch.setattr(registry_module, "_SOURCES", dict(registry_module._SOURCES))


def test_a_new_source_is_one_decorated_loader(scratch_registry, tmp_path):
    seen = []

    @register_data_source("toy", root="optional")
    def toy(root, input_size, in_chans):
        seen.append((root, input_size, in_chans))
        targets = np.repeat(np.arange(2), 10)
        images = ImageTensors(torch.zeros(20, in_chans, input_size, input_size), targets)
        return SourceSets(images, ImageTensors(images.images[:4], targets[:4]), None, None, num_classes=2)

    assert "toy" in list_data_sources() and get_data_source("toy").usage == "toy[:ROOT]"
    data = load_data("toy", 8, in_chans=1)
    assert (len(data.train), len(data.val), len(data.test), data.num_classes) == (16, 4, 4, 2)
    assert data.name == "toy" and data.train[0][0].shape == (1, 8, 8)
    load_data(f"toy:{tmp_path}", 8)
    assert seen == [(None, 8, 1), (tmp_path, 8, 3)]
    with pytest.raises(UsageError, match="empty path"):
        parse_data_spec("toy:")
    with pytest.raises(ValueError, match="already registered"):
        register_data_source("toy")(toy)


def test_registration_rejects_bad_names_and_policies():
    with pytest.raises(ValueError, match="':'"):
        register_data_source("a:b")
    with pytest.raises(ValueError, match="root"):
        register_data_source("x", root="sometimes")


def test_rgb_sources_refuse_other_channel_counts(tmp_path):
    with pytest.raises(UsageError, match="RGB"):
        load_data(f"imagenet:{tmp_path}", 32, in_chans=1)


def test_digits_follow_the_channel_count():
    data = load_data("digits", 16, in_chans=1)
    assert data.train[0][0].shape == data.test[0][0].shape == (1, 16, 16)


def test_training_set_without_augmentation_gets_the_evaluation_transform():
    splits = load_data("digits", 32, seed=0)
    plain = splits.training_set(augment=False)
    assert len(plain) == len(splits.train) and splits.training_set() is splits.train
    torch.manual_seed(0)
    augmented = [splits.train[i][0] for i in range(20)]
    for i in range(20):
        image, target = plain[i]
        assert target == splits.train[i][1]
        assert torch.equal(image, plain[i][0])                       # deterministic
        base_image, _ = splits.train.base[int(splits.train.indices[i])]
        assert torch.equal(image, splits.test.transform(base_image))
    assert any(not torch.equal(a, plain[i][0]) for i, a in enumerate(augmented))   # the source augments
