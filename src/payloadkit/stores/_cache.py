"""A verified, content-addressed, size-capped local cache of payloads read from remote stores.

Entries are named by digest, so they are never stale; each is re-hashed on every use
and a corrupted one is dropped (the caller fetches the bytes again). Writers publish
entries with an atomic rename and readers take no lock, so several processes share one
cache directory safely. When the cache grows over its size cap, the least recently used
entries go first (a hit refreshes an entry's modification time).

The cache's size is a count kept in the cache directory itself (``usage``), shared by every
process using it: each put adds its entry's size under an exclusive file lock, so the
count never misses a put that another process made. Only when the count passes the cap
does a put walk the cache, still under the lock: it removes the least recently used
entries down to 90 % of the cap and writes the true size back. A walk therefore happens
once per tenth of the cap added, not once per put. An entry is published (renamed into
place) and counted under the same lock, so a walk never sees an entry that is not counted
yet, and the same entry put by two processes is counted once. The count may run high (an
entry deleted behind the cache's back), which only makes the next walk come sooner. Where
file locks are not available (Windows), each process keeps its own count and walks the
cache again after `RESCAN_AFTER` seconds.

``PAYLOADKIT_CACHE`` names the directory (``0``, ``off`` or ``false`` turns the cache off;
the default is ``payloadkit`` under the user's cache directory, ``~/.cache`` on Linux).
``PAYLOADKIT_CACHE_SIZE`` caps it (bytes, or with a unit: ``500MB``, ``20GiB``; default 10 GiB).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from payloadkit._digest import hash_buffers, parse_digest
from payloadkit.errors import ConfigurationError

__all__ = ["DEFAULT_CACHE_SIZE", "PayloadCache", "cache_from_environment"]

DEFAULT_CACHE_SIZE = 10 * 1024**3
#: Entries at least this large are read as copy-on-write memory mappings.
_OFF = frozenset({"0", "off", "false", "no", "none"})
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_SIZE_RE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*\Z", re.IGNORECASE)


def default_cache_dir() -> str:
    """``payloadkit`` under the user's cache directory (XDG on Linux, the OS's elsewhere)."""
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    elif os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "payloadkit")


def parse_size(text: str) -> int:
    """Bytes from ``"1073741824"``, ``"500MB"`` or ``"20GiB"``."""
    match = _SIZE_RE.match(text)
    if match is None:
        raise ConfigurationError(
            f"PAYLOADKIT_CACHE_SIZE={text[:40]!r} is not a size; write bytes or a number with "
            "a unit, such as 500MB or 20GiB."
        )
    number, unit, binary = match.groups()
    factor = 1024 ** "kmgt".index(unit.lower()) * 1024 if binary and unit else _UNITS[unit.lower()]
    return int(float(number) * factor)


def cache_from_environment() -> PayloadCache | None:
    """The cache the environment asks for, or None when it is turned off."""
    where = os.environ.get("PAYLOADKIT_CACHE", "").strip()
    if where.lower() in _OFF:
        return None
    size = os.environ.get("PAYLOADKIT_CACHE_SIZE", "").strip()
    cap = parse_size(size) if size else DEFAULT_CACHE_SIZE
    return PayloadCache(os.path.expanduser(where) if where else default_cache_dir(), cap)


@dataclass(frozen=True)
class PayloadCache:
    """A cache directory ``root`` holding at most ``max_bytes`` of payload bytes.

    ```python
    import tempfile
    from payloadkit._digest import hash_buffers
    from payloadkit.stores._cache import PayloadCache

    cache = PayloadCache(tempfile.mkdtemp(), max_bytes=1 << 20)
    data = memoryview(b"cached bytes")
    digest = hash_buffers([data])
    cache.put(digest, data)
    assert bytes(cache.get(digest, len(data))) == b"cached bytes"
    ```
    """

    root: str
    max_bytes: int = DEFAULT_CACHE_SIZE

    def _path(self, digest: str) -> str:
        algorithm, hexdigest = parse_digest(digest)
        return os.path.join(self.root, "objects", algorithm, hexdigest[:2], hexdigest)

    def get(self, digest: str, size: int) -> memoryview | None:
        """The verified bytes of ``digest``, or None (a corrupted entry is removed)."""
        path = self._path(digest)
        try:
            data = _read(path, size)
        except FileNotFoundError:
            return None
        algorithm, _ = parse_digest(digest)
        if data.nbytes != size or hash_buffers([data], algorithm, size) != digest:
            self._count(-data.nbytes, lambda: _unlinked(path))
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return data

    def put(self, digest: str, data: memoryview) -> None:
        """Keep a copy of verified bytes; failures (a full disk) only mean no cache entry."""
        if data.nbytes > self.max_bytes:
            return
        path = self._path(digest)
        if os.path.exists(path):
            return  # another process published it meanwhile: nothing to add or count
        tmp = os.path.join(self.root, "tmp", f"{os.getpid()}-{uuid.uuid4().hex}")
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileNotFoundError:  # directories are made once, when first missing
                os.makedirs(os.path.dirname(tmp), exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with open(fd, "wb", buffering=0) as f:
                written = 0
                while written < data.nbytes:
                    written += f.write(data[written : written + (1 << 30)])
        except OSError:
            _unlinked(tmp)
            return
        self._count(data.nbytes, lambda: _published(tmp, path))

    def _count(self, added: int, change: Callable[[], bool]) -> None:
        """Make ``change`` (publish or remove an entry of ``added`` bytes, negative for a
        removal) and count it, under the count's lock so that no walk sees the change
        uncounted; walk and evict when the count passes the cap."""
        if _flock is None:
            if change() and _usage_after(self.root, added) > self.max_bytes:
                self.evict()
            return
        try:
            with _locked_usage(self.root) as usage:
                if not change():
                    return
                counted = usage.read()
                if counted is not None and counted + added <= self.max_bytes:
                    usage.write(max(0, counted + added))
                    return
                usage.write(self._evict_walking())
        except OSError:
            return  # the count could not be kept: the cache goes on, the next put retries

    def evict(self) -> None:
        """Remove least recently used entries until the cache fits its size cap.

        This walks the whole cache; a put does it only when the shared count of the cache's
        size passes the cap (or, without file locks, when this process's own count does or
        is older than `RESCAN_AFTER` seconds).
        """
        if _flock is None:
            total = self._evict_walking()
            with _usage_lock:
                _usage[self.root] = (total, time.monotonic())
            return
        with contextlib.suppress(OSError), _locked_usage(self.root) as usage:
            usage.write(self._evict_walking())

    def _evict_walking(self) -> int:
        """Walk the cache, evict to fit, and return the bytes it holds afterwards."""
        entries = list(self._entries())
        total = sum(size for _mtime, size, _path in entries)
        # Down to 90 % when over the cap: the next puts then fit without another walk.
        goal = self.max_bytes if total <= self.max_bytes else int(self.max_bytes * 0.9)
        for _mtime, size, path in sorted(entries):
            if total <= goal:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= size
        return total

    def _entries(self) -> list[tuple[float, int, str]]:
        found: list[tuple[float, int, str]] = []
        for directory, _dirs, files in os.walk(os.path.join(self.root, "objects")):
            for name in files:
                path = os.path.join(directory, name)
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(path)
                    found.append((st.st_mtime, st.st_size, path))
        return found

    def size(self) -> int:
        """Bytes held by the cache now."""
        return sum(size for _mtime, size, _path in self._entries())


#: Without file locks, a process's own count of a cache's size is trusted this long (s).
RESCAN_AFTER = 30.0

try:
    import fcntl

    _flock: object | None = fcntl.flock
except ImportError:  # Windows: each process counts on its own
    _flock = None

_USAGE_FILE = "usage"


class _Usage:
    """The shared count file, open and exclusively locked by this process."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self) -> int | None:
        """The count, or None when there is none yet (or it is unreadable): walk then."""
        text = os.pread(self._fd, 64, 0)
        try:
            return int(text.decode("ascii").strip())
        except ValueError:
            return None

    def write(self, total: int) -> None:
        # Fixed width: a shorter number never leaves digits of a longer one behind.
        os.pwrite(self._fd, f"{total:20d}\n".encode("ascii"), 0)


