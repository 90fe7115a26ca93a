"""The config's ``data`` key accepts every registered source's spec and refuses others in one line."""
import pytest

from hardcore_nas.errors import UsageError
from orchestrator.config import parse_config
from supernet.data import list_data_sources


@pytest.mark.parametrize("spec", ["digits", "fashion-mnist", "fashion-mnist:/data/fashion-mnist",
                                  "cifar10:/data/cifar10", "imagenet:/data/imagenet"])
def test_registered_specs_are_accepted(spec):
    config = parse_config({"data": spec})
    assert config.data == spec and config.dataset == spec.partition(":")[0]


def test_unknown_data_lists_the_registered_sources():
    with pytest.raises(UsageError) as info:
        parse_config({"data": "kmnist"})
    message = str(info.value)
    assert "\n" not in message and message.startswith("config key 'data'")
    assert all(name in message for name in list_data_sources())
