"""The safetensors reader: strict header checks, and arrays as views of the payload bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load, save

import payloadkit as pk
from payloadkit_safetensors import SafetensorsSerializer
from payloadkit_safetensors._format import read_header


def _file(header: dict[str, Any], data: bytes) -> memoryview:
    raw = json.dumps(header).encode()
    return memoryview((len(raw)).to_bytes(8, "little") + raw + data)


def _entry(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        (
            {"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [1], 4, 8)},
            8,
            "overlap or leave gaps",
        ),
        ({"a": _entry("F32", [1], 4, 8)}, 8, "overlap or leave gaps"),
        ({"a": _entry("F32", [1], 0, 4)}, 8, "cover 4 bytes of the 8"),
        ({"a": _entry("F32", [3], 0, 8)}, 8, "shape and dtype do not match"),
        ({"a": _entry("F32", [-1], 0, 8)}, 8, "malformed shape"),
        (
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, True]}},
            8,
            "malformed data offsets",
        ),
        ({"a": {"shape": [2], "data_offsets": [0, 8]}}, 8, "has no dtype"),
        ({"a": [1, 2]}, 8, "not an object"),
        ({"__metadata__": {"k": 1}}, 0, "not a map of strings"),
    ],
)
def test_malformed_headers_are_refused(header: dict[str, Any], data: int, message: str) -> None:
    """Headers whose entries are malformed or whose ranges do not tile the data raise ValueError."""
    with pytest.raises(ValueError, match=message):
        SafetensorsSerializer().loads(_file(header, b"\x00" * data))


def test_header_that_is_not_an_object() -> None:
    """A JSON header that is a list is refused."""
    with pytest.raises(ValueError, match="not a JSON object"):
        read_header(_file([], b""))  # type: ignore[arg-type]


def test_reader_agrees_with_the_library() -> None:
    """Every numpy dtype safetensors knows reads back as the library reads it."""
    arrays = {
        code: np.arange(6).reshape(2, 3).astype(dtype)
        for code, dtype in [
            ("b", np.bool_),
            ("u1", np.uint8),
            ("i1", np.int8),
            ("u2", np.uint16),
            ("i2", np.int16),
            ("u4", np.uint32),
            ("i4", np.int32),
            ("u8", np.uint64),
            ("i8", np.int64),
            ("f2", np.float16),
            ("f4", np.float32),
            ("f8", np.float64),
            ("c8", np.complex64),
        ]
    }
    data = save(arrays)
    ours = SafetensorsSerializer().loads(memoryview(data))
    theirs = load(data)
    assert set(ours) == set(theirs)
    for name, array in theirs.items():
        assert ours[name].dtype == array.dtype
        np.testing.assert_array_equal(ours[name], array)


def test_dtype_without_numpy_equivalent_uses_the_library() -> None:
    """A bfloat16 tensor is handed to safetensors' numpy loader, which refuses it."""
    view = _file({"a": _entry("BF16", [2], 0, 4)}, b"\x00" * 4)
    with pytest.raises(Exception, match=r"(?i)bf16|bfloat16"):  # the library's own error type
        SafetensorsSerializer().loads(view)


def test_arrays_are_views_of_writable_bytes() -> None:
    """From writable bytes, arrays are views (no copy); from read-only bytes, writable copies."""
    data = bytearray(SafetensorsSerializer().dumps({"a": np.arange(4.0)}))
    view_loaded = SafetensorsSerializer().loads(memoryview(data))["a"]
    assert np.shares_memory(view_loaded, np.frombuffer(data, dtype=np.uint8))
    copied = SafetensorsSerializer().loads(memoryview(bytes(data)))["a"]
    assert copied.flags.writeable
    copied[0] = 5.0


def test_large_payload_loads_writable_and_leaves_the_store_intact(tmp_path: Path) -> None:
    """A multi-megabyte payload loads as writable arrays; changing them leaves the store unchanged."""
    store = pk.open_store(tmp_path / "store")
    ref = store.put({"big": np.zeros(1_000_000)}, serializer="safetensors")
    loaded = store.get(ref)["big"]
    loaded[:] = 1.0
    assert store.get(ref)["big"].sum() == 0.0
