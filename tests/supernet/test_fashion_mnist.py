"""Fashion-MNIST: the lookup of its four IDX files, its one-line errors, its splits and shapes.

Small copies written by the tests stand in for the data; one test loads the real files of the Debian
package ``dataset-fashion-mnist`` (skipped where it is not installed).
"""
import logging

import numpy as np
import pytest
import torch

from hardcore_nas.errors import UsageError
from supernet.data import fashion_mnist as fm
from supernet.data import load_data, make_loader, parse_data_spec
from supernet.data.idx import write_idx
from supernet.space import get_space

TINY = get_space("tiny")
REAL = fm.SYSTEM_DIRS[0]


def _write_set(folder, n_train=50, n_test=20, gz=True, seed=0, train_labels=None):
    """A Fashion-MNIST-shaped copy: 28x28 uint8 images, labels cycling through the 10 classes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    labels = np.arange(n_train) % 10 if train_labels is None else train_labels
    write_idx(folder / f"{fm.FILES['train_images']}{suffix}", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / f"{fm.FILES['train_labels']}{suffix}", np.asarray(labels, dtype=np.uint8))
    write_idx(folder / f"{fm.FILES['test_images']}", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / f"{fm.FILES['test_labels']}", (np.arange(n_test) % 10).astype(np.uint8))
    return folder


@pytest.fixture
def system_dir(tmp_path, monkeypatch):
    """An empty stand-in for /usr/share/datasets/fashion-mnist."""
    folder = tmp_path / "system"
    monkeypatch.setattr(fm, "SYSTEM_DIRS", (folder,))
    return folder


def test_spec_takes_an_optional_root():
    assert parse_data_spec("fashion-mnist") == ("fashion-mnist", None)
    assert str(parse_data_spec("fashion-mnist:/data/fm")[1]) == "/data/fm"


@pytest.mark.parametrize("in_chans", [3, 1])
def test_small_copy_splits_and_shapes(tmp_path, system_dir, in_chans):
    root = _write_set(tmp_path / "fm")
    data = load_data(f"fashion-mnist:{root}", TINY.input_size, in_chans=in_chans)
    assert data.name == "fashion-mnist" and data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 20)
    assert sorted(data.val.base.targets[data.val.indices]) == list(range(10))
    size = TINY.input_size
    for split in (data.train, data.val, data.test):
        image, label = split[0]
        assert image.shape == (in_chans, size, size) and image.dtype == torch.float32 and 0 <= label < 10
    assert torch.equal(data.val[0][0], data.val[0][0])


def test_lookup_prefers_root_then_the_system_folder(tmp_path, system_dir, caplog):
    _write_set(system_dir, n_train=30, gz=False)
    assert len(load_data("fashion-mnist", 16).test) == 20
    assert fm.find_files()["train_images"].parent == system_dir
    root = _write_set(tmp_path / "mine", n_train=60)
    data = load_data(f"fashion-mnist:{root}", 16)
    assert len(data.train) + len(data.val) == 60
    # A ROOT without the files falls back to the system copy, with a warning; a partial ROOT is never mixed in.
    partial = tmp_path / "partial"
    partial.mkdir()
    (root / f"{fm.FILES['train_images']}.gz").rename(partial / f"{fm.FILES['train_images']}.gz")
    with caplog.at_level(logging.WARNING, logger=fm.__name__):
        files = fm.find_files(partial)
    assert {p.parent for p in files.values()} == {system_dir} and "partial" in caplog.text


def test_plain_file_wins_over_gz(tmp_path, system_dir):
    root = _write_set(tmp_path / "fm", gz=True)
    write_idx(root / fm.FILES["train_labels"], (np.arange(50) % 10).astype(np.uint8))
    assert fm.find_files(root)["train_labels"].name == fm.FILES["train_labels"]


def test_missing_files_say_how_to_get_them(tmp_path, system_dir):
    root = tmp_path / "fm"
    root.mkdir()
    write_idx(root / fm.FILES["train_images"], np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(UsageError) as info:
        load_data(f"fashion-mnist:{root}", 32)
    message = str(info.value)
    assert "\n" not in message
    assert "apt-get install dataset-fashion-mnist" in message and "fashion-mnist:ROOT" in message
    assert f"{root} lacks train-labels-idx1-ubyte[.gz]" in message and "t10k-images" in message
    assert f"{system_dir} does not exist" in message
    with pytest.raises(UsageError, match="does not exist"):
        load_data(f"fashion-mnist:{tmp_path}/nowhere", 32)


@pytest.mark.parametrize("break_it, needle", [
    (lambda root: write_idx(root / f"{fm.FILES['train_labels']}.gz", np.zeros(49, np.uint8)), "49 labels"),
    (lambda root: write_idx(root / fm.FILES["test_labels"], np.full(20, 10, np.uint8)), "label 10"),
    (lambda root: write_idx(root / fm.FILES["test_images"], np.zeros((20, 28, 28), np.float32)), "uint8 images"),
    (lambda root: (root / fm.FILES["test_images"]).write_bytes(b"\x08\x03" + bytes(30)), "not an IDX file"),
])
def test_bad_copies_fail_in_one_line_naming_the_file(tmp_path, system_dir, break_it, needle):
    root = _write_set(tmp_path / "fm")
    break_it(root)
    with pytest.raises(UsageError, match=needle) as info:
        load_data(f"fashion-mnist:{root}", 32)
    assert "\n" not in str(info.value) and str(root) in str(info.value)


@pytest.mark.skipif(not all(fm._find(REAL, name) for name in fm.FILES.values()),
                    reason=f"the Debian package dataset-fashion-mnist is not installed ({REAL} lacks the IDX files)")
def test_real_files_from_the_debian_package():
    data = load_data("fashion-mnist", TINY.input_size)
    assert data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (48_000, 12_000, 10_000)
    assert np.bincount(data.val.base.targets[data.val.indices]).tolist() == [1200] * 10
    assert np.bincount(data.test.base.targets).tolist() == [1000] * 10
    images, labels = next(iter(make_loader(data.train, 64, train=True)))
    assert images.shape == (64, TINY.in_chans, TINY.input_size, TINY.input_size) and labels.shape == (64,)
    assert abs(images.mean().item()) < 0.3 and 0.7 < images.std().item() < 1.3