#: Within a process, one thread at a time holds a cache's file lock (flock is per file).
_thread_locks: dict[str, threading.Lock] = {}


@contextlib.contextmanager
def _locked_usage(root: str) -> Iterator[_Usage]:
    """The count file of the cache at ``root``, under an exclusive lock for the block."""
    import fcntl

    with _usage_lock:
        lock = _thread_locks.setdefault(root, threading.Lock())
    with lock:
        fd = _usage_fd(root)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield _Usage(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


#: This process's open count file per cache root, with the pid that opened it: a lock
#: taken through a descriptor inherited across a fork would be shared with the parent.
_usage_fds: dict[str, tuple[int, int]] = {}


def _usage_fd(root: str) -> int:
    """This process's descriptor of the count file of ``root`` (opened once; called locked)."""
    known = _usage_fds.get(root)
    if known is not None and known[1] == os.getpid():
        return known[0]
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, _USAGE_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    _usage_fds[root] = (fd, os.getpid())
    return fd


_usage: dict[str, tuple[int, float]] = {}
_usage_lock = threading.Lock()


def _usage_after(root: str, added: int) -> float:
    """The cache's size counted by this process after adding ``added`` bytes; infinite when
    the count is missing or stale, so that the caller rescans (and evicts)."""
    with _usage_lock:
        counted = _usage.get(root)
        if counted is None or time.monotonic() - counted[1] > RESCAN_AFTER:
            return float("inf")
        _usage[root] = (counted[0] + added, counted[1])
        return counted[0] + added


def _published(tmp: str, path: str) -> bool:
    """Move the written entry ``tmp`` to ``path``; False (and ``tmp`` removed) when another
    process published it first or the move failed."""
    try:
        if os.path.exists(path):
            _unlinked(tmp)
            return False
        try:
            os.replace(tmp, path)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(tmp, path)
    except OSError:
        _unlinked(tmp)
        return False
    return True


def _unlinked(path: str) -> bool:
    """Remove ``path``; whether this call removed it."""
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def _read(path: str, size: int) -> memoryview:
    """The file's bytes, as a local store reads them (copy-on-write mapping when large)."""
    from payloadkit.stores._local import read_file  # the local store reads files the same way

    return read_file(path, size)
