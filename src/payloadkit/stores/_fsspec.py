"""A Backend on any fsspec filesystem: memory, S3, GCS, Azure, SFTP, HDFS, ...

How a write is made atomic depends on the backend, declared by protocol:

- ``"direct"`` (object stores): the value is written to its final key in one PUT or
  one multipart upload, which the server makes visible only once complete; a failed
  upload is discarded (multipart aborted) rather than committed.
- ``"whole"`` (``memory://``): the whole value is set at once; fsspec's memory files
  would otherwise show a half-written key.
- ``"rename"`` (everything else): write ``tmp/<unique>.part``, then move it into place.

Payloads read from a remote filesystem (anything but local files and memory) are kept in
the verified local cache (`payloadkit.stores._cache`) by the Store. Transfers report
progress through the ``callback`` given, or a default bar (`payloadkit._progress`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from payloadkit._progress import close_callback, transfer_callback
from payloadkit.stores._backend import Backend, Callback, KeyInfo
from payloadkit.stores._base import Store

__all__ = ["FsspecBackend", "FsspecStore"]

_DIRECT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2"})
_WHOLE = frozenset({"memory"})
_LOCAL = frozenset({"file", "local", "memory"})
_CHUNK = 16 * 1024 * 1024


def _atomic_mode(protocols: tuple[str, ...]) -> str:
    if _DIRECT.intersection(protocols):
        return "direct"
    if _WHOLE.intersection(protocols):
        return "whole"
    return "rename"


def protocols_of(fs: Any) -> tuple[str, ...]:
    """The protocols an fsspec filesystem answers to."""
    return tuple(fs.protocol) if isinstance(fs.protocol, tuple | list) else (fs.protocol,)


class FsspecBackend(Backend):
    """Values under ``root`` on the fsspec filesystem ``fs``."""

    def __init__(self, fs: Any, root: str, url: str) -> None:
        super().__init__(url)
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = protocols_of(fs)
        self.atomic_mode = _atomic_mode(protocols)
        #: Reads go through the local payload cache (remote filesystems only).
        self.uses_cache = not _LOCAL.intersection(protocols)
        self.atomic_move = self.atomic_mode == "rename"  # type: ignore[misc]
        self.remote = self.uses_cache  # type: ignore[misc]

    def path(self, key: str) -> str:
        """The filesystem path that holds ``key``."""
        return f"{self.root}/{key}" if key else self.root

    # -- reads ----------------------------------------------------------------------
    def read(self, key: str, limit: int) -> bytes:
        info = self.stat(key)
        if not info.regular:
            raise OSError(errno.EINVAL, f"{key} is not a regular value")
        if info.size > limit:
            raise OSError(errno.EFBIG, f"{key} is {info.size} bytes, over the {limit}-byte limit")
        return bytes(self.fs.cat_file(self.path(key)))

    def read_object(self, key: str, size: int, callback: Callback | None = None) -> memoryview:
        progress = transfer_callback(callback, size, "payloadkit download")
        try:
            return self._read_into(key, size, progress)
        finally:
            close_callback(progress, callback)

    def _read_into(self, key: str, size: int, callback: Callback) -> memoryview:
        if self.stat(key).size != size:
            # Never allocate what a (possibly hostile) manifest declares: a view of the
            # wrong length makes the digest check refuse the object.
            return memoryview(b"" if size else b"\0")
        with self.fs.open(self.path(key), "rb", block_size=min(max(size, 1), _CHUNK)) as f:
            view = memoryview(bytearray(size))
            callback.set_size(size)
            filled = 0
            while filled < size:
                n = f.readinto(view[filled : filled + _CHUNK])
                if not n:
                    break
                filled += n
                callback.relative_update(n)
            extra = f.read(1)
        # A file of the wrong length yields a view of the wrong length: the digest check refuses it.
        return view[:filled] if not extra else memoryview(b"")

    def read_range(self, key: str, start: int, end: int) -> bytes:
        return bytes(self.fs.cat_file(self.path(key), start=start, end=end))

    def stat(self, key: str) -> KeyInfo:
        path = self.path(key)
        self._invalidate(path)
        info = self.fs.info(path)
        return KeyInfo(key, int(info.get("size") or 0), _modified(info), info.get("type") == "file")

    def list(self, prefix: str) -> Iterator[KeyInfo]:
        directory = prefix.rpartition("/")[0]
        base = self.path(directory)
        self._invalidate(base)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return
        root = self.root.lstrip("/")
        for path, info in found.items():
            relative = path.lstrip("/")[len(root) :].lstrip("/")
            if relative.startswith(prefix) and info.get("type", "file") == "file":
                yield KeyInfo(relative, int(info.get("size") or 0), _modified(info))

    # -- writes ---------------------------------------------------------------------
    def write(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if self.atomic_mode == "rename":
            self._write_renamed(path, [memoryview(data)])
        else:
            self._makedirs(path)
            self.fs.pipe_file(path, data)

    def write_frames(
        self, key: str, frames: Sequence[memoryview], callback: Callback | None = None
    ) -> None:
        size = sum(frame.nbytes for frame in frames)
        progress = transfer_callback(callback, size, "payloadkit upload")
        try:
            path = self.path(key)
            if self.atomic_mode == "whole":
                self.fs.pipe_file(path, b"".join(frames))
            elif self.atomic_mode == "direct":
                self._stream(path, frames, progress)
            else:
                self._write_renamed(path, frames, progress)
        finally:
            close_callback(progress, callback)

    def write_file(
        self, key: str, path: str, callback: Callback | None = None, *, consume: bool = False
    ) -> None:
        if self.atomic_mode == "whole":
            super().write_file(key, path, callback)
            return
        progress = transfer_callback(callback, os.path.getsize(path), "payloadkit upload")
        try:
            target = self.path(key)
            if self.atomic_mode == "rename":
                tmp = self._tmp_path()
                self._makedirs(tmp)
                self.fs.put_file(path, tmp, callback=progress)
                self._makedirs(target)
                self.fs.mv(tmp, target)
            else:
                self._makedirs(target)
                self.fs.put_file(path, target, callback=progress)
        finally:
            close_callback(progress, callback)

    def _write_renamed(
        self, path: str, frames: Sequence[memoryview], callback: Callback | None = None
    ) -> None:
        tmp = self._tmp_path()
        try:
            self._stream(tmp, frames, callback)
            self._makedirs(path)
            self.fs.mv(tmp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(tmp)
            raise

    def _stream(self, path: str, frames: Sequence[memoryview], callback: Callback | None) -> None:
        """Write frames to ``path``; on failure the file is discarded, never committed."""
        self._makedirs(path)
        f = self.fs.open(path, "wb")
        if callback is not None:
            callback.set_size(sum(frame.nbytes for frame in frames))
        try:
            for frame in frames:
                for start in range(0, frame.nbytes, _CHUNK):
                    piece = frame[start : start + _CHUNK]
                    f.write(piece)
                    if callback is not None:
                        callback.relative_update(piece.nbytes)
        except BaseException:
            discard = getattr(f, "discard", None)
            with contextlib.suppress(Exception):
                discard() if discard is not None else f.close()
            raise
        f.close()

    def delete(self, key: str) -> None:
        path = self.path(key)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)
        self._invalidate(path)

    def copy(self, source: str, target: str) -> None:
        if self.atomic_mode == "rename":
            super().copy(source, target)
            return
        self._makedirs(self.path(target))
        self.fs.cp_file(self.path(source), self.path(target))

    def move(self, source: str, target: str) -> None:
        if not self.fs.exists(self.path(source)):
            raise FileNotFoundError(source)
        self._makedirs(self.path(target))
        self.fs.mv(self.path(source), self.path(target))
        self._invalidate(self.path(source))

    # -- helpers --------------------------------------------------------------------
    def _tmp_path(self) -> str:
        return self.path(f"tmp/{os.getpid()}-{uuid.uuid4().hex}.part")

    def _makedirs(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        with contextlib.suppress(FileExistsError):
            self.fs.makedirs(parent, exist_ok=True)

    def _invalidate(self, path: str) -> None:
        # Listings are cached per filesystem instance (s3fs); never trust them for lookups.
        self.fs.invalidate_cache(path.rsplit("/", 1)[0])


class FsspecStore(Store):
    """A store rooted at ``root`` on the fsspec filesystem ``fs``: a `Store` on an
    `FsspecBackend`."""

    def __init__(self, fs: Any, root: str, url: str, **kwargs: Any) -> None:
        super().__init__(FsspecBackend(fs, root, url), **kwargs)

    @property
    def fs(self) -> Any:
        """The fsspec filesystem."""
        return self._fsspec_backend.fs

    @property
    def root(self) -> str:
        """The store's root path on the filesystem."""
        return self._fsspec_backend.root

    @property
    def _fsspec_backend(self) -> FsspecBackend:
        backend = self.backend
        assert isinstance(backend, FsspecBackend)
        return backend


def _modified(info: dict[str, Any]) -> datetime | None:
    """The modification time in an fsspec info dict, as an aware datetime, if it has one."""
    for name in ("LastModified", "mtime", "modified", "last_modified", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float) and value > 0:
            return datetime.fromtimestamp(value, UTC)
    return None
