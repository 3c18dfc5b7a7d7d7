"""A Store in a local directory: plain files, atomic renames, zero-copy mapped reads."""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import stat
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

from payloadkit._config import settings
from payloadkit._encode import Encoded
from payloadkit.stores._base import Callback, Store

__all__ = ["LocalStore"]

#: Objects at least this large are read as copy-on-write memory mappings.
MMAP_FROM = 1 << 20
_PUBLISH_ATTEMPTS = 5
_MAX_WRITE = 1 << 30
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
#: A temporary file untouched for this long (seconds) was left by a crashed write; the
#: next writer removes it. Files being written are touched with every write.
STALE_AFTER = 3600.0
#: Names of the temporary files of writes: ``<pid>-<uuid>.part`` and serializers' spool files.
_TMP_NAME_RE = re.compile(r"\A(?:\d+-[0-9a-f]{32}\.part|spool-[^/]+)\Z")


class LocalStore(Store):
    """A store in the directory ``root`` (created on first write).

    Writes go to ``tmp/`` and are renamed into place, so a killed writer never leaves a
    visible partial object. The first write of a store object removes the temporary
    files that crashed writers left there more than :data:`STALE_AFTER` seconds ago.
    Large objects load through a private (copy-on-write) memory mapping of the file:
    loaded arrays are writable and cost no anonymous memory.
    """

    supports_mmap: ClassVar[bool] = True

    def __init__(self, root: str, **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self.root = root
        self._dirs: set[str] = set()

    def _path(self, key: str) -> str:
        if os.sep == "/":
            return f"{self.root}/{key}"  # keys are already '/'-separated, relative paths
        return os.path.join(self.root, *key.split("/"))

    def _ensure_dir(self, directory: str) -> None:
        if directory not in self._dirs:
            _makedirs(directory)
            self._dirs.add(directory)

    def _spool_dir(self) -> str:
        directory = self._path("tmp")
        if directory not in self._dirs:  # once per store object: create it, sweep it
            self._ensure_dir(directory)
            remove_stale_files(directory, time.time() - STALE_AFTER)
        return directory

    def _tmp_file(self) -> str:
        return os.path.join(self._spool_dir(), f"{os.getpid()}-{uuid.uuid4().hex}.part")

    def _publish(self, tmp: str, key: str) -> None:
        final = self._path(key)
        directory = os.path.dirname(final)
        self._ensure_dir(directory)
        for attempt in range(_PUBLISH_ATTEMPTS):
            try:
                os.replace(tmp, final)
                break
            except FileNotFoundError:
                # gc removed an emptied directory meanwhile; make it again and retry.
                if attempt == _PUBLISH_ATTEMPTS - 1 or not os.path.exists(tmp):
                    raise
                self._dirs.discard(directory)
                self._ensure_dir(directory)
        if settings().durable:
            _fsync_dir(os.path.dirname(final))

    def _write_frames(self, key: str, frames: list[memoryview], callback: Callback | None) -> None:
        tmp = self._tmp_file()
        # os.open/os.write: a buffered file object costs more than the write of a small
        # object, and the frames are written straight from the object's memory anyway.
        fd = os.open(tmp, _CREATE_FLAGS, 0o666)
        try:
            try:
                if callback is not None:
                    callback.set_size(sum(frame.nbytes for frame in frames))
                for frame in frames:
                    _write_all(fd, frame, callback)
                if settings().durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._publish(tmp, key)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _write_small(self, key: str, data: bytes) -> None:
        self._write_frames(key, [memoryview(data)], None)

    def _write_object(self, key: str, encoded: Encoded, callback: Callback | None) -> None:
        if encoded.path is not None:
            if settings().durable:
                with open(encoded.path, "rb") as f:
                    os.fsync(f.fileno())
            self._publish(encoded.path, key)
            encoded.path = None
            return
        self._write_frames(key, encoded.frames or [], callback)

    def _read_small(self, key: str) -> bytes:
        with open(self._path(key), "rb") as f:
            return f.read()

    def _read_object(self, key: str, size: int, callback: Callback | None) -> memoryview:
        view = read_file(self._path(key), size)
        if callback is not None:
            callback.set_size(size)
            callback.relative_update(view.nbytes)
        return view

    def _exists(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def _delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def _list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix.rstrip("/"))
        for directory, _dirs, files in os.walk(base):
            relative = os.path.relpath(directory, self.root).replace(os.sep, "/")
            for name in files:
                yield f"{relative}/{name}"


def _write_all(fd: int, frame: memoryview, callback: Callback | None) -> None:
    view = frame.cast("B") if frame.format != "B" else frame
    written = 0
    while written < view.nbytes:
        n = os.write(fd, view[written : written + _MAX_WRITE])
        written += n
        if callback is not None:
            callback.relative_update(n)


def read_file(path: str, size: int) -> memoryview:
    """A local file's bytes: a private copy-on-write mapping when large, else a bytearray.

    A file whose length is not ``size`` is not read: the empty (or one-byte) view returned
    fails the digest check, so nothing is allocated from a declared size.
    """
    with open(path, "rb", buffering=0) as f:
        if os.fstat(f.fileno()).st_size != size:
            return memoryview(b"" if size else b"\0")
        if size >= MMAP_FROM:
            return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY))
        view = memoryview(bytearray(size))
        filled = 0
        while filled < size:
            n = f.readinto(view[filled:])
            if not n:
                break
            filled += n
        return view[:filled]


def remove_stale_files(directory: str, cutoff: float) -> int:
    """Remove the temporary files of writes in ``directory`` last modified before ``cutoff``.

    Only names writers use are touched (not files moved aside by ``gc``, nor foreign
    files); a file another process removes meanwhile is skipped. Returns how many went.
    """
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        if not _TMP_NAME_RE.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
    return removed


def _makedirs(directory: str) -> None:
    """makedirs that tolerates another process removing the same directories meanwhile."""
    for attempt in range(_PUBLISH_ATTEMPTS):
        try:
            os.makedirs(directory, exist_ok=True)
            return
        except FileExistsError:
            # makedirs saw the directory, then gc removed it before the check: try again.
            if attempt == _PUBLISH_ATTEMPTS - 1:
                raise


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
