"""pickle (protocol 5, out-of-band buffers), cloudpickle and dill.

Large buffers (NumPy arrays, pandas blocks, PickleBuffer) leave the pickle stream as
out-of-band frames that are written straight from the object's memory and, on load,
handed to ``pickle.loads`` as views of the verified bytes: no copy either way. A payload
without large buffers is stored as a plain pickle file.

A payload with out-of-band buffers is stored in payloadkit's container (see
`payloadkit._container`), which ``pickle.load`` cannot read: `plain_pickle`
rewrites it (its frames decompressed, if compressed) as an ordinary pickle (the buffers in-band) without unpickling anything, and
``payloadkit get --plain`` writes that.
"""

from __future__ import annotations

import functools
import importlib
import io
import pickle
import pickletools
import struct
import sys
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from payloadkit import _container
from payloadkit._serializer import Buffer, Serializer, python_version
from payloadkit._serializers._optional import require
from payloadkit.errors import DeserializationError, SerializationError

__all__ = [
    "CloudpickleSerializer",
    "DillSerializer",
    "PickleSerializer",
    "PortablePickleSerializer",
    "SerializerFallbackWarning",
    "plain_pickle",
]

#: Buffers at least this large travel out-of-band; smaller ones stay in the stream.
OUT_OF_BAND_FROM = 1 << 16
#: Extension of a payload stored in payloadkit's container (not readable by pickle.load).
CONTAINER_EXTENSION = ".pkf"
_FRAME, _NEXT_BUFFER, _BYTEARRAY8 = b"\x95", b"\x97", b"\x96"


class PickleSerializer(Serializer):
    """Standard-library pickle, protocol 5, with zero-copy out-of-band buffers."""

    name = "pickle"
    version = "1"
    extension = ".pkl"
    runs_code_on_load = True
    #: Compressed where it pays (see `payloadkit._compression`): frame by frame in the
    #: container, whole (``.pkl.zst``) for a plain pickle.
    default_compression = "auto"

    def _dump(self, obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], bool]) -> bytes:
        return pickle.dumps(obj, protocol=5, buffer_callback=buffer_callback)

    def _load(self, data: memoryview, buffers: list[memoryview]) -> Any:
        return pickle.loads(data, buffers=buffers)

    def dumps(self, obj: Any) -> bytes:
        return b"".join(bytes(piece) for piece in self.dump_frames(obj))

    def dump_frames(self, obj: Any) -> Sequence[Buffer]:
        buffers: list[memoryview] = []

        def keep_large(buffer: pickle.PickleBuffer) -> bool:
            view = buffer.raw()
            if view.nbytes < OUT_OF_BAND_FROM:
                return True  # true means: serialize in-band
            buffers.append(view)
            return False

        stream = self._dump(obj, keep_large)
        if not buffers:
            return [stream]
        return _container.pack([stream, *buffers], {"protocol": 5, "python": python_version()})

    def extension_for(self, frames: Sequence[Buffer]) -> str:
        # payloadkit's container (out-of-band buffers) is not a pickle: it gets its own name.
        first = memoryview(frames[0]) if frames else memoryview(b"")
        return CONTAINER_EXTENSION if _container.is_container(first) else self.extension

    def loads(self, data: memoryview) -> Any:
        if _container.is_container(data):
            header, frames = _container.unpack(data)
            _check_protocol(header.get("protocol"), header.get("python"), self.name)
            return self._load(frames[0], frames[1:])
        if data.nbytes >= 2 and data[0] == 0x80:
            _check_protocol(data[1], None, self.name)
        return self._load(data, [])


class SerializerFallbackWarning(UserWarning):
    """A DataFrame or Table was stored with pickle because parquet refused it.

    The message says why and how to choose: give ``serializer="pickle"`` (or configure
    ``serializers={pd.DataFrame: "pickle"}``) to keep pickle quietly, or fix the frame
    (string or integer column labels, one type per column) to get a parquet file.
    """


class PortablePickleSerializer(PickleSerializer):
    """pickle as the automatic choice uses it: refuses streams that name ``__main__``.

    It is also the fallback for a DataFrame or pyarrow Table that parquet refused, and then
    says so with a `SerializerFallbackWarning` naming the reason.

    Such a pickle loads only in the process that wrote it (a worker cannot import the
    app's script by name), so the automatic choice moves on to cloudpickle, which stores
    those objects by value. A false positive (the text ``__main__`` inside the data) only
    costs the use of cloudpickle.
    """

    def _dump(self, obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], bool]) -> bytes:
        _warn_if_tabular(obj)
        stream = super()._dump(obj, buffer_callback)
        if b"__main__" in stream:
            raise SerializationError(
                "the pickle refers to objects of __main__ by name, which another process cannot import"
            )
        return stream


