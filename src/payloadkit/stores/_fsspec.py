"""A Store on any fsspec filesystem: memory, S3, GCS, Azure, SFTP, HDFS, ...

How a write is made atomic depends on the backend, declared by protocol:

- ``"direct"`` (object stores): the object is written to its final key in one PUT or
  one multipart upload, which the server makes visible only once complete; a failed
  upload is discarded (multipart aborted) rather than committed.
- ``"whole"`` (``memory://``): the whole value is set at once; fsspec's memory files
  would otherwise show a half-written key.
- ``"rename"`` (everything else): write ``tmp/<unique>.part``, then move it into place.

Payloads read from a remote filesystem (anything but local files and memory) are kept in
the verified local cache (:mod:`payloadkit.stores._cache`): a later read of the same
digest, from any store or process, is served from it after re-hashing. Transfers report
progress through the ``callback`` given, or a default bar (:mod:`payloadkit._progress`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

from payloadkit._encode import Encoded
from payloadkit._manifest import Manifest
from payloadkit._progress import close_callback, transfer_callback
from payloadkit.stores._base import Callback, Store
from payloadkit.stores._cache import cache_from_environment

__all__ = ["FsspecStore"]

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


class FsspecStore(Store):
    """A store rooted at ``root`` on the fsspec filesystem ``fs``."""

    supports_mmap: ClassVar[bool] = False

    def __init__(self, fs: Any, root: str, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.atomic_mode = _atomic_mode(tuple(protocols))
        #: Reads go through the local payload cache (remote filesystems only).
        self.uses_cache = not _LOCAL.intersection(protocols)

    def __getstate__(self) -> dict[str, Any]:
        # A filesystem object may hold credentials; a store never travels pickled.
        raise TypeError(f"{self!r} cannot be pickled; send its URL and open it on the other side.")

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _fetch(self, manifest: Manifest, callback: Callback | None) -> memoryview:
        """Verified bytes from the local cache when it holds them, else from the store."""
        cache = cache_from_environment() if self.uses_cache else None
        meta = manifest.ref
        if cache is not None:
            hit = cache.get(meta.digest, meta.size)
            if hit is not None:
                if callback is not None:
                    callback.set_size(meta.size)
                    callback.relative_update(meta.size)
                return hit
        data = super()._fetch(manifest, callback)
        if cache is not None:
            cache.put(meta.digest, data)
        return data

    def _read_small(self, key: str) -> bytes:
        path = self._path(key)
        self._invalidate(path)
        return bytes(self.fs.cat_file(path))

    def _write_small(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if self.atomic_mode == "rename":
            self._write_renamed(path, [memoryview(data)])
        else:
            self.fs.pipe_file(path, data)

    def _write_object(self, key: str, encoded: Encoded, given: Callback | None) -> None:
        callback = transfer_callback(given, encoded.size, "payloadkit upload")
        try:
            self._write_encoded(key, encoded, callback)
        finally:
            close_callback(callback, given)

    def _write_encoded(self, key: str, encoded: Encoded, callback: Callback) -> None:
        path = self._path(key)
        if encoded.path is not None:
            kwargs = {"callback": callback}
            if self.atomic_mode == "rename":
                tmp = self._tmp_path()
                self._makedirs(tmp)
                self.fs.put_file(encoded.path, tmp, **kwargs)
                self._makedirs(path)
                self.fs.mv(tmp, path)
            else:
                self._makedirs(path)
                self.fs.put_file(encoded.path, path, **kwargs)
            return
        frames = encoded.frames or []
        if self.atomic_mode == "whole":
            self.fs.pipe_file(path, b"".join(frames))
        elif self.atomic_mode == "direct":
            self._stream(path, frames, callback)
        else:
            self._write_renamed(path, frames, callback)

    def _write_renamed(
        self, path: str, frames: list[memoryview], callback: Callback | None = None
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

    def _stream(self, path: str, frames: list[memoryview], callback: Callback | None) -> None:
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

    def _read_object(self, key: str, size: int, given: Callback | None) -> memoryview:
        callback = transfer_callback(given, size, "payloadkit download")
        try:
            return self._read_into(key, size, callback)
        finally:
            close_callback(callback, given)

    def _read_into(self, key: str, size: int, callback: Callback) -> memoryview:
        with self.fs.open(self._path(key), "rb", block_size=min(max(size, 1), _CHUNK)) as f:
            actual = getattr(f, "size", None)
            if actual is None:
                actual = self.fs.size(self._path(key))
            if actual != size:
                # Never allocate what a (possibly hostile) manifest declares: a view of the
                # wrong length makes the digest check refuse the object.
                return memoryview(b"" if size else b"\0")
            buffer = bytearray(size)
            view = memoryview(buffer)
            if callback is not None:
                callback.set_size(size)
            filled = 0
            while filled < size:
                n = f.readinto(view[filled : filled + _CHUNK])
                if not n:
                    break
                filled += n
                if callback is not None:
                    callback.relative_update(n)
            extra = f.read(1)
        # A file of the wrong length yields a view of the wrong length: the digest check refuses it.
        return view[:filled] if not extra else memoryview(b"")

    def _exists(self, key: str) -> bool:
        path = self._path(key)
        self._invalidate(path)
        return bool(self.fs.exists(path))

    def _delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)
        self._invalidate(path)

    def _list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix).rstrip("/")
        self._invalidate(base)
        try:
            found = self.fs.find(base, detail=False)
        except FileNotFoundError:
            return
        root = self.root.lstrip("/")
        for path in found:
            relative = path.lstrip("/")[len(root) :].lstrip("/")
            yield relative

    def _tmp_path(self) -> str:
        return self._path(f"tmp/{os.getpid()}-{uuid.uuid4().hex}.part")

    def _makedirs(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        with contextlib.suppress(FileExistsError):
            self.fs.makedirs(parent, exist_ok=True)

    def _invalidate(self, path: str) -> None:
        # Listings are cached per filesystem instance (s3fs); never trust them for lookups.
        self.fs.invalidate_cache(path.rsplit("/", 1)[0])
