"""Hostile files: every file a user can hand the tool is refused in one line, never with a traceback.

Each kind (run config, latency table, weights and sidecar, run state, cache) gets NaN, infinities, negative
and absurd numbers (1e308, 10**400), wrong types, empty, truncated and non-UTF-8 files, YAML python tags
and symlinks out of the tool's own folders; the real loader must raise :class:`UsageError` naming the
problem, and the real command line must exit 2 with one ``hardcore-nas CMD: error: ...`` line.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from hardcore_nas import UsageError, content_hash
from orchestrator.cache import StageCache
from orchestrator.cli import main
from orchestrator.config import default_config, load_config
from orchestrator.pipeline import Member
from orchestrator.state import RunState
from supernet import get_space
from supernet.checkpoints import load_supernet, save_checkpoint, stage_file
from supernet.elastic import ElasticSupernet
from tests.faults.report import record_fault
from workers.latency_table import LatencyTable

SPACE = get_space("tiny")
TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "lut_tiny_cpu-bs1.json"
HUGE = 10**400                       # an int no float, numpy or torch integer holds
DIGITS = "7" * 5000                  # more digits than Python converts to an int


def _record(how: str) -> None:
    record_fault("hostile file (config, table, weights, state, cache)",
                 "NaN, infinities, 1e308, 10**400, wrong types, empty, truncated, non-UTF-8, python tags, deep "
                 "nesting, symlinks out of the tool's folders", survived=how, extra_s=None, lost="nothing")


def _refused(fn, match: str) -> str:
    with pytest.raises(UsageError, match=re.escape(match)) as info:
        fn()
    assert "\n" not in str(info.value)
    _record("refused by the loader with a one-line UsageError naming the file and key")
    return str(info.value)


def _cli_refuses(capsys, argv: list[str], match: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"hardcore-nas {argv[0]}: error:"), err
    assert match in err[0] and "Traceback" not in err[0]
    _record("through the CLI: exit code 2, one `hardcore-nas CMD: error:` line, no traceback")


def _outside(tmp_path: Path) -> Path:
    """A file outside every folder the tool owns (the target of the hostile links)."""
    target = tmp_path / "elsewhere" / "secret.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text("{}")
    return target


# Raw bytes that no JSON or YAML loader may turn into a traceback.
BROKEN_FILES = {
    "empty": (b"", "empty"),
    "not UTF-8": (b"\xff\xfe\x00{", "not UTF-8"),
    "not JSON": (b"this is not json", "not JSON"),
    "truncated": (b'{"format": "hardcore-nas/latency-table", "entr', "not JSON"),
    "NaN constant": (b'{"a": NaN}', "holds NaN"),
    "Infinity constant": (b'{"a": -Infinity}', "holds -Infinity"),
    "5000-digit integer": (f'{{"a": {DIGITS}}}'.encode(), "not JSON this reader takes"),
    "nested 100000 deep": (b"[" * 100_000, "nested too deeply"),
}


# --- latency tables ---------------------------------------------------------------------------------
def _table_file(tmp_path: Path, change=None, rehash: bool = True) -> Path:
    """The bundled tiny table, changed by ``change(data)``, with its content hash made to match again (a
    hostile file can do that too, so the checks behind the hash must hold on their own)."""
    data = json.loads(TABLE.read_text())
    if change is not None:
        change(data)
    if rehash and isinstance(data, dict):
        data["content_hash"] = content_hash({k: v for k, v in data.items() if k != "content_hash"}, length=None)
    path = tmp_path / "table.json"
    path.write_text(json.dumps(data))
    return path


def _first_entry(data: dict) -> dict:
    return next(iter(data["entries"].values()))


def _set(key, value):
    return lambda data: data.__setitem__(key, value)


TABLE_CASES = {
    "median negative": (lambda d: _first_entry(d).__setitem__("median", -0.5), "finite, non-negative"),
    "median 1e308": (lambda d: _first_entry(d).__setitem__("median", 1e308), "finite, non-negative"),
    "median 10**400": (lambda d: _first_entry(d).__setitem__("median", HUGE), "finite, non-negative"),
    "median a string": (lambda d: _first_entry(d).__setitem__("median", "fast"), "finite, non-negative"),
    "median null": (lambda d: _first_entry(d).__setitem__("median", None), "finite, non-negative"),
    "count a bool": (lambda d: _first_entry(d).__setitem__("count", True), "count True"),
    "count 10**400": (lambda d: _first_entry(d).__setitem__("count", HUGE), "positive integer"),
    "entry a list": (lambda d: d["entries"].__setitem__(next(iter(d["entries"])), [1, 2]), "must be an object"),
    "constant negative": (lambda d: d["constant"].__setitem__("spread", -1), "'constant' has spread"),
    "entries a list": (_set("entries", [1, 2]), "has no entries"),
    "num_classes a string": (_set("num_classes", "10"), "'num_classes' must be a positive integer"),
    "num_classes a bool": (_set("num_classes", True), "'num_classes' must be a positive integer"),
    "seconds null": (_set("seconds", None), "'seconds' must be a non-negative number"),
    "seconds 10**400": (_set("seconds", HUGE), "'seconds' must be a non-negative number"),
    "space a list": (_set("space", ["tiny"]), "'space' must give"),
    "space name a list": (lambda d: d["space"].__setitem__("name", ["tiny"]), "'space' must give"),
    "device a string": (_set("device", "cpu"), "'device' must hold"),
    "device name a number": (lambda d: d["device"]["profile"].__setitem__("name", 5), "device name 5"),
    "protocol a list": (_set("protocol", [1]), "'protocol' must be an object"),
    "protocol repeats 10**400": (lambda d: d["protocol"].__setitem__("repeats", HUGE), "option 'repeats'"),
    "protocol quantile a string": (lambda d: d["protocol"].__setitem__("run_quantile", "low"),
                                   "option 'run_quantile'"),
    "statistic a number": (_set("statistic", 3), "'statistic' must be a string"),
    "an empty object": (lambda d: d.clear(), "not a hardcore-nas latency table"),
}


@pytest.mark.parametrize("case", TABLE_CASES)
def test_table_values(tmp_path, case):
    change, match = TABLE_CASES[case]
    path = _table_file(tmp_path, change)
    _refused(lambda: LatencyTable.load(path), match)


@pytest.mark.parametrize("text", ["[1, 2, 3]", "3", "null", '"table"', "true"])
def test_table_that_is_not_an_object(tmp_path, text):
    path = tmp_path / "table.json"
    path.write_text(text)
    _refused(lambda: LatencyTable.load(path), "not a hardcore-nas latency table")


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_table_broken_file(tmp_path, case):
    content, match = BROKEN_FILES[case]
    path = tmp_path / "table.json"
    path.write_bytes(content)
    message = _refused(lambda: LatencyTable.load(path), match)
    assert str(path) in message


def test_table_nan_entry_in_the_file(tmp_path):
    path = _table_file(tmp_path, lambda d: _first_entry(d).__setitem__("median", "BAD"))
    path.write_text(path.read_text().replace('"BAD"', "NaN"))
    _refused(lambda: LatencyTable.load(path), "holds NaN")


def test_table_through_the_cli(tmp_path, capsys):
    path = _table_file(tmp_path, lambda d: _first_entry(d).__setitem__("median", HUGE))
    _cli_refuses(capsys, ["validate-lut", "--lut", str(path), "--out", str(tmp_path / "v")], "finite, non-negative")
    path.write_bytes(b"\xff\xfe")
    _cli_refuses(capsys, ["validate-lut", "--lut", str(path), "--out", str(tmp_path / "v")], "not UTF-8")


# --- run configs ------------------------------------------------------------------------------------
def _nested(dotted: str, value) -> dict:
    doc: dict = value
    for part in reversed(dotted.split(".")):
        doc = {part: doc}
    return doc


CONFIG_CASES = {   # dotted key: (value, what the message names)
    "training.heaviest.epochs": [(HUGE, None), (0, None), (True, None), ("3", None), (2.5, None)],
    "training.heaviest.lr": [(float("nan"), None), (float("inf"), None), (-0.1, None), ("fast", None),
                             (None, None)],
    "training.supernet.ema_decay": [(1e308, None), (1.0, None)],
    "training.supernet.batch_size": [(HUGE, None), ([64], None)],
    "training.finetune.augment": [("yes", None)],
    "training.finetune.feature_kd_divisor": [(0, None)],
    "training.seed": [(-1, None), (HUGE, None)],
    "training.max_failures": [(float("nan"), None)],
    "search.steps": [(HUGE, None), (float("inf"), None), (-5, None), ("many", None), (None, None)],
    "search.batch_size": [(1e308, None), (0, None)],
    "search.gamma": [(float("nan"), None), (1e308, None)],
    "search.seed": [(HUGE, None)],
    "search.gradient_workers": [(HUGE, None), (False, None)],
    "search.bn_images": [(-1, None)],
    "targets.cpu-bs1": [([float("nan")], None), ([HUGE], None), ([-1.0], None), ({"auto": HUGE}, None),
                        ("fast", None), (None, None)],
    "constraints.max_params": [(float("inf"), None), (-5, None), ("big", None), (HUGE, None)],
    "space.width_multiplier": [(1e308, None), (float("nan"), None), (HUGE, None), (-1, None)],
    "latency.protocol.repeats": [(HUGE, None), (0, None)],
    "latency.protocol.run_quantile": [("abc", None), (float("nan"), None), (1e308, None)],
    "latency.noise": [(float("nan"), None), (1e308, None)],
    "latency.retries": [(-1, None), (HUGE, None), (1.5, None), ("twice", None)],
    "resources.supernet.cpus": [(HUGE, None), (float("nan"), None)],
    "ray.num_cpus": [(True, None), (HUGE, None)],
    "devices": [([{"name": 5}], "devices[0]"), ([{"name": "x", "batch_size": HUGE}], "devices[0]"),
                ([{"name": "x", "threads": True}], "devices[0]"), ([["cpu-bs1"]], "devices[0]")],
    "name": [([1, 2], None), (None, None)],
    "search": [([1, 2], None), ("bcsfw", None)],
    "training": [(3, None)],
}
CONFIG_PARAMS = [pytest.param(key, value, match or key, id=f"{key}={str(value)[:20]}")
                 for key, values in CONFIG_CASES.items() for value, match in values]


@pytest.mark.parametrize("key, value, match", CONFIG_PARAMS)
def test_config_values(tmp_path, key, value, match):
    doc = _nested(key, value)
    if key.startswith("targets"):
        doc["targets"]["ort-bs1"] = {"auto": 2}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    message = _refused(lambda: load_config(path), f"config key '{match}")
    assert message.startswith(f"config file {path}: ")


@pytest.mark.parametrize("text, match", [
    ('!!python/object/apply:os.system ["echo pwned"]\n', "could not determine a constructor"),
    ('name: !!python/object/apply:os.system ["echo pwned"]\n', "could not determine a constructor"),
    ("!!python/name:os.system\n", "could not determine a constructor"),
    ("42\n", "a config is a mapping of sections"),
    ("[1, 2]\n", "a config is a mapping of sections"),
    ("just words\n", "a config is a mapping of sections"),
    ("search: {steps: 3\n", "not valid YAML"),
    ("search:\n  steps: 3\n   seed: 1\n", "not valid YAML at line 3"),
    (f"search:\n  seed: {DIGITS}\n", "not valid YAML: Exceeds the limit"),
    ("a: " + "[" * 100_000, "not valid YAML"),
    ("unknown_section: 1\n", "unknown key 'unknown_section'"),
])
def test_config_text(tmp_path, capfd, text, match):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    message = _refused(lambda: load_config(path), match)
    assert str(path) in message
    assert "pwned" not in capfd.readouterr().out        # the tag was never run


def test_config_not_utf8(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    _refused(lambda: load_config(path), "not UTF-8 text")


def test_an_empty_config_is_the_default(tmp_path):
    """An empty YAML document is an empty mapping: every key keeps its default (the documented meaning)."""
    path = tmp_path / "config.yaml"
    path.write_text("")
    assert load_config(path) == default_config()


def test_config_through_the_cli(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text('!!python/object/apply:os.system ["echo pwned"]\n')
    _cli_refuses(capsys, ["run", "--config", str(path), "--print-config"], "not valid YAML")
    path.write_text(yaml.safe_dump({"training": {"heaviest": {"epochs": HUGE}}}))
    _cli_refuses(capsys, ["run", "--config", str(path), "--print-config"], "training.heaviest.epochs")


# --- weights ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def supernet_folder(tmp_path_factory) -> Path:
    """A supernet folder as ``train-supernet`` writes it (untrained weights of the tiny space)."""
    folder = tmp_path_factory.mktemp("supernet")
    torch.manual_seed(0)
    save_checkpoint(folder / "supernet.safetensors", ElasticSupernet(SPACE, 10), kind="supernet", space=SPACE,
                    num_classes=10, extra={"data": "digits", "seed": 0})
    return folder


@pytest.fixture
def folder(supernet_folder, tmp_path) -> Path:
    copy = tmp_path / "supernet"
    shutil.copytree(supernet_folder, copy)
    return copy


def _weights(folder: Path) -> Path:
    return folder / "supernet.safetensors"


def _rewrite_tensors(folder: Path, change) -> None:
    state = load_file(str(_weights(folder)))
    change(state)
    save_file(state, str(_weights(folder)))


def _rewrite_sidecar(folder: Path, change) -> None:
    path = folder / "supernet.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def _first_float(state: dict) -> str:
    return next(k for k, t in state.items() if t.is_floating_point() and t.numel() > 1)


WEIGHT_CASES = {
    "truncated": (lambda f: _weights(f).write_bytes(_weights(f).read_bytes()[:1000]), "not a readable safetensors"),
    "empty": (lambda f: _weights(f).write_bytes(b""), "not a readable safetensors"),
    "wrong header": (lambda f: _weights(f).write_bytes(b"\xff" * 8 + _weights(f).read_bytes()[8:]),
                     "not a readable safetensors"),
    "a JSON file": (lambda f: _weights(f).write_text('{"weights": [1, 2]}'), "not a readable safetensors"),
    "NaN weights": (lambda f: _rewrite_tensors(f, lambda s: s[_first_float(s)].view(-1).__setitem__(0, float("nan"))),
                    "NaN or infinite weights"),
    "inf weights": (lambda f: _rewrite_tensors(f, lambda s: s[_first_float(s)].view(-1).__setitem__(-1, float("inf"))),
                    "NaN or infinite weights"),
    "shape mismatch": (lambda f: _rewrite_tensors(f, lambda s: s.__setitem__(_first_float(s), torch.zeros(3, 5))),
                       "does not fit its declared model"),
    "a tensor missing": (lambda f: _rewrite_tensors(f, lambda s: s.pop(_first_float(s))),
                         "does not fit its declared model"),
    "an extra tensor": (lambda f: _rewrite_tensors(f, lambda s: s.__setitem__("evil", torch.zeros(2))),
                        "does not fit its declared model"),
    "sidecar num_classes a string": (lambda f: _rewrite_sidecar(f, lambda m: m.__setitem__("num_classes", "10")),
                                     "'num_classes' must be an integer"),
    "sidecar num_classes 10**400": (lambda f: _rewrite_sidecar(f, lambda m: m.__setitem__("num_classes", HUGE)),
                                    "'num_classes' must be an integer"),
    "sidecar num_classes 1e9": (lambda f: _rewrite_sidecar(f, lambda m: m.__setitem__("num_classes", 10**9)),
                                "<= 1000000"),
    "sidecar num_classes 0": (lambda f: _rewrite_sidecar(f, lambda m: m.__setitem__("num_classes", 0)),
                              "'num_classes' must be an integer >= 1"),
    "sidecar kind a list": (lambda f: _rewrite_sidecar(f, lambda m: m.__setitem__("kind", ["supernet"])),
                            "'kind' must be a str"),
    "sidecar space_hash null": (lambda f: _rewrite_sidecar(f, lambda m: m.__setitem__("space_hash", None)),
                                "'space_hash' must be a str"),
    "sidecar metrics a list": (lambda f: _rewrite_sidecar(f, lambda m: m.__setitem__("metrics", [1])),
                               "'metrics' must be a dict"),
    "sidecar seed negative": (lambda f: _rewrite_sidecar(f, lambda m: m.__setitem__("seed", -1)), "'seed'"),
    "sidecar a list": (lambda f: (f / "supernet.json").write_text("[1, 2]"), "must be a JSON object"),
    "sidecar not JSON": (lambda f: (f / "supernet.json").write_text("{'kind': 'supernet'"), "not JSON"),
    "sidecar not UTF-8": (lambda f: (f / "supernet.json").write_bytes(b"\xc3\x28"), "not UTF-8"),
    "sidecar NaN": (lambda f: (f / "supernet.json").write_text('{"num_classes": NaN}'), "holds NaN"),
    "sidecar empty": (lambda f: (f / "supernet.json").write_text(""), "is empty"),
}


@pytest.mark.parametrize("case", WEIGHT_CASES)
def test_weights(folder, case):
    change, match = WEIGHT_CASES[case]
    change(folder)
    _refused(lambda: load_supernet(stage_file(folder, "supernet"), SPACE), match)


@pytest.mark.parametrize("name", ["supernet.safetensors", "supernet.json"])
def test_weights_symlinked_out_of_the_folder(folder, tmp_path, name):
    target = tmp_path / "elsewhere" / name
    target.parent.mkdir()
    shutil.move(folder / name, target)
    (folder / name).symlink_to(target)
    _refused(lambda: stage_file(folder, "supernet"), "outside")


def test_weights_symlinked_inside_the_folder_are_fine(folder):
    """The rule is about leaving the folder, not about links: one inside it is read as usual."""
    shutil.move(folder / "supernet.safetensors", folder / "w.safetensors")
    (folder / "supernet.safetensors").symlink_to("w.safetensors")
    net, meta = load_supernet(stage_file(folder, "supernet"), SPACE)
    assert meta["num_classes"] == 10


def test_weights_through_the_cli(folder, tmp_path, capsys):
    argv = ["search", "--supernet", str(folder), "--lut", str(TABLE), "--target-ms", "5"]
    _rewrite_sidecar(folder, lambda m: m.__setitem__("num_classes", HUGE))
    _cli_refuses(capsys, argv, "'num_classes' must be an integer")
    target = tmp_path / "elsewhere.safetensors"
    shutil.move(_weights(folder), target)
    _weights(folder).symlink_to(target)
    _cli_refuses(capsys, argv, "outside")


# --- run state --------------------------------------------------------------------------------------
def _state() -> dict:
    member = {**vars(Member("cpu-bs1", 2.0, "cpu-bs1@2ms", arch="[['ds_r1_k3_s1_e1_c16']]")),
              "predicted_ms": 1.9}
    return {"config_hash": "abc123", "parent_run_id": "r1", "members": {"cpu-bs1@2ms": member},
            "finetunes": {member["arch"]: {"top1": 91.0, "run_id": "r2", "model_uri": "runs:/r2/model",
                                           "onnx_model_uri": "runs:/r2/onnx"}}}


def _member(change):
    return lambda s: change(next(iter(s["members"].values())))


def _finetune(change):
    return lambda s: change(next(iter(s["finetunes"].values())))


STATE_CASES = {
    "config_hash a number": (lambda s: s.__setitem__("config_hash", 5), "'config_hash' must be a string"),
    "config_hash missing": (lambda s: s.pop("config_hash"), "lacks 'config_hash'"),
    "an unknown key": (lambda s: s.__setitem__("__class__", "x"), "unknown key '__class__'"),
    "members a list": (lambda s: s.__setitem__("members", [1]), "'members' must be an object"),
    "a member a string": (lambda s: s["members"].__setitem__("k", "x"), "'members' must be an object of object values"),
    "member predicted_ms a string": (_member(lambda m: m.__setitem__("predicted_ms", "fast")), "'predicted_ms'"),
    "member measured_ms 1e400": (_member(lambda m: m.__setitem__("measured_ms", float("inf"))), "'measured_ms'"),
    "member version 10**400": (_member(lambda m: m.__setitem__("registered_version", HUGE)), "'registered_version'"),
    "member version a bool": (_member(lambda m: m.__setitem__("registered_version", True)), "'registered_version'"),
    "member over_target a string": (_member(lambda m: m.__setitem__("over_target", "no")), "'over_target'"),
    "member resources a list": (_member(lambda m: m.__setitem__("resources", [1])), "'resources'"),
    "member resources a string value": (_member(lambda m: m.__setitem__("resources", {"params": "1M"})),
                                        "'resources'"),
    "member an unknown key": (_member(lambda m: m.__setitem__("__dict__", {})), "unknown key '__dict__'"),
    "member arch null": (_member(lambda m: m.__setitem__("arch", None)), "'arch' must be a string"),
    "finetune top1 NaN": (_finetune(lambda f: f.__setitem__("top1", float("nan"))), "'top1'"),
    "finetune run_id missing": (_finetune(lambda f: f.pop("run_id")), "lacks 'run_id'"),
    "finetune a list": (lambda s: s["finetunes"].__setitem__("a", [1]),
                        "'finetunes' must be an object of object values"),
    "an empty object": (lambda s: s.clear(), "lacks 'config_hash'"),
}


def _state_file(folder: Path, change=None) -> Path:
    state = _state()
    if change is not None:
        change(state)
    folder.mkdir(exist_ok=True)
    path = folder / "state.json"
    path.write_text(json.dumps(state))
    return path


def test_a_good_state_loads(tmp_path):
    """The control: the record the tests break loads, NaN fields (not known yet) included."""
    state = RunState.load(_state_file(tmp_path / "out"), Member)
    assert state.members["cpu-bs1@2ms"]["predicted_ms"] == 1.9


@pytest.mark.parametrize("case", STATE_CASES)
def test_state_values(tmp_path, case):
    change, match = STATE_CASES[case]
    path = _state_file(tmp_path / "out", change)
    _refused(lambda: RunState.load(path, Member), match)


@pytest.mark.parametrize("text", ["[1, 2]", "3", "null"])
def test_state_that_is_not_an_object(tmp_path, text):
    path = tmp_path / "state.json"
    path.write_text(text)
    _refused(lambda: RunState.load(path, Member), "must be an object")


@pytest.mark.parametrize("case", [c for c in BROKEN_FILES if "constant" not in c])
def test_state_broken_file(tmp_path, case):
    content, match = BROKEN_FILES[case]
    path = tmp_path / "state.json"
    path.write_bytes(content)
    _refused(lambda: RunState.load(path, Member), match)


def test_state_symlinked_out_of_the_run_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = _outside(tmp_path)
    target.write_text(json.dumps(_state()))        # a valid state: the link alone is the problem
    (out / "state.json").symlink_to(target)
    _refused(lambda: RunState.load(out / "state.json", Member), "outside")


def test_state_save_does_not_write_through_a_link(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = _outside(tmp_path)
    (out / "state.tmp").symlink_to(target)
    RunState("abc").save(out / "state.json")
    assert target.read_text() == "{}" and not (out / "state.json").is_symlink()


def test_state_through_the_cli(tmp_path, capsys):
    out = tmp_path / "out"
    _state_file(out, _member(lambda m: m.__setitem__("registered_version", HUGE)))
    _cli_refuses(capsys, ["run", "--out", str(out), "--resume"], "'registered_version'")
    (out / "state.json").unlink()
    (out / "state.json").symlink_to(_outside(tmp_path))
    _cli_refuses(capsys, ["run", "--out", str(out), "--resume"], "outside")


# --- the cache --------------------------------------------------------------------------------------
def _entry(tmp_path: Path):
    entry = StageCache(tmp_path / "cache").entry("tables", {"space": "tiny"}, "cpu-bs1")
    entry.path.mkdir(parents=True)
    return entry


def _get(entry):
    return entry.get_or_compute(lambda folder: "loaded", lambda folder: "computed")


@pytest.mark.parametrize("name", ["table.json", "manifest.json", "manifest.json.tmp", "sub/table.json"])
def test_cache_file_symlinked_out_of_the_cache(tmp_path, name):
    entry = _entry(tmp_path)
    (entry.path / name).parent.mkdir(exist_ok=True)
    (entry.path / name).symlink_to(_outside(tmp_path))
    _refused(lambda: _get(entry), "outside")
    assert (tmp_path / "elsewhere" / "secret.json").read_text() == "{}"      # never written through


def test_cache_folder_symlinked_out_of_the_cache(tmp_path):
    entry = _entry(tmp_path)
    entry.path.rmdir()
    (tmp_path / "elsewhere").mkdir()
    entry.path.symlink_to(tmp_path / "elsewhere")
    _refused(lambda: _get(entry), "cache folder")


def test_cache_dangling_link_out_of_the_cache(tmp_path):
    entry = _entry(tmp_path)
    (entry.path / "table.json").symlink_to(tmp_path / "nowhere.json")
    _refused(lambda: _get(entry), "outside")


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_cache_broken_manifest_is_computed_again(tmp_path, caplog, case):
    """A damaged manifest is the cache's own business: one warning, then the entry is computed again."""
    entry = _entry(tmp_path)
    (entry.path / "manifest.json").write_bytes(BROKEN_FILES[case][0])
    assert _get(entry).value == "computed"
    assert "computing it again" in caplog.text


def test_a_link_inside_the_cache_is_fine(tmp_path):
    entry = _entry(tmp_path)
    (entry.path / "real.json").write_text("{}")
    (entry.path / "table.json").symlink_to("real.json")
    entry.complete(run_id="r")
    assert _get(entry).value == "loaded"
