"""The one content hash: canonical (key order and spacing do not matter), full or truncated, no NaN."""
import hashlib
import math

import pytest

from hardcore_nas import content_hash


def test_key_order_does_not_change_the_hash():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})


def test_lengths_and_the_digest_they_truncate():
    full = content_hash({"x": 1}, length=None)
    assert full == hashlib.sha256(b'{"x":1}').hexdigest()
    assert content_hash({"x": 1}) == full[:16]
    assert content_hash({"x": 1}, length=8) == full[:8]


def test_different_values_differ_and_nan_is_refused():
    assert content_hash({"x": 1}) != content_hash({"x": 2})
    with pytest.raises(ValueError):
        content_hash({"x": math.nan})
