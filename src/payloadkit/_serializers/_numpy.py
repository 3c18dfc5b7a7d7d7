"""NumPy arrays as ``.npy`` files: written from the array's memory, loaded as a view.

The header of a large array is padded (with the spaces the format allows) so that the
data starts at a multiple of 1024 bytes: blake3 hashes 1 KiB chunks, and data aligned
on them is hashed in parallel from its first byte, which makes a dedup hit cost no
more than hashing the array itself. Mapped loads keep the array 64-byte aligned.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from payloadkit._serializer import Buffer, Serializer
from payloadkit._serializers._optional import require
from payloadkit.errors import DeserializationError, PayloadkitError, SerializationError

if TYPE_CHECKING:
    from payloadkit._chunks import ChunkSource
    from payloadkit._partial import LazyReader, VerifiedFile

__all__ = ["NumpySerializer"]

_MAX_HEADER = 1 << 16
# numpy refuses to read headers longer than this unless told otherwise: padding stays below.
_NUMPY_HEADER_LIMIT = 10_000
#: Arrays at least this large get a header padded to a multiple of ``_DATA_ALIGN``.
_PAD_FROM = 1 << 20
_DATA_ALIGN = 1024


class NumpySerializer(Serializer):
    """Plain ``.npy`` (format 1.0/2.0) for ``numpy.ndarray`` of non-object dtypes.

    Subclasses (masked arrays, matrices) and object arrays are refused, so the automatic
    choice falls back to pickle for them instead of losing what they carry.
    """

    name = "numpy"
    version = "1"
    types = ("numpy.ndarray",)
    extension = ".npy"
    libraries = ("numpy",)
    #: ``open()`` reads only the header (shape, dtype); ``mmap=True`` maps the array.
    partial_reads = frozenset({"open", "mmap"})

    def chunk_ends(self, source: ChunkSource) -> Sequence[int]:
        """One chunk: the header. The data is verified with the whole object."""
        end = _header_end(bytes(source.read(0, 12)))
        return [end] if 0 < end <= source.size else []

    def open_reader(self, file: VerifiedFile, type_name: str) -> LazyReader:
        from payloadkit._partial import LazyReader

        np = require("numpy", "The 'numpy' serializer")
        serializer = self
        end = _header_end(bytes(file.pread(0, 12)))
        if not 0 < end <= min(file.size, _MAX_HEADER):
            raise DeserializationError("not a readable .npy header")
        shape, _fortran, dtype = _read_header(np, io.BytesIO(bytes(file.pread(0, end))))

        class _Reader(LazyReader):
            def read(self, columns: Sequence[str] | None = None, rows: slice | None = None) -> Any:
                return serializer.loads(file.whole())

        found = _Reader()
        found.shape, found.dtype = tuple(shape), dtype
        found.num_rows = shape[0] if shape else None
        return found

    def load_view(self, data: memoryview, type_name: str) -> Any:
        """A read-only array over ``data`` (no copy)."""
        return self.loads(data.toreadonly())

    def dumps(self, obj: Any) -> bytes:
        return b"".join(bytes(frame) for frame in self.dump_frames(obj))

    def dump_frames(self, obj: Any) -> Sequence[Buffer]:
        np = require("numpy", "The 'numpy' serializer")
        if type(obj) is not np.ndarray:
            raise SerializationError(
                f"the numpy serializer stores plain ndarrays, not {type(obj).__name__}"
            )
        if obj.dtype.hasobject:
            raise SerializationError(
                "an array of Python objects cannot be stored as .npy without pickle"
            )
        array = (
            obj if obj.flags.c_contiguous or obj.flags.f_contiguous else np.ascontiguousarray(obj)
        )
        info = np.lib.format.header_data_from_array_1_0(array)
        header = _header(np, info, pad=array.nbytes >= _PAD_FROM)
        order = "F" if info["fortran_order"] else "C"
        data = memoryview(array.reshape(-1, order=order)).cast("B") if array.size else b""
        return [header, data]

    def loads(self, data: memoryview) -> Any:
        try:
            return self._loads(data)
        except PayloadkitError:
            raise
        except Exception as exc:  # any failure of numpy's header parser on hostile bytes
            raise DeserializationError(
                f"not a readable .npy payload: {type(exc).__name__}: {exc}"
            ) from None

    def _loads(self, data: memoryview) -> Any:
        np = require("numpy", "The 'numpy' serializer")
        head = io.BytesIO(bytes(data[:_MAX_HEADER]))
        shape, fortran_order, dtype = _read_header(np, head)
        if dtype.hasobject or any(dim < 0 for dim in shape):
            raise DeserializationError(
                f".npy header declares dtype {dtype} and shape {shape}; refusing Python objects "
                "and negative dimensions"
            )
        count = 1
        for dim in shape:
            count *= dim
        offset = head.tell()
        if offset + count * dtype.itemsize != data.nbytes:
            raise DeserializationError(
                f".npy header declares {count} items of {dtype}; the payload holds {data.nbytes - offset} bytes"
            )
        flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
        return flat.reshape(shape, order="F" if fortran_order else "C")


def _header_end(start: bytes) -> int:
    """Where the data of a .npy file starts, from its first 12 bytes (0: not .npy)."""
    if len(start) < 10 or start[:6] != b"\x93NUMPY":
        return 0
    if start[6] == 1:
        return 10 + int.from_bytes(start[8:10], "little")
    if len(start) < 12:
        return 0
    return 12 + int.from_bytes(start[8:12], "little")


def _read_header(np: Any, head: io.BytesIO) -> tuple[Any, bool, Any]:
    """``(shape, fortran_order, dtype)`` of the .npy header at ``head``'s position; ``head``
    is left just after it."""
    try:
        major, _minor = np.lib.format.read_magic(head)
        reader = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran_order, dtype = reader(head)
    except ValueError as exc:
        raise DeserializationError(f"not a readable .npy header: {exc}") from None
    return shape, fortran_order, dtype


def _header(np: Any, info: dict[str, Any], pad: bool) -> bytes:
    """The .npy header (format 1.0, or 2.0 when it must), padded so the data is aligned."""
    buffer = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buffer, info)
    except ValueError:
        np.lib.format.write_array_header_2_0(buffer, info)
    header = buffer.getvalue()
    return _pad(header) if pad else header


def _pad(header: bytes) -> bytes:
    """Widen a header with spaces (before its final newline) to a multiple of 1 KiB."""
    major = header[6]
    size_format = "<H" if major == 1 else "<I"
    prefix = 8 + struct.calcsize(size_format)
    text = header[prefix:-1] + b" " * (-len(header) % _DATA_ALIGN) + b"\n"
    if len(text) > _NUMPY_HEADER_LIMIT:
        return header
    return header[:8] + struct.pack(size_format, len(text)) + text
