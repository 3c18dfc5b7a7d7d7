"""A framed container: one pickle stream plus its out-of-band buffers, 64-byte aligned.

Layout (all integers little-endian)::

    b"PKF1" | u32 header length | header JSON | zero padding | frame 0 | padding | frame 1 ...

The header is ``{"frames": [n0, n1, ...], "protocol": 5, "python": "3.11.7"}``. Frame 0
is the pickle stream, the others its out-of-band buffers, each starting at a multiple of
64 bytes so that arrays loaded from a memory mapping are aligned. Sizes are checked
against the container before anything is allocated or decoded.

When the first buffer is large, the header JSON is widened with trailing spaces so that
the buffer starts at a multiple of 1024 bytes: blake3 hashes 1 KiB chunks, and a buffer
aligned on them is hashed in parallel from its first byte. Readers need not know: the
layout rules are unchanged, only the header is longer.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence

from payloadkit._digest import as_bytes_view
from payloadkit._serializer import Buffer
from payloadkit.errors import IntegrityError

__all__ = ["MAGIC", "is_container", "pack", "unpack"]

MAGIC = b"PKF1"
ALIGN = 64
MAX_HEADER = 1 << 24
_ZEROS = bytes(ALIGN)
#: A first out-of-band buffer at least this large starts on a ``HASH_CHUNK`` boundary.
ALIGN_CHUNKS_FROM = 1 << 20
HASH_CHUNK = 1024


def _padding(offset: int) -> int:
    return -offset % ALIGN


def _aligned(offset: int) -> int:
    return offset + _padding(offset)


def pack(frames: Sequence[Buffer], meta: dict[str, object]) -> list[Buffer]:
    """Return the pieces of the container for ``frames`` (no frame is copied)."""
    views = [as_bytes_view(frame) for frame in frames]
    header = json.dumps({**meta, "frames": [v.nbytes for v in views]}).encode()
    if len(views) > 1 and views[1].nbytes >= ALIGN_CHUNKS_FROM:
        first = _aligned(_aligned(8 + len(header)) + views[0].nbytes)
        header += b" " * (-first % HASH_CHUNK)
    pieces: list[Buffer] = [MAGIC + struct.pack("<I", len(header)) + header]
    offset = len(pieces[0])
    for view in views:
        pad = _padding(offset)
        if pad:
            pieces.append(_ZEROS[:pad])
        pieces.append(view)
        offset += pad + view.nbytes
    return pieces


def is_container(data: memoryview) -> bool:
    """True when ``data`` starts with the container's magic bytes."""
    return data.nbytes >= 8 and bytes(data[:4]) == MAGIC


def unpack(data: memoryview) -> tuple[dict[str, object], list[memoryview]]:
    """Split a container into its header and frames (views into ``data``, no copies).

    Anything malformed raises IntegrityError; nothing is allocated from a declared size.
    """
    if not is_container(data):
        raise IntegrityError("The stored bytes are not a payloadkit container (bad magic).")
    (length,) = struct.unpack_from("<I", data, 4)
    if length > min(MAX_HEADER, data.nbytes - 8):
        raise IntegrityError(
            f"Container header declares {length} bytes; the container holds {data.nbytes}."
        )
    try:
        header = json.loads(bytes(data[8 : 8 + length]))
        sizes = header["frames"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        raise IntegrityError(f"Container header is not readable: {type(exc).__name__}.") from None
    if (
        not isinstance(header, dict)
        or not isinstance(sizes, list)
        or not sizes
        or not all(type(n) is int and n >= 0 for n in sizes)
    ):
        raise IntegrityError("Container header lists frame sizes that are not byte counts.")
    offset = 8 + length
    frames = []
    for size in sizes:
        offset += _padding(offset)
        if offset + size > data.nbytes:
            raise IntegrityError("Container frames run past the end of the stored bytes.")
        frames.append(data[offset : offset + size])
        offset += size
    return header, frames
