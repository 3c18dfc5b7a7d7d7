"""A store in a local directory: plain files, atomic renames, zero-copy mapped reads."""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from payloadkit._config import settings
from payloadkit.stores._backend import Backend, Callback, KeyInfo
from payloadkit.stores._base import Store

__all__ = ["LocalBackend", "LocalStore", "read_file"]

#: Objects at least this large are read as copy-on-write memory mappings.
MMAP_FROM = 1 << 20
_PUBLISH_ATTEMPTS = 5
_MAX_WRITE = 1 << 30
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
#: Reads never follow a link in place of a value, and never wait on a FIFO.
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
#: A temporary file untouched for this long (seconds) was left by a crashed write; the
#: next writer removes it. Files being written are touched with every write.
STALE_AFTER = 3600.0
#: Names of the temporary files of writes: ``<pid>-<uuid>.part`` and serializers' spool files.
_TMP_NAME_RE = re.compile(r"\A(?:\d+-[0-9a-f]{32}\.part|spool-[^/]+)\Z")


class LocalBackend(Backend):
    """Values as files under the directory ``root`` (created on first write).

    Writes go to ``tmp/`` and are renamed into place, so a killed writer never leaves a
    visible partial value. The first write of a backend object removes the temporary
    files that crashed writers left there more than `STALE_AFTER` seconds ago.
    Large values are read through a private (copy-on-write) memory mapping of the file.
    Reads refuse anything but a regular file (a link, a FIFO, a device) without blocking.
    """

    supports_mmap: ClassVar[bool] = True
    atomic_move: ClassVar[bool] = True

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.root = root
        self._dirs: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "root": self.root, "_dirs": set()}

    def path(self, key: str) -> str:
        """The file that holds ``key``."""
        if os.sep == "/":
            return f"{self.root}/{key}" if key else self.root
        return os.path.join(self.root, *key.split("/"))

    # -- reads ----------------------------------------------------------------------
    def read(self, key: str, limit: int) -> bytes:
        fd = _open_regular(self.path(key))
        try:
            size = os.fstat(fd).st_size
            if size > limit:
                raise OSError(errno.EFBIG, f"{key} is {size} bytes, over the {limit}-byte limit")
            return _read_fd(fd, size)
        finally:
            os.close(fd)

    def read_object(self, key: str, size: int, callback: Callback | None = None) -> memoryview:
        view = read_file(self.path(key), size)
        if callback is not None:
            callback.set_size(size)
            callback.relative_update(view.nbytes)
        return view

    def read_range(self, key: str, start: int, end: int) -> bytes:
        fd = _open_regular(self.path(key))
        try:
            return os.pread(fd, max(0, end - start), start)
        finally:
            os.close(fd)

    def stat(self, key: str) -> KeyInfo:
        info = os.stat(self.path(key), follow_symlinks=False)
        return _key_info(key, info)

    def list(self, prefix: str) -> Iterator[KeyInfo]:
        directory, _, start = prefix.rpartition("/")
        base = self.path(directory) if directory else self.root
        yield from _walk(base, f"{directory}/" if directory else "", start)

    def list_keys(self, prefix: str) -> Iterator[str]:
        # The directory entries' types tell files from folders: no stat of each file.
        directory, _, start = prefix.rpartition("/")
        base = self.path(directory) if directory else self.root
        yield from _walk_names(base, f"{directory}/" if directory else "", start)

    # -- writes ---------------------------------------------------------------------
    def write_frames(
        self, key: str, frames: Sequence[memoryview], callback: Callback | None = None
    ) -> None:
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

    def write_file(
        self, key: str, path: str, callback: Callback | None = None, *, consume: bool = False
    ) -> None:
        """A file of this backend's spool directory is put in place without a copy: moved
        (``consume``) or hard-linked (the caller keeps its file, to write it again if need be).
        Any other file is copied."""
        if os.path.dirname(os.path.abspath(path)) != self.spool_dir():
            super().write_file(key, path, callback)
            return
        if settings().durable:
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        if consume:
            self._publish(path, key)
            return
        tmp = self._tmp_file()
        try:
            os.link(path, tmp)
        except OSError:  # a filesystem without hard links
            super().write_file(key, path, callback)
            return
        try:
            self._publish(tmp, key)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if callback is not None:
            size = os.path.getsize(path)
            callback.set_size(size)
            callback.relative_update(size)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def move(self, source: str, target: str) -> None:
        self._publish(self.path(source), target, keep_source_error=True)

    def copy(self, source: str, target: str) -> None:
        tmp = self._tmp_file()
        try:
            shutil.copyfile(self.path(source), tmp, follow_symlinks=False)
            self._publish(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def spool_dir(self) -> str:
        directory = self.path("tmp")
        if directory not in self._dirs:  # once per backend object: create it, sweep it
            self._ensure_dir(directory)
            remove_stale_files(directory, time.time() - STALE_AFTER)
        return directory

    def prune_empty_directories(self, prefixes: Sequence[str]) -> None:
        """Remove emptied fan-out directories under ``prefixes`` (writers recreate them)."""
        for prefix in prefixes:
            top = self.path(prefix.rstrip("/"))
            for directory, _dirs, _files in os.walk(top, topdown=False):
                if os.path.dirname(directory) == top or directory == top:
                    continue  # objects/<algorithm> itself stays
                with contextlib.suppress(OSError):  # not empty, or just refilled
                    os.rmdir(directory)
                self._dirs.discard(directory)

    # -- helpers --------------------------------------------------------------------
    def _ensure_dir(self, directory: str) -> None:
        if directory not in self._dirs:
            _makedirs(directory)
            self._dirs.add(directory)

    def _tmp_file(self) -> str:
        return os.path.join(self.spool_dir(), f"{os.getpid()}-{uuid.uuid4().hex}.part")

    def _publish(self, tmp: str, key: str, *, keep_source_error: bool = False) -> None:
        final = self.path(key)
        directory = os.path.dirname(final)
        self._ensure_dir(directory)
        for attempt in range(_PUBLISH_ATTEMPTS):
            try:
                os.replace(tmp, final)
                break
            except FileNotFoundError:
                # gc removed an emptied directory meanwhile; make it again and retry.
                if attempt == _PUBLISH_ATTEMPTS - 1 or not os.path.lexists(tmp):
                    raise
                self._dirs.discard(directory)
                self._ensure_dir(directory)
        if settings().durable:
            _fsync_dir(directory)


class LocalStore(Store):
    """A store in the directory ``root``: a `Store` on a `LocalBackend`.

    Large objects load through a private (copy-on-write) memory mapping of the file:
    loaded arrays are writable and cost no anonymous memory.
    """

    def __init__(self, root: str, **kwargs: Any) -> None:
        super().__init__(LocalBackend(root), **kwargs)

    @property
    def root(self) -> str:
        """The store's directory."""
        backend = self.backend
        assert isinstance(backend, LocalBackend)
        return backend.root


def _open_regular(path: str) -> int:
    """A descriptor on the regular file at ``path``; anything else raises OSError at once."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.EINVAL, f"{path} is a link, not a payloadkit file") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


def _read_fd(fd: int, size: int) -> bytes:
    chunks, filled = [], 0
    while filled < size:
        chunk = os.read(fd, min(size - filled, _MAX_WRITE))
        if not chunk:
            break
        chunks.append(chunk)
        filled += len(chunk)
    return b"".join(chunks)


def _key_info(key: str, info: os.stat_result) -> KeyInfo:
    modified = datetime.fromtimestamp(info.st_mtime, UTC)
    return KeyInfo(key, info.st_size, modified, stat.S_ISREG(info.st_mode))


def _files(base: str, relative: str, start: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(key, entry) of every file under ``base`` whose name starts with ``start``; links are
    not followed and the entries' types come from the directory (no stat)."""
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if not entry.name.startswith(start):
            continue
        key = f"{relative}{entry.name}"
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _files(entry.path, f"{key}/", "")
                continue
        except FileNotFoundError:
            continue  # removed while we looked
        yield key, entry


def _walk(base: str, relative: str, start: str) -> Iterator[KeyInfo]:
    """Every file of :func:`_files`, with its size and time."""
    for key, entry in _files(base, relative, start):
        try:
            yield _key_info(key, entry.stat(follow_symlinks=False))
        except FileNotFoundError:
            continue  # removed while we looked


def _walk_names(base: str, relative: str, start: str) -> Iterator[str]:
    """The keys of :func:`_files` alone."""
    for key, _entry in _files(base, relative, start):
        yield key


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
    fails the digest check, so nothing is allocated from a declared size. Only regular
    files are read; a link, a FIFO or a device raises OSError without blocking.
    """
    fd = _open_regular(path)
    try:
        if os.fstat(fd).st_size != size:
            return memoryview(b"" if size else b"\0")
        if size >= MMAP_FROM:
            return memoryview(mmap.mmap(fd, 0, access=mmap.ACCESS_COPY))
        view = memoryview(bytearray(size))
        filled = 0
        while filled < size:
            n = os.readv(fd, [view[filled:]])
            if not n:
                break
            filled += n
        return view[:filled]
    finally:
        os.close(fd)


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
