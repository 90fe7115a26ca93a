"""The IDX reader on small files the tests write: round trips, .gz, and the one-line errors."""
import gzip
import struct

import numpy as np
import pytest

from hardcore_nas.errors import UsageError
from supernet.data.idx import read_idx, write_idx


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, name, dtype):
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.flags.writeable
    assert np.array_equal(out, array)


def test_reads_the_standard_header_bytes(tmp_path):
    raw = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 3) + bytes([7, 8, 9])
    (tmp_path / "labels").write_bytes(raw)
    assert read_idx(tmp_path / "labels").tolist() == [7, 8, 9]
    (tmp_path / "big").write_bytes(bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + struct.pack(">hh", -2, 300))
    assert read_idx(tmp_path / "big").tolist() == [-2, 300]


def _error(path) -> str:
    with pytest.raises(UsageError) as info:
        read_idx(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_bad_files_name_the_file_in_one_line(tmp_path):
    good = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 3) + bytes(6)
    cases = {
        "magic": (b"\x01\x02" + good[2:], "not an IDX file"),
        "dtype": (bytes([0, 0, 0x07, 2]) + good[4:], "type code 0x07"),
        "nodims": (bytes([0, 0, 0x08, 0]), "0 dimensions"),
        "header": (good[:7], "header"),
        "short": (good[:-1], "truncated"),
        "long": (good + b"\0", "too long"),
        "tiny": (b"\0\0", "truncated"),
        "empty": (b"", "truncated"),
    }
    for name, (raw, needle) in cases.items():
        (tmp_path / name).write_bytes(raw)
        assert needle in _error(tmp_path / name), name


def test_truncated_and_corrupt_gzip(tmp_path):
    packed = gzip.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 1000) + bytes(range(250)) * 4)
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    assert "cannot read" in _error(tmp_path / "cut.gz")
    (tmp_path / "bad.gz").write_bytes(packed[:10] + b"\xff" * 20 + packed[30:])
    assert "cannot read" in _error(tmp_path / "bad.gz")
    assert "cannot read" in _error(tmp_path / "absent")
