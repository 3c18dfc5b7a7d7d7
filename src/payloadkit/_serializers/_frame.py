"""``frame``: pandas DataFrames as their blocks, for hand-overs between Works.

A DataFrame is held by pandas as a few blocks, each a 2-D array of the columns that
share a dtype. This format writes each NumPy block's memory as it is, 64-byte aligned
(1 KiB for large frames, so blake3 hashes it in parallel from its first byte), after a
JSON header that says where each block is, its dtype, shape and column positions, and
what the index and column labels are. Loading builds the DataFrame over views of the
verified bytes: no copy, no parse of the numbers, writable (the store hands out private
copy-on-write mappings or its own buffers).

Columns that are not plain NumPy blocks (strings, categoricals, time zones, nullable
types) and an index other than a ``RangeIndex`` go in one Arrow IPC section, rebuilt with
pyarrow and pandas' own metadata. Nothing in the format is code: loading it runs none,
so it is safe without a signature, like parquet.

The file is payloadkit's own (suffix ``.pkframe``), so it is the format of hand-overs
between Works, not of stored interchange: parquet stays the default of ``store.put``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any, cast

from payloadkit._serializer import Buffer, Serializer
from payloadkit._serializers._optional import require
from payloadkit.errors import DeserializationError, PayloadkitError, SerializationError

__all__ = ["FrameSerializer"]

MAGIC = b"PKFRAME1"
_HEAD = struct.Struct("<8sI")
_MAX_HEADER = 1 << 24
_SMALL_ALIGN = 64
_LARGE_ALIGN = 1024
_LARGE = 1 << 20
#: Label types that round-trip through the JSON header exactly.
_LABEL_TAGS = {str: "s", int: "i", float: "f", bool: "b", type(None): "n"}


class FrameSerializer(Serializer):
    """pandas DataFrames as aligned blocks plus a JSON header; loaded as zero-copy views.

    Exact ``pandas.DataFrame`` objects only; a subclass, labels the header cannot hold
    exactly (other than str, int, float, bool, None, or tuples of them), non-JSON
    ``attrs`` or ``allows_duplicate_labels=False`` are refused with the reason, so an
    automatic choice falls back to the next serializer instead of losing anything.
    """

    name = "frame"
    version = "1"
    extension = ".pkframe"
    libraries = ("pandas", "numpy", "pyarrow")

    def warm_up(self) -> None:
        super().warm_up()
        pd = require("pandas", "The 'frame' serializer")
        np = require("numpy", "The 'frame' serializer")
        sample = pd.DataFrame({"a": np.zeros(4), "b": np.arange(4)})
        data = bytearray(b"".join(bytes(frame) for frame in self.dump_frames(sample)))
        self.loads(memoryview(data))

    def dumps(self, obj: Any) -> bytes:
        return b"".join(bytes(frame) for frame in self.dump_frames(obj))

    def dump_frames(self, obj: Any) -> Sequence[Buffer]:
        pd = require("pandas", "The 'frame' serializer")
        np = require("numpy", "The 'frame' serializer")
        if type(obj) is not pd.DataFrame:
            raise SerializationError(
                f"the frame serializer stores plain pandas DataFrames, not {type(obj).__name__}"
            )
        if not obj.flags.allows_duplicate_labels:
            raise SerializationError("the frame format does not record allows_duplicate_labels")
        header: dict[str, Any] = {
            "rows": len(obj.index),
            "columns": _labels(obj.columns),
            "attrs": _attrs(obj.attrs),
        }
        numpy_blocks, other = _split_blocks(obj, np)
        range_index = type(obj.index) is pd.RangeIndex
        if range_index:
            index = obj.index
            header["index"] = {
                "kind": "range",
                "start": int(index.start),
                "stop": int(index.stop),
                "step": int(index.step),
                "name": _label(index.name),
            }
        else:
            header["index"] = {"kind": "arrow"}
        buffers: list[tuple[dict[str, Any], Buffer]] = []
        for array, placement in numpy_blocks:
            meta = {
                "kind": "numpy",
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "placement": placement,
            }
            flat = array.reshape(-1).view("u1") if array.size else b""
            buffers.append((meta, memoryview(flat)))
        if other or not range_index:
            section = _arrow_section(obj, other, keep_index=not range_index)
            buffers.append(({"kind": "arrow", "placement": other}, section))
        total = sum(memoryview(data).nbytes for _, data in buffers)
        align = _LARGE_ALIGN if total >= _LARGE else _SMALL_ALIGN
        offset = 0
        for meta, data in buffers:
            offset += -offset % align
            meta["offset"] = offset
            meta["nbytes"] = memoryview(data).nbytes
            offset += meta["nbytes"]
        header["blocks"] = [meta for meta, _ in buffers]
        text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
        start = _HEAD.size + len(text)
        head = _HEAD.pack(MAGIC, len(text)) + text + b" " * (-start % align)
        frames: list[Buffer] = [head]
        written = 0
        for meta, data in buffers:
            gap = meta["offset"] - written
            if gap:
                frames.append(bytes(gap))
            frames.append(data)
            written = meta["offset"] + meta["nbytes"]
        return frames

    def loads(self, data: memoryview) -> Any:
        try:
            return self._loads(data)
        except PayloadkitError:
            raise
        except Exception as exc:  # numpy, pyarrow or pandas refusing hostile contents
            raise DeserializationError(
                f"not a readable frame payload: {type(exc).__name__}: {exc}"
            ) from None

    def _loads(self, data: memoryview) -> Any:
        pd = require("pandas", "The 'frame' serializer")
        np = require("numpy", "The 'frame' serializer")
        header, base = _read_header(data)
        rows = _count(header.get("rows"), "rows")
        columns = _index_of_labels(pd, header.get("columns"))
        blocks: list[tuple[Any, Any]] = []
        index = None
        seen: list[int] = []
        for meta in _list(header.get("blocks"), "blocks"):
            if not isinstance(meta, dict):
                raise DeserializationError("a frame block is not described by an object")
            offset = base + _count(meta.get("offset"), "offset")
            nbytes = _count(meta.get("nbytes"), "nbytes")
            if offset + nbytes > data.nbytes:
                raise DeserializationError(
                    f"a frame block runs past the end of the payload ({offset + nbytes} > "
                    f"{data.nbytes} bytes)"
                )
            placement = [_count(p, "placement") for p in _list(meta.get("placement"), "placement")]
            view = data[offset : offset + nbytes]
            if meta.get("kind") == "numpy":
                blocks.append((_numpy_block(np, meta, view, rows, len(placement)), placement))
                seen += placement
            elif meta.get("kind") == "arrow":
                section = _read_arrow(view)
                if header.get("index", {}).get("kind") == "arrow":
                    index = section.index
                for position, at in enumerate(placement):
                    blocks.append((_column_block(np, section.iloc[:, position]), [at]))
                seen += placement
            else:
                raise DeserializationError(f"unknown frame block kind {meta.get('kind')!r}")
        if sorted(seen) != list(range(len(columns))):
            raise DeserializationError(
                f"the frame's blocks place columns {sorted(seen)}; it has {len(columns)} columns"
            )
        if index is None:
            index = _range_index(pd, header.get("index"))
        if len(index) != rows:
            raise DeserializationError(f"the frame's index has {len(index)} rows, not {rows}")
        frame = _from_blocks(pd, np, blocks, index, columns)
        attrs = header.get("attrs")
        if attrs:
            frame.attrs.update(attrs)
        return frame


def _split_blocks(obj: Any, np: Any) -> tuple[list[tuple[Any, list[int]]], list[int]]:
    """The frame's NumPy blocks as ``(2-D C-contiguous array, column positions)`` and the
    positions of every other column (extension arrays, Python objects)."""
    numpy_blocks: list[tuple[Any, list[int]]] = []
    other: list[int] = []
    for block in getattr(getattr(obj, "_mgr", None), "blocks", None) or ():
        values = block.values
        placement = [int(i) for i in block.mgr_locs.as_array]
        array = _plain_2d(np, values)
        if array is None:
            other += placement
        else:
            numpy_blocks.append((array, placement))
    if not numpy_blocks and not other and obj.shape[1]:
        # A pandas without the block manager's usual attributes: one block per column.
        for position in range(obj.shape[1]):
            column = obj.iloc[:, position]
            array = _plain_2d(np, getattr(column, "array", None))
            if array is None:
                other.append(position)
            else:
                numpy_blocks.append((array.reshape(1, -1), [position]))
    return numpy_blocks, sorted(other)


def _plain_2d(np: Any, values: Any) -> Any:
    """``values`` as a C-contiguous NumPy array of a fixed-size dtype, or None."""
    backing = values if isinstance(values, np.ndarray) else None
    if backing is None and getattr(values, "dtype", None) is not None:
        # DatetimeArray / TimedeltaArray without a time zone wrap a plain datetime64 array.
        inner = getattr(values, "_ndarray", None)
        if (
            isinstance(inner, np.ndarray)
            and inner.dtype.kind in "mM"
            and inner.dtype == values.dtype
        ):
            backing = inner
    if backing is None or backing.dtype.hasobject or backing.dtype.kind not in "biufcmM":
        return None
    if backing.ndim == 1:
        backing = backing.reshape(1, -1)
    return backing if backing.flags.c_contiguous else np.ascontiguousarray(backing)


def _arrow_section(obj: Any, positions: list[int], *, keep_index: bool) -> Buffer:
    pa = require("pyarrow", "The 'frame' serializer")
    sub = obj.iloc[:, positions]
    sub.columns = [str(i) for i in range(len(positions))]
    try:
        table = pa.Table.from_pandas(sub, preserve_index=keep_index)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise SerializationError(
            f"the frame format stores these columns through Arrow, which refuses them: {exc}"
        ) from None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return memoryview(sink.getvalue())


def _read_arrow(view: memoryview) -> Any:
    pa = require("pyarrow", "The 'frame' serializer")
    from payloadkit._serializers._arrow import _check_pyarrow_safe

    _check_pyarrow_safe()
    table = pa.ipc.open_stream(pa.py_buffer(view)).read_all()
    return table.to_pandas()


def _column_block(np: Any, column: Any) -> Any:
    array = column.array
    plain = _plain_2d(np, array)
    if plain is not None:
        return plain
    if type(array).__name__ == "NumpyExtensionArray":  # object columns
        return np.asarray(array).reshape(1, -1)
    return array


def _numpy_block(np: Any, meta: dict[str, Any], view: memoryview, rows: int, width: int) -> Any:
    try:
        dtype = np.dtype(meta.get("dtype"))
    except TypeError as exc:
        raise DeserializationError(f"a frame block declares an unknown dtype: {exc}") from None
    if dtype.hasobject or dtype.kind not in "biufcmM":
        raise DeserializationError(f"a frame block declares dtype {dtype}; refusing it")
    shape = [_count(n, "shape") for n in _list(meta.get("shape"), "shape")]
    if shape != [width, rows]:
        raise DeserializationError(
            f"a frame block has shape {shape}; its placement and the row count say "
            f"[{width}, {rows}]"
        )
    if width * rows * dtype.itemsize != view.nbytes:
        raise DeserializationError(
            f"a frame block of {width}x{rows} {dtype} holds {view.nbytes} bytes"
        )
    return np.frombuffer(view, dtype=dtype).reshape(width, rows)


def _from_blocks(pd: Any, np: Any, blocks: list[tuple[Any, Any]], index: Any, columns: Any) -> Any:
    internals = getattr(getattr(pd, "api", None), "internals", None)
    create = getattr(internals, "create_dataframe_from_blocks", None)
    if create is not None:
        return create(
            [(values, np.asarray(placement, dtype=np.intp)) for values, placement in blocks],
            index=index,
            columns=columns,
        )
    # Older pandas: build column by column (one copy per block).
    by_position: dict[int, Any] = {}
    for values, placement in blocks:
        for row, at in enumerate(placement):
            by_position[at] = values[row] if getattr(values, "ndim", 1) == 2 else values
    frame = pd.DataFrame({i: by_position[i] for i in range(len(columns))}, index=index, copy=False)
    frame.columns = columns
    return frame


def _read_header(data: memoryview) -> tuple[dict[str, Any], int]:
    if data.nbytes < _HEAD.size:
        raise DeserializationError("not a frame payload: too short for its header")
    magic, length = _HEAD.unpack(bytes(data[: _HEAD.size]))
    if magic != MAGIC:
        raise DeserializationError("not a frame payload: wrong magic bytes")
    if length > _MAX_HEADER or _HEAD.size + length > data.nbytes:
        raise DeserializationError(f"a frame header of {length} bytes does not fit the payload")
    try:
        header = json.loads(bytes(data[_HEAD.size : _HEAD.size + length]))
    except ValueError as exc:
        raise DeserializationError(f"the frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise DeserializationError("the frame header is not a JSON object")
    start = _HEAD.size + length
    blocks = header.get("blocks")
    total = (
        sum(b.get("nbytes", 0) for b in blocks if isinstance(b, dict))
        if isinstance(blocks, list)
        else 0
    )
    align = _LARGE_ALIGN if total >= _LARGE else _SMALL_ALIGN
    return header, start + (-start % align)


def _count(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise DeserializationError(f"the frame header's {what} is {value!r}, not a count")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise DeserializationError(f"the frame header's {what} is not a list")
    return value


def _label(value: Any) -> Any:
    tag = _LABEL_TAGS.get(type(value))
    if tag is not None:
        if tag == "f" and value != value:
            return ["f", "nan"]
        return [tag, value]
    if type(value) is tuple:
        return ["t", [_label(item) for item in value]]
    raise SerializationError(
        f"the frame format keeps labels of type str, int, float, bool, None and tuples of "
        f"them; this frame has a label of type {type(value).__name__}"
    )


def _unlabel(value: Any) -> Any:
    if not isinstance(value, list) or len(value) != 2:
        raise DeserializationError(f"a frame label is {value!r}, not [tag, value]")
    tag: Any = value[0]
    item: Any = value[1]
    if tag == "t" and isinstance(item, list):
        return tuple(_unlabel(part) for part in item)
    if tag == "f" and item == "nan":
        return float("nan")
    expected = {"s": str, "i": int, "f": float, "b": bool, "n": type(None)}.get(tag)
    if expected is None or (type(item) is not expected and not (tag == "f" and type(item) is int)):
        raise DeserializationError(f"a frame label is {value!r}")
    return float(cast(float, item)) if tag == "f" else item


def _labels(columns: Any) -> dict[str, Any]:
    pd = require("pandas", "The 'frame' serializer")
    if type(columns) is pd.RangeIndex:
        return {
            "kind": "range",
            "start": int(columns.start),
            "stop": int(columns.stop),
            "step": int(columns.step),
            "name": _label(columns.name),
        }
    names = [_label(name) for name in columns.names]
    kind = "multi" if isinstance(columns, pd.MultiIndex) else "labels"
    if kind == "labels" and columns.dtype.kind not in "OUSifb" and str(columns.dtype) != "str":
        raise SerializationError(
            f"the frame format keeps column labels of simple types; these are {columns.dtype}"
        )
    return {
        "kind": kind,
        "labels": [_label(item) for item in columns.tolist()],
        "names": names,
        "dtype": str(columns.dtype),
    }


def _index_of_labels(pd: Any, spec: Any) -> Any:
    if not isinstance(spec, dict):
        raise DeserializationError("the frame header's columns are not described")
    if spec.get("kind") == "range":
        return _range_index(pd, spec)
    labels = [_unlabel(item) for item in _list(spec.get("labels"), "labels")]
    names = [_unlabel(item) for item in _list(spec.get("names"), "names")]
    if spec.get("kind") == "multi":
        if not labels:
            return pd.MultiIndex.from_tuples([], names=names)
        return pd.MultiIndex.from_tuples(labels, names=names)
    dtype = spec.get("dtype")
    kept = dtype if dtype in {"object", "str", "int64", "float64", "bool"} else None
    return pd.Index(labels, name=names[0] if names else None, dtype=kept, tupleize_cols=False)


def _range_index(pd: Any, spec: Any) -> Any:
    if not isinstance(spec, dict) or spec.get("kind") != "range":
        raise DeserializationError("the frame header's index is not described")
    start, stop, step = (spec.get(k) for k in ("start", "stop", "step"))
    if not all(type(v) is int for v in (start, stop, step)) or step == 0:
        raise DeserializationError(f"the frame's range index is {spec!r}")
    return pd.RangeIndex(start, stop, step, name=_unlabel(spec.get("name", ["n", None])))


def _attrs(attrs: dict[Any, Any]) -> dict[str, Any]:
    if not attrs:
        return {}
    try:
        text = json.dumps(attrs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"the frame format keeps DataFrame.attrs only as JSON: {exc}"
        ) from None
    loaded: dict[str, Any] = json.loads(text)
    if loaded != attrs:
        raise SerializationError("the frame format keeps DataFrame.attrs only as exact JSON")
    return loaded
