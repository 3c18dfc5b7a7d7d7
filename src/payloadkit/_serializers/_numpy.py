"""NumPy arrays as ``.npy`` files: written from the array's memory, loaded as a view."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from payloadkit._serializer import Buffer, Serializer
from payloadkit._serializers._optional import require
from payloadkit.errors import DeserializationError, PayloadkitError, SerializationError

__all__ = ["NumpySerializer"]

_MAX_HEADER = 1 << 20


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
        header = io.BytesIO()
        info = np.lib.format.header_data_from_array_1_0(array)
        try:
            np.lib.format.write_array_header_1_0(header, info)
        except ValueError:
            np.lib.format.write_array_header_2_0(header, info)
        order = "F" if info["fortran_order"] else "C"
        data = memoryview(array.reshape(-1, order=order)).cast("B") if array.size else b""
        return [header.getvalue(), data]

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
