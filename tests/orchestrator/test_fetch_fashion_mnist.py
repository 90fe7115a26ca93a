"""The set-up download of Fashion-MNIST, run against local ``file://`` mirrors (tests never download)."""
import gzip

import pytest

from orchestrator import fetch_fashion_mnist as fetch_module
from orchestrator.fetch_fashion_mnist import FetchError, content_sha256, fetch, main
from supernet.data import fashion_mnist as fm

DEBIAN = fm.SYSTEM_DIRS[0]


@pytest.fixture
def small_mirror(tmp_path, monkeypatch):
    """A mirror of four small .gz files, with the checksums patched to theirs."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    digests = {}
    for i, name in enumerate(fetch_module.SHA256):
        content = bytes([0, 0, 8, 1, 0, 0, 0, 1, i])
        (mirror / f"{name}.gz").write_bytes(gzip.compress(content))
        digests[name] = content_sha256(content)
    monkeypatch.setattr(fetch_module, "SHA256", digests)
    return mirror


def test_fetch_checks_content_and_keeps_good_files(tmp_path, small_mirror):
    dest = tmp_path / "dest"
    paths = fetch(dest, (small_mirror.as_uri(),))
    assert [p.name for p in paths] == [f"{name}.gz" for name in fetch_module.SHA256]
    # A second run keeps what is there: it does not need the mirror.
    assert fetch(dest, (f"{tmp_path.as_uri()}/gone",)) == paths


def test_fetch_falls_through_mirrors_and_refuses_wrong_content(tmp_path, small_mirror):
    bad = tmp_path / "bad"
    bad.mkdir()
    for path in small_mirror.iterdir():
        (bad / path.name).write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\x01\xff"))
    assert len(fetch(tmp_path / "a", (bad.as_uri(), small_mirror.as_uri()))) == 4
    with pytest.raises(FetchError, match="does not match") as info:
        fetch(tmp_path / "b", (bad.as_uri(), f"{tmp_path.as_uri()}/gone"))
    assert "\n" not in str(info.value) and "train-images-idx3-ubyte.gz" in str(info.value)
    assert not list((tmp_path / "b").iterdir())
    assert main([str(tmp_path / "c"), "--mirror", bad.as_uri()]) == 1


@pytest.mark.skipif(not all((DEBIAN / f"{n}.gz").is_file() for n in fm.FILES.values()),
                    reason=f"the Debian package dataset-fashion-mnist is not installed ({DEBIAN})")
def test_the_checksums_are_those_of_the_debian_files(tmp_path):
    assert main([str(tmp_path), "--mirror", DEBIAN.as_uri()]) == 0
    assert fm.find_files(tmp_path)["train_images"] == tmp_path / "train-images-idx3-ubyte.gz"