class CloudpickleSerializer(PickleSerializer):
    """cloudpickle: pickles lambdas, local classes and ``__main__`` objects by value."""

    name = "cloudpickle"
    libraries = ("cloudpickle",)

    def _dump(self, obj: Any, buffer_callback: Callable[[pickle.PickleBuffer], bool]) -> bytes:
        import cloudpickle

        return cloudpickle.dumps(obj, protocol=5, buffer_callback=buffer_callback)  # type: ignore[no-any-return]


class DillSerializer(PickleSerializer):
    """dill: pickles more of Python (closures, generators' code, sessions); in-band only.

    Imported modules are pickled by name. dill on its own stores the contents of a module
    that is not installed in site-packages (a checkout on ``sys.path``, an editable
    install) and, on load, writes them over that module in the loading process, replacing
    its state (its locks, caches and settings). Only ``__main__`` keeps dill's own handling.
    """

    name = "dill"
    libraries = ("dill",)

    def dump_frames(self, obj: Any) -> Sequence[Buffer]:
        dill = require("dill", "The 'dill' serializer")
        out = io.BytesIO()
        _module_safe_pickler(dill)(out, protocol=5).dump(obj)
        return [out.getbuffer()]

    def _load(self, data: memoryview, buffers: list[memoryview]) -> Any:
        dill = require("dill", "The 'dill' serializer")
        return dill.loads(bytes(data))


def _warn_if_tabular(obj: Any) -> None:
    """Warn when a DataFrame or Table reaches the automatic pickle: parquet refused it."""
    kind = type(obj)
    if (kind.__module__.split(".")[0], kind.__name__) not in _TABULAR:
        return
    from payloadkit._serializers._arrow import last_refusal

    reason = last_refusal(obj) or "its default serializer refused it"
    warnings.warn(
        f"This {kind.__name__} is stored with pickle, not as a parquet file: {reason}. Pass "
        "serializer='pickle' (or configure serializers={pd.DataFrame: 'pickle'}) to choose "
        "pickle without this warning, or change the frame to get parquet.",
        SerializerFallbackWarning,
        stacklevel=2,
    )


_TABULAR = frozenset({("pandas", "DataFrame"), ("pyarrow", "Table")})


def _check_protocol(protocol: object, python: object, name: str) -> None:
    if isinstance(protocol, int) and protocol > pickle.HIGHEST_PROTOCOL:
        written_by = f" by Python {python}" if python else ""
        raise DeserializationError(
            f"This {name} payload was written{written_by} with pickle protocol {protocol}; "
            f"this Python reads up to protocol {pickle.HIGHEST_PROTOCOL}. "
            "Load it with a newer Python."
        )


@functools.cache
def _module_safe_pickler(dill: Any) -> Any:
    """A dill Pickler that pickles imported modules (except ``__main__``) by name."""

    class ModuleSafePickler(dill.Pickler):  # type: ignore[misc]
        def reducer_override(self, obj: Any) -> Any:
            if (
                isinstance(obj, types.ModuleType)
                and obj.__name__ != "__main__"
                and sys.modules.get(obj.__name__) is obj
            ):
                return importlib.import_module, (obj.__name__,)
            return NotImplemented

    return ModuleSafePickler


def plain_pickle(data: memoryview) -> Iterator[Buffer]:
    """The pieces of an ordinary pickle equivalent to ``data`` (a container or a pickle).

    Each out-of-band buffer (a NEXT_BUFFER opcode) becomes an in-band BYTEARRAY8 holding
    its bytes, and framing (FRAME opcodes, optional in a pickle) is dropped because the
    frames' lengths change. Nothing is unpickled: no code of the payload runs.
    """
    if not _container.is_container(data):
        yield data
        return
    _header, frames = _container.unpack(data)
    stream, buffers = bytes(frames[0]), iter(frames[1:])
    ops = [(op.code.encode("latin-1"), pos) for op, _arg, pos in pickletools.genops(stream)]
    ends = [pos for _code, pos in ops[1:]] + [len(stream)]
    for (code, pos), end in zip(ops, ends, strict=True):
        if code == _FRAME:
            continue
        if code == _NEXT_BUFFER:
            buffer = next(buffers)
            yield _BYTEARRAY8 + struct.pack("<Q", buffer.nbytes)
            yield buffer
            continue
        yield stream[pos:end]
        if code == b".":
            return
