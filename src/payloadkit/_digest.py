"""Content digests: ``"blake3:<64 hex>"`` (the default) or ``"sha256:<64 hex>"``.

A digest names stored bytes and is also a path component in every store, so parsing is
strict: anything but a known algorithm and exactly 64 lowercase hex digits is refused
before it can reach a filesystem.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Protocol

import blake3

from payloadkit.errors import ConfigurationError

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "Hasher",
    "hash_buffers",
    "new_hasher",
    "parse_digest",
]

DEFAULT_ALGORITHM = "blake3"
ALGORITHMS = ("blake3", "sha256")
_DIGEST_RE = re.compile(r"\A(blake3|sha256):([0-9a-f]{64})\Z")
# Below this many bytes a single thread is faster than blake3's thread pool.
_THREADED_FROM = 1 << 20


class Hasher(Protocol):
    """The part of a hashlib-style object payloadkit uses."""

    def update(self, data: memoryview | bytes | bytearray, /) -> object: ...
    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str = DEFAULT_ALGORITHM, size_hint: int = 0) -> Hasher:
    """Return a fresh hasher; blake3 uses all cores (and releases the GIL) for large inputs."""
    if algorithm == "blake3":
        if size_hint >= _THREADED_FROM:
            return blake3.blake3(max_threads=blake3.blake3.AUTO)
        return blake3.blake3()
    if algorithm == "sha256":
        return hashlib.sha256()
    raise ConfigurationError(
        f"Unknown digest algorithm {algorithm!r}. Use one of: {', '.join(ALGORITHMS)}."
    )


def as_bytes_view(buffer: object) -> memoryview:
    """A flat, byte-typed view of any contiguous buffer, without copying."""
    view = buffer if isinstance(buffer, memoryview) else memoryview(buffer)  # type: ignore[arg-type]
    if view.ndim != 1 or view.format not in ("B", "b", "c"):
        view = view.cast("B")
    return view


def hash_buffers(
    buffers: Iterable[memoryview], algorithm: str = DEFAULT_ALGORITHM, size: int = 0
) -> str:
    """Digest of the concatenation of ``buffers``, as ``"algorithm:hex"``."""
    hasher = new_hasher(algorithm, size)
    for buffer in buffers:
        hasher.update(buffer)
    return f"{algorithm}:{hasher.hexdigest()}"


def parse_digest(digest: object) -> tuple[str, str]:
    """Split ``"algorithm:hex"`` into its parts, refusing anything else."""
    if isinstance(digest, str):
        match = _DIGEST_RE.match(digest)
        if match:
            return match.group(1), match.group(2)
    shown = repr(digest)[:80]
    raise ConfigurationError(
        f"{shown} is not a payload digest. A digest looks like 'blake3:' or 'sha256:' "
        "followed by 64 lowercase hex digits; copy it from a PayloadRef or `payloadkit ls`."
    )
