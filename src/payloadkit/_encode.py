"""Choosing a serializer for an object and turning the object into digested bytes.

The choice, first match wins: the ``serializer=`` argument; the user's per-type choice;
the registry's default by the most specific class in the MRO; then pickle, and
cloudpickle for what pickle refuses. A registry default that refuses an object (a
masked array for ``numpy``) falls through to pickle; explicit choices never fall back.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from payloadkit._digest import DEFAULT_ALGORITHM, as_bytes_view, hash_buffers
from payloadkit._filehash import hash_file, hash_while_writing
from payloadkit._registry import registry
from payloadkit._serializer import Buffer, Serializer, qualified_name
from payloadkit._serializers._pickle import PortablePickleSerializer
from payloadkit.errors import ConfigurationError, PayloadkitError, SerializationError, StoreError

__all__ = ["Encoded", "Explanation", "candidates", "encode", "explain", "handing_over"]

_PORTABLE_PICKLE = PortablePickleSerializer()
#: Failures of the disk a spool file is written to, not of the serializer: no retry.
_DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "the directory is not writable",
}
#: Serializers tried first for objects handed from one Work to another (exact types):
#: formats that load as views without running code, where the stored-interchange default
#: (parquet for DataFrames) would parse and copy every value.
HANDOVER_DEFAULTS = {"pandas.DataFrame": "frame"}
_handing_over: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "payloadkit_handing_over", default=False
)


@contextlib.contextmanager
def handing_over() -> Iterator[None]:
    """Within this block, saves use the hand-over defaults (the App's Work state)."""
    token = _handing_over.set(True)
    try:
        yield
    finally:
        _handing_over.reset(token)


@dataclass
class Encoded:
    """An object's stored form: zero-copy ``frames`` or a local spool ``path``, plus its digest."""

    serializer: Serializer
    reason: str
    type_name: str
    digest: str
    size: int
    frames: list[memoryview] | None = None
    path: str | None = None
    #: The stored object's suffix, when the serializer names this one its own way.
    extension: str | None = None

    @property
    def suffix(self) -> str:
        """The suffix of the stored object."""
        return self.extension if self.extension is not None else self.serializer.extension

    def release(self) -> None:
        """Drop the spool file, if any (idempotent)."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None


@dataclass
class Explanation:
    """Why a serializer is (or would be) chosen for an object: see `payloadkit.explain`."""

    type_name: str
    serializer: str | None
    reason: str
    tried: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.type_name} -> {self.serializer or 'no serializer'}: {self.reason}"]
        lines += [f"  {name} refused it: {why}" for name, why in self.tried]
        return "\n".join(lines)


def candidates(
    obj: Any, serializer: str | Serializer | None = None
) -> list[tuple[Serializer, str]]:
    """Serializers to try for ``obj``, in order, each with the reason it is tried."""
    if isinstance(serializer, Serializer):
        return [(serializer, "given as the serializer= argument")]
    if serializer is not None:
        if not isinstance(serializer, str):
            raise ConfigurationError(
                f"serializer= takes a name or a Serializer, not {serializer!r}."
            )
        return [(registry.get(serializer), "chosen by the serializer= argument")]
    chain: list[tuple[Serializer, str]] = []
    found = registry.default_for(type(obj))
    if found is not None and found[1].startswith("configured"):
        return [(registry.get(found[0]), found[1])]
    handover = HANDOVER_DEFAULTS.get(qualified_name(type(obj))) if _handing_over.get() else None
    if handover is not None:
        with contextlib.suppress(PayloadkitError):  # not installed here: the usual chain
            chain.append((registry.get(handover), "the default for hand-overs between Works"))
    if found is not None:
        chain.append((registry.get(found[0]), found[1]))
    chain.append((_PORTABLE_PICKLE, "the default for types without a registered serializer"))
    chain.append((registry.get("cloudpickle"), "the fallback for what plain pickle refuses"))
    return chain


def encode(
    obj: Any, serializer: str | Serializer | None = None, spool_dir: str | None = None
) -> Encoded:
    """Serialize ``obj`` with the first candidate that accepts it and digest the bytes."""
    tried: list[tuple[str, str]] = []
    last: Exception | None = None
    chain = candidates(obj, serializer)
    for chosen, reason in chain:
        try:
            return _encode_with(obj, chosen, reason, spool_dir)
        except (MemoryError, KeyboardInterrupt):
            raise
        except OSError as exc:
            if exc.errno not in _DISK_ERRORS:
                tried.append((chosen.name, f"{type(exc).__name__}: {exc}"))
                last = exc
                continue
            # Drop the failed writer's frames now, so that nothing keeps the file open.
            traceback.clear_frames(exc.__traceback__)
            raise _disk_error(obj, chosen, spool_dir, exc) from None
        except Exception as exc:
            tried.append((chosen.name, f"{type(exc).__name__}: {exc}"))
            last = exc
    type_name = qualified_name(type(obj))
    attempts = "; ".join(f"{name}: {why}" for name, why in tried)
    hint = (
        "Pass serializer= with one that handles it, register one for this type with "
        "pk.register_serializer, or convert the object first."
    )
    raise SerializationError(
        f"Cannot serialize an object of type {type_name}. Tried {attempts}. {hint}",
        type_name=type_name,
    ) from last


def _disk_error(
    obj: Any, serializer: Serializer, spool_dir: str | None, exc: OSError
) -> StoreError:
    type_name = qualified_name(type(obj))
    where = spool_dir or tempfile.gettempdir()
    return StoreError(
        f"Could not write the {serializer.name} file of a {type_name} in {where}: "
        f"{_DISK_ERRORS[exc.errno or 0]} ({os.strerror(exc.errno or 0)}). Nothing was stored "
        "and no partial file is left. Free space there or make it writable, or use "
        "another store.",
        type_name=type_name,
    )


def _encode_with(obj: Any, serializer: Serializer, reason: str, spool_dir: str | None) -> Encoded:
    type_name = qualified_name(type(obj))
    if serializer.writes_files:
        fd, path = tempfile.mkstemp(prefix="spool-", suffix=serializer.extension, dir=spool_dir)
        os.close(fd)
        try:
            digest, size = _dump_file(obj, serializer, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):  # a writer may remove its own file
                os.unlink(path)
            raise
        return Encoded(serializer, reason, type_name, digest, size, path=path)
    frames = _views(serializer.dump_frames(obj))
    size = sum(frame.nbytes for frame in frames)
    return Encoded(
        serializer,
        reason,
        type_name,
        hash_buffers(frames, DEFAULT_ALGORITHM, size),
        size,
        frames=frames,
        extension=serializer.extension_for(frames),
    )


def _dump_file(obj: Any, serializer: Serializer, path: str) -> tuple[str, int]:
    """Write ``obj`` to ``path`` with the serializer's native writer; the file's digest and size."""
    if serializer.writes_sequentially:
        return hash_while_writing(path, lambda: serializer.dump_file(obj, path))
    serializer.dump_file(obj, path)
    return hash_file(path)


def _views(frames: Sequence[Buffer]) -> list[memoryview]:
    return [as_bytes_view(frame) for frame in frames]


def explain(obj: Any, serializer: str | None = None) -> Explanation:
    """Say which serializer ``obj`` gets and why, trying the candidates as a save would."""
    type_name = qualified_name(type(obj))
    tried: list[tuple[str, str]] = []
    for chosen, reason in candidates(obj, serializer):
        try:
            encoded = _encode_with(obj, chosen, reason, None)
        except Exception as exc:
            tried.append((chosen.name, f"{type(exc).__name__}: {exc}"))
            continue
        encoded.release()
        return Explanation(type_name, chosen.name, reason, tried)
    return Explanation(type_name, None, "every candidate refused it", tried)
