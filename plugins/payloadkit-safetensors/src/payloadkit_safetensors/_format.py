"""Reading safetensors bytes: a strictly checked header, and numpy arrays as views.

The format is an 8-byte little-endian header length, a JSON header mapping each name to
its dtype, shape and ``[begin, end)`` byte offsets (plus optional string ``__metadata__``),
then the tensors' bytes. Reading it parses JSON and nothing else. Arrays are views of
the verified payload bytes (copy-on-write memory mappings in local stores), copied only
when those bytes are read-only, so loading a large file costs no extra copy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Header", "numpy_arrays", "read_header"]

MAX_HEADER = 100 * 1024 * 1024  # the limit safetensors itself enforces

#: safetensors dtype -> numpy dtype (little-endian, as the format stores them).
NUMPY_DTYPES = {
    "BOOL": "|b1",
    "U8": "|u1",
    "I8": "|i1",
    "U16": "<u2",
    "I16": "<i2",
    "U32": "<u4",
    "I32": "<i4",
    "U64": "<u8",
    "I64": "<i8",
    "F16": "<f2",
    "F32": "<f4",
    "F64": "<f8",
    "C64": "<c8",
}


@dataclass(frozen=True)
class Tensor:
    """One header entry."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class Header:
    """A checked header: entries in file order, metadata, and where the data starts."""

    tensors: dict[str, Tensor]
    metadata: dict[str, str]
    data_start: int


def read_header(data: memoryview) -> Header:
    """Parse and check the header: offsets must tile the data exactly, as the format requires."""
    if data.nbytes < 8:
        raise ValueError("too short to be a safetensors file")
    size = int.from_bytes(data[:8], "little")
    if size > min(MAX_HEADER, data.nbytes - 8):
        raise ValueError(f"header length {size} does not fit in the {data.nbytes} bytes")
    raw = json.loads(bytes(data[8 : 8 + size]))
    if not isinstance(raw, dict):
        raise ValueError("the safetensors header is not a JSON object")
    metadata = raw.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("the safetensors __metadata__ is not a map of strings")
    tensors = {name: _tensor(name, info) for name, info in raw.items()}
    _check_tiling(tensors, data.nbytes - 8 - size)
    return Header(tensors, metadata, 8 + size)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensor(name: str, info: object) -> Tensor:
    if not isinstance(info, dict):
        raise ValueError(f"the header entry of {name[:60]!r} is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str):
        raise ValueError(f"{name[:60]!r} has no dtype")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise ValueError(f"{name[:60]!r} has a malformed shape")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
        raise ValueError(f"{name[:60]!r} has malformed data offsets")
    return Tensor(dtype, tuple(shape), offsets[0], offsets[1])


def _check_tiling(tensors: dict[str, Tensor], size: int) -> None:
    position = 0
    for tensor in sorted(tensors.values(), key=lambda t: (t.begin, t.end)):
        if tensor.begin != position or tensor.end < tensor.begin:
            raise ValueError("the tensors' byte ranges overlap or leave gaps")
        position = tensor.end
    if position != size:
        raise ValueError(f"the tensors cover {position} bytes of the {size} stored")


def numpy_arrays(data: memoryview, header: Header) -> dict[str, Any] | None:
    """The arrays as views of ``data``; None when a dtype has no numpy equivalent."""
    import numpy as np

    if not all(t.dtype in NUMPY_DTYPES for t in header.tensors.values()):
        return None
    arrays = {}
    for name, tensor in header.tensors.items():
        dtype = np.dtype(NUMPY_DTYPES[tensor.dtype])
        count = math.prod(tensor.shape)
        if count * dtype.itemsize != tensor.end - tensor.begin:
            raise ValueError(f"{name[:60]!r}: shape and dtype do not match its byte range")
        array = np.frombuffer(
            data, dtype=dtype, count=count, offset=header.data_start + tensor.begin
        ).reshape(tensor.shape)
        if not dtype.isnative:
            array = array.astype(dtype.newbyteorder("="))
        elif data.readonly:
            array = array.copy()
        arrays[name] = array
    return arrays
