"""Run configs: the embedded default equals configs/default.yaml, shipped configs load, bad keys fail in one line."""
from pathlib import Path

import pytest
import yaml

from hardcore_nas.errors import UsageError
from orchestrator.config import RunConfig, TargetSpec, default_config, load_config, parse_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_default_yaml_spells_out_the_embedded_default():
    raw = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    assert raw == default_config().to_dict()
    assert load_config(CONFIGS / "default.yaml") == default_config() == load_config(None)


@pytest.mark.parametrize("name", ["imagenet.yaml", "cifar.yaml"])
def test_shipped_configs_parse_and_round_trip(name):
    raw = yaml.safe_load((CONFIGS / name).read_text())
    raw["ray"] = {**(raw.get("ray") or {}), "address": "auto"}   # their GPU requests target a cluster
    config = parse_config(raw)
    assert parse_config(config.to_dict()) == config


def test_default_run_has_two_cpu_devices_with_auto_targets():
    config = default_config()
    assert config.device_names == ("cpu-bs1", "ort-bs1")
    assert {d.name: (d.backend, d.threads, d.batch_size, d.process) for d in config.devices} == {
        "cpu-bs1": ("torch-cpu", 1, 1, "plain"), "ort-bs1": ("onnxruntime", 1, 1, "plain")}
    assert all(spec.auto >= 1 for spec in config.targets.values())
    assert config.tracking_uri == "sqlite:///mlflow.db" and config.ray_address is None


def test_a_partial_config_keeps_the_other_defaults():
    config = parse_config({"search": {"steps": 50}, "devices": ["cpu-bs1"],
                           "targets": {"cpu-bs1": [3.5, 2.5]}})
    assert config.search.steps == 50 and config.search.options.gamma == default_config().search.options.gamma
    assert config.targets == {"cpu-bs1": TargetSpec(values_ms=(2.5, 3.5))}
    assert config.training_recipe().heaviest.epochs == default_config().training_recipe().heaviest.epochs


def test_each_strategy_takes_its_own_options_from_the_search_section():
    config = parse_config({"search": {"algorithm": "evolution", "population_size": 8, "generations": 2}})
    assert config.search.algorithm == "evolution" and config.search.options.population_size == 8
    assert config.search.steps == 3 and parse_config(config.to_dict()) == config
    assert default_config().search.options.gamma == 0.02          # the one step-size default


def test_another_recipe_starts_from_its_own_settings():
    config = parse_config({"training": {"recipe": "imagenet"}, "ray": {"address": "auto"}})
    assert config.training_recipe().heaviest.epochs == 300


@pytest.mark.parametrize("raw, key", [
    ({"serach": {}}, "serach"),
    ({"search": {"steps": 0}}, "search.steps"),
    ({"search": {"gamma": 2.0}}, "search.gamma"),
    ({"search": {"schedule": "cosine"}}, "search.schedule"),
    ({"search": {"algorithm": "nsga2"}}, "search.algorithm"),
    ({"search": {"algorithm": "evolution", "gamma": 0.1}}, "search.gamma"),
    ({"search": {"algorithm": "evolution", "parent_ratio": 0.0}}, "search.parent_ratio"),
    ({"devices": ["cpu-bs1"], "targets": {"cpu-bs1": {"auto": 0}}}, "targets.cpu-bs1.auto"),
    ({"devices": ["cpu-bs1"], "targets": {"cpu-bs1": [-1.0]}}, "targets.cpu-bs1"),
    ({"devices": ["cpu-bs1"], "targets": {"cpu-bs9": [1.0]}}, "targets.cpu-bs9"),
    ({"devices": ["cpu-bs1", "cpu-bs8"], "targets": {"cpu-bs1": [1.0]}}, "targets.cpu-bs8"),
    ({"devices": ["tpu"]}, "devices[0]"),
    ({"devices": ["cpu-bs1", "cpu-bs1"]}, "distinct device names"),
    ({"space": {"preset": "huge"}}, "space.preset"),
    ({"data": "mnist"}, "data"),
    ({"training": {"heaviest": {"epochs": 0}}}, "training.heaviest"),
    ({"training": {"finetune": {"lrate": 0.1}}}, "training.finetune.lrate"),
    ({"latency": {"protocol": {"repeats": 0}}}, "latency.protocol"),
    ({"constraints": {"max_params": "1M"}}, "constraints.max_params"),
    ({"resources": {"supernet": {"cpus": 64}}}, "resources.supernet.cpus"),
    ({"name": "a b"}, "name"),
])
def test_bad_configs_name_the_key_in_one_line(raw, key):
    with pytest.raises(UsageError) as info:
        parse_config(raw)
    message = str(info.value)
    assert key in message and "\n" not in message


def test_config_files_that_are_not_configs(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("search: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(UsageError, match="mapping"):
        load_config(bad)


def test_to_dict_round_trips_a_custom_device():
    config = parse_config({"devices": [{"name": "xeon-bs1", "threads": 1, "batch_size": 1}],
                           "targets": {"xeon-bs1": {"auto": 3}}})
    assert config.to_dict()["devices"] == [{"name": "xeon-bs1", "backend": "torch-cpu", "threads": 1,
                                            "batch_size": 1, "process": "plain"}]
    assert parse_config(config.to_dict()) == config
    assert isinstance(config, RunConfig)


def test_the_command_line_address_applies_before_the_local_resource_check(tmp_path):
    greedy = tmp_path / "greedy.yaml"
    greedy.write_text("resources:\n  supernet: {cpus: 64}\n")
    with pytest.raises(UsageError, match="resources.supernet.cpus"):
        load_config(greedy)
    config = load_config(greedy, ray_address="auto")
    assert config.ray_address == "auto" and config.resources.supernet.cpus == 64
    assert load_config(None, ray_address="auto").ray_address == "auto"
