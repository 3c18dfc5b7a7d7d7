"""Digests of local files, including files hashed while their writer is still writing them.

A serializer that writes a file (parquet, Arrow IPC) spends its time encoding on one
core. When it declares that it writes front to back (``writes_sequentially``), the file
is hashed by a second thread that follows the writer, reading what has been appended so
far, so the digest is ready almost as soon as the file is: the hash costs the tail the
follower had not reached yet instead of a second pass over the whole file. Both the
reads and blake3/sha256 release the GIL. Bytes below the file's size are final for a
writer that only appends, which is what makes following it sound.
"""

from __future__ import annotations

import io
import mmap
import os
import threading
from collections.abc import Callable

from payloadkit._digest import DEFAULT_ALGORITHM, hash_buffers, new_hasher

__all__ = ["hash_file", "hash_while_writing"]

#: Bytes read (and hashed) per step: small enough to stay in cache, large enough to be cheap.
_CHUNK = 1 << 20
#: How long the follower waits for the writer to append more before looking again.
_POLL_S = 0.002


def hash_file(path: str, algorithm: str = DEFAULT_ALGORITHM) -> tuple[str, int]:
    """Digest and size of a local file, read through a memory mapping."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return hash_buffers([], algorithm), 0
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                return hash_buffers([view], algorithm, size), size
            finally:
                view.release()


def hash_while_writing(
    path: str, write: Callable[[], None], algorithm: str = DEFAULT_ALGORITHM
) -> tuple[str, int]:
    """Run ``write()``, which fills the existing file ``path`` front to back, hashing as it goes.

    Returns the digest and size of the finished file. When the follower cannot vouch for
    its result (the writer replaced the file instead of writing into it, or a read
    failed), the finished file is hashed again from the start, so the digest is always
    that of the file at ``path``.
    """
    with open(path, "rb", buffering=0) as reader:
        follower = _Follower(reader, algorithm)
        follower.start()
        try:
            write()
        except BaseException:
            follower.stop(abort=True)
            raise
        follower.stop(abort=False)
        if follower.result is not None and _same_file(reader.fileno(), path, follower.result[1]):
            return follower.result
    return hash_file(path, algorithm)


def _same_file(fd: int, path: str, size: int) -> bool:
    """True when ``path`` is still the file open as ``fd``, ``size`` bytes long."""
    opened, current = os.fstat(fd), os.stat(path)
    return (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino) and (
        current.st_size == size
    )


class _Follower(threading.Thread):
    """Hashes a file as another thread appends to it; ``stop`` reads it to the end."""

    def __init__(self, reader: io.FileIO, algorithm: str) -> None:
        super().__init__(name="payloadkit-hash", daemon=True)
        self._reader = reader
        self._algorithm = algorithm
        self._done = threading.Event()
        self._abort = False
        #: (digest, size) once the whole file was hashed; None if reading failed or aborted.
        self.result: tuple[str, int] | None = None

    def stop(self, *, abort: bool) -> None:
        """Tell the follower the writer is finished (or failed) and wait for it."""
        self._abort = abort
        self._done.set()
        self.join()

    def run(self) -> None:
        readinto = self._reader.readinto
        hasher = new_hasher(self._algorithm)  # one thread: the writer holds the other core
        view = memoryview(bytearray(_CHUNK))
        size = 0
        finishing = False
        try:
            while not self._abort:
                n = readinto(view)
                if n:
                    hasher.update(view[:n])
                    size += n
                elif finishing:
                    self.result = (f"{self._algorithm}:{hasher.hexdigest()}", size)
                    return
                else:
                    # Once the writer is done, one more pass reads whatever it appended last.
                    finishing = self._done.wait(_POLL_S)
        except OSError:
            return  # hash_while_writing hashes the finished file instead
