"""The byte-level Backend under every Store: keys in, bytes out, atomic writes.

A `Backend` knows nothing of payloads. It stores values under ``/``-separated keys
relative to its root, writes each value atomically (a reader sees the whole value or
nothing, whatever happens to the writer), and lists, stats, copies, moves and deletes
keys. `payloadkit.stores.Store` builds the payload protocol (digests, manifests,
signatures, verification, garbage-collection safety) on any Backend, so a store plugin
that provides a Backend gets exactly the guarantees of the built-in stores.

A store plugin's Backend implements five methods (`Backend.read`,
`Backend.write_frames`, `Backend.stat`, `Backend.delete`,
`Backend.list`), declares its capabilities as class attributes, and passes
`payloadkit.testing.BackendTests`; the plugin guide has a complete example.

Errors: a missing key raises
`FileNotFoundError`; anything else the storage system reports is an `OSError`
(or a `payloadkit.errors.PayloadkitError` with a better message); the Store turns
them into `payloadkit.errors.StoreError` naming the payload and the store.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

__all__ = [
    "Backend",
    "Callback",
    "IncompleteUploads",
    "KeyInfo",
    "PendingWrite",
    "StartsWrites",
]

Callback = Any  # an fsspec.callbacks.Callback, or anything with set_size/relative_update


@dataclass(frozen=True)
class KeyInfo:
    """One stored key: its size in bytes, when it was last written, and whether it is a
    regular value (a special file or a link in a local directory is not)."""

    key: str
    size: int
    modified: datetime | None = None
    regular: bool = True


class Backend(ABC):
    """Atomic byte storage under one root, named by ``url`` (without credentials).

    Subclasses implement `read`, `write_frames`, `stat`, `delete`
    and `list`; the other methods have correct, if slower, defaults.
    """

    #: The backend can write values (put, records, the marker).
    supports_writes: ClassVar[bool] = True
    #: The backend can delete values.
    supports_deletes: ClassVar[bool] = True
    #: `read_object` returns copy-on-write memory mappings (zero-copy loads).
    supports_mmap: ClassVar[bool] = False
    #: `move` is one atomic rename (otherwise a copy, then a delete).
    atomic_move: ClassVar[bool] = False
    #: Values are remote: reads of payloads go through the local verified cache.
    remote: ClassVar[bool] = False

    def __init__(self, url: str) -> None:
        #: The backend's URL, without credentials.
        self.url = url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def __getstate__(self) -> dict[str, Any]:
        # A backend may hold credentials or open connections: it never travels pickled.
        raise TypeError(f"{self!r} cannot be pickled; send its URL and open it on the other side.")

    # -- what every backend implements -------------------------------------------------
    @abstractmethod
    def read(self, key: str, limit: int) -> bytes:
        """The whole value at ``key``. A value over ``limit`` bytes, or one that is not a
        regular value, raises OSError before it is read."""

    @abstractmethod
    def write_frames(
        self, key: str, frames: Sequence[memoryview], callback: Callback | None = None
    ) -> None:
        """Write the frames, end to end, as the value at ``key``, atomically, replacing it."""

    @abstractmethod
    def stat(self, key: str) -> KeyInfo:
        """Size and modification time of ``key``, read fresh; FileNotFoundError when missing."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it is already gone."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[KeyInfo]:
        """Every key under ``prefix`` (``""``: all), freshly listed, in no particular order."""

    # -- defaults a backend may improve on ------------------------------------------------
    def list_keys(self, prefix: str) -> Iterator[str]:
        """The keys under ``prefix``, without sizes or times (cheaper where the backend can)."""
        for info in self.list(prefix):
            yield info.key

    def read_object(self, key: str, size: int, callback: Callback | None = None) -> memoryview:
        """A writable (or copy-on-write) view of the value at ``key``, expected to be ``size``
        bytes. A value of another length gives a view of another length (never a buffer
        allocated from ``size`` before the stored length is known)."""
        if self.stat(key).size != size:
            return memoryview(b"" if size else b"\0")  # the digest check refuses it
        data = self.read(key, size)
        if callback is not None:
            callback.set_size(size)
            callback.relative_update(len(data))
        return memoryview(bytearray(data))

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the value at ``key``."""
        info = self.stat(key)
        return bytes(self.read_object(key, info.size)[start:end])

    def write(self, key: str, data: bytes) -> None:
        """Write a small value atomically."""
        self.write_frames(key, [memoryview(data)])

    def write_file(
        self, key: str, path: str, callback: Callback | None = None, *, consume: bool = False
    ) -> None:
        """Write a local file's bytes as the value at ``key``, atomically. With ``consume``
        the backend may take the file (move it into place); it is gone afterwards either way
        only if the backend took it."""
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                self.write_frames(key, [], callback)
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    self.write_frames(key, [view], callback)
                finally:
                    view.release()

    def exists(self, key: str) -> bool:
        """True when ``key`` holds a value (read fresh, never from a stale listing)."""
        try:
            self.stat(key)
        except FileNotFoundError:
            return False
        return True

    def copy(self, source: str, target: str) -> None:
        """Copy the value at ``source`` to ``target`` (atomically for readers of ``target``)."""
        info = self.stat(source)
        data = self.read_object(source, info.size)
        if data.nbytes != info.size:
            raise OSError(f"{source} changed while it was copied")
        self.write_frames(target, [data])

    def move(self, source: str, target: str) -> None:
        """Move ``source`` to ``target``; FileNotFoundError when ``source`` is missing."""
        self.copy(source, target)
        self.delete(source)

    def spool_dir(self) -> str | None:
        """A local directory for serializers that write files (None: the system's temp);
        on the same filesystem as the values when the backend can take files by rename."""
        return None

    def delete_quietly(self, key: str) -> None:
        """Delete ``key`` ignoring failures (for cleaning up after an error)."""
        with contextlib.suppress(Exception):
            self.delete(key)


class PendingWrite(Protocol):
    """A write started by `StartsWrites.start_write`."""

    def wait(self) -> None:
        """Wait until the value is written; its error, if any, is raised here."""


@runtime_checkable
class StartsWrites(Protocol):
    """A backend that can start a small write in the background (remote stores: the
    object's upload then overlaps the lookup of its manifest)."""

    #: Values up to this size are worth starting early.
    early_write_max: int

    def start_write(
        self, key: str, frames: Sequence[memoryview], callback: Callback | None = None
    ) -> PendingWrite:
        """Start writing ``frames`` at ``key``; the write completes whether or not it is waited for."""


@runtime_checkable
class IncompleteUploads(Protocol):
    """A backend whose writes can leave invisible, billed leftovers (S3 multipart uploads).

    Both methods raise `NotImplementedError` when the server cannot list them.
    """

    def incomplete_uploads(self) -> list[tuple[str, datetime]]:
        """Uploads under the root never completed nor aborted: (key, start time)."""

    def abort_incomplete_uploads(self, cutoff: datetime) -> int:
        """Abort those started at or before ``cutoff``; how many."""
