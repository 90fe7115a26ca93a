"""Data sets: the per-class split, the digits default, CIFAR / ImageFolder layouts on disk, missing paths."""
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from hardcore_nas.errors import UsageError
from supernet.data import load_data, make_loader, parse_data_spec, per_class_split


def test_per_class_split_is_per_class_disjoint_and_deterministic():
    targets = np.repeat(np.arange(4), [10, 25, 7, 40])
    train, val = per_class_split(targets, 0.2, seed=3)
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.union1d(train, val), np.arange(len(targets)))
    for c, n in enumerate([10, 25, 7, 40]):
        assert (targets[val] == c).sum() == round(0.2 * n)
    again = per_class_split(targets, 0.2, seed=3)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], val)
    assert not np.array_equal(per_class_split(targets, 0.2, seed=4)[1], val)


def test_per_class_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="val_fraction"):
        per_class_split([0, 1], 1.0)


def test_digits_default_splits():
    data = load_data("digits", 32)
    assert data.num_classes == 10
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert len(data.val) == pytest.approx(0.2 * (len(data.train) + len(data.val)), abs=10)
    image, label = data.train[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and 0 <= label < 10
    assert data.val[0][0].shape == data.test[0][0].shape == (3, 32, 32)
    assert set(data.val.base.targets[data.val.indices]) == set(range(10))
    assert np.intersect1d(data.train.indices, data.val.indices).size == 0
    # The held-out test split does not move with the train/val seed; the val split does.
    other = load_data("digits", 32, seed=1)
    assert torch.equal(other.test.base.images, data.test.base.images)
    assert not np.array_equal(other.val.indices, data.val.indices)


def test_digits_eval_transform_is_deterministic_and_train_augments():
    data = load_data("digits", 32)
    assert torch.equal(data.val[0][0], data.val[0][0])
    torch.manual_seed(0)
    views = torch.stack([data.train[5][0] for _ in range(8)])
    assert (views - views[0]).abs().amax() > 0


def test_make_loader_drops_the_partial_training_batch():
    data = load_data("digits", 16)
    train = make_loader(data.train, 100, train=True)
    assert all(len(y) == 100 for _, y in train)
    assert sum(len(y) for _, y in make_loader(data.test, 100, train=False)) == len(data.test)


@pytest.mark.parametrize("spec, needle", [("cifar10:{tmp}/nowhere", "nowhere"),
                                          ("imagenet:{tmp}/nowhere", "nowhere"),
                                          ("cifar100:{tmp}", "cifar-100-python"),
                                          ("imagenet:{tmp}", "train")])
def test_missing_data_paths_name_the_path(tmp_path, spec, needle):
    with pytest.raises(UsageError, match=needle) as info:
        load_data(spec.format(tmp=tmp_path), 32)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec", ["mnist", "cifar10", "digits:/tmp", "imagenet:"])
def test_bad_data_specs(spec):
    with pytest.raises(UsageError):
        parse_data_spec(spec)


def _write_cifar(root, kind: str, per_file: int, num_classes: int):
    """The python pickled-batch layout torchvision reads, with random images."""
    rng = np.random.default_rng(0)
    if kind == "cifar10":
        folder, files = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        label_key, meta_name, meta = "labels", "batches.meta", {"label_names": [f"c{i}" for i in range(10)]}
    else:
        folder, files = root / "cifar-100-python", ["train", "test"]
        label_key, meta_name, meta = "fine_labels", "meta", {"fine_label_names": [f"c{i}" for i in range(100)]}
    folder.mkdir(parents=True)
    for name in files:
        batch = {"data": rng.integers(0, 256, (per_file, 3072), dtype=np.uint8),
                 label_key: [i % num_classes for i in range(per_file)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / meta_name).write_bytes(pickle.dumps(meta))
    return files


@pytest.mark.parametrize("kind, num_classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_layout(tmp_path, kind, num_classes):
    files = _write_cifar(tmp_path, kind, per_file=num_classes * 5, num_classes=num_classes)
    data = load_data(f"{kind}:{tmp_path}", 32)
    n_train = (len(files) - 1) * num_classes * 5
    assert data.num_classes == num_classes
    assert len(data.train) + len(data.val) == n_train and len(data.test) == num_classes * 5
    assert len(data.val) == round(0.2 * n_train / num_classes) * num_classes
    image, label = data.train[0]
    assert image.shape == (3, 32, 32) and 0 <= label < num_classes
    assert data.test[0][0].shape == (3, 32, 32)


def test_image_folder_layout(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 5), ("val", 2)):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    data = load_data(f"imagenet:{tmp_path}", 32)
    assert data.num_classes == 2
    assert (len(data.train), len(data.val), len(data.test)) == (8, 2, 4)
    assert data.train[0][0].shape == data.val[0][0].shape == data.test[3][0].shape == (3, 32, 32)
