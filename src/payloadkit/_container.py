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

A container with compressed frames starts with ``b"PKF2"`` instead (a reader that
predates compression refuses it rather than misreading it) and its header adds
``"codecs"`` (each frame's codec, or null) and ``"sizes"`` (each frame's size once
decompressed). A frame left uncompressed is still a view of the stored bytes; a
compressed one is decompressed into new memory of exactly its recorded size (see
`payloadkit._compression.decompress`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence

from payloadkit._digest import as_bytes_view
from payloadkit._serializer import Buffer
from payloadkit.errors import IntegrityError

__all__ = ["MAGIC", "MAGIC_COMPRESSED", "Packed", "is_container", "pack", "unpack"]

MAGIC = b"PKF1"
MAGIC_COMPRESSED = b"PKF2"
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


class Packed(list[Buffer]):
    """The pieces of a container, remembering the frames and header fields it was made of."""

    def __init__(self, pieces: list[Buffer], frames: list[memoryview], meta: dict[str, object]):
        super().__init__(pieces)
        self.frames = frames
        self.meta = meta


def pack(
    frames: Sequence[Buffer],
    meta: dict[str, object],
    codecs: Sequence[str | None] | None = None,
    sizes: Sequence[int] | None = None,
) -> Packed:
    """Return the pieces of the container for ``frames`` (no frame is copied).

    With ``codecs`` (a codec or None per frame) and ``sizes`` (each frame's raw size), the
    frames are the compressed ones and the container is marked as holding them.
    """
    views = [as_bytes_view(frame) for frame in frames]
    fields: dict[str, object] = {**meta, "frames": [v.nbytes for v in views]}
    magic = MAGIC
    if codecs is not None and any(codecs):
        fields.update(codecs=list(codecs), sizes=list(sizes or []))
        magic = MAGIC_COMPRESSED
    header = json.dumps(fields).encode()
    if len(views) > 1 and views[1].nbytes >= ALIGN_CHUNKS_FROM:
        first = _aligned(_aligned(8 + len(header)) + views[0].nbytes)
        header += b" " * (-first % HASH_CHUNK)
    pieces: list[Buffer] = [magic + struct.pack("<I", len(header)) + header]
    offset = len(pieces[0])
    for view in views:
        pad = _padding(offset)
        if pad:
            pieces.append(_ZEROS[:pad])
        pieces.append(view)
        offset += pad + view.nbytes
    return Packed(pieces, views, dict(meta))


def is_container(data: memoryview) -> bool:
    """True when ``data`` starts with the magic bytes of a container (compressed or not)."""
    return data.nbytes >= 8 and bytes(data[:4]) in (MAGIC, MAGIC_COMPRESSED)


def unpack(data: memoryview) -> tuple[dict[str, object], list[memoryview]]:
    """Split a container into its header and frames (views into ``data``, no copies, except
    for compressed frames, which are decompressed to their recorded size).

    Anything malformed raises IntegrityError; nothing is allocated from a declared size
    beyond what the frame's codec can produce from its bytes.
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
    if bytes(data[:4]) == MAGIC_COMPRESSED:
        frames = _decompressed(header, frames)
    return header, frames


def _decompressed(header: dict[str, object], frames: list[memoryview]) -> list[memoryview]:
    from payloadkit import _compression

    codecs, sizes = header.get("codecs"), header.get("sizes")
    if (
        not isinstance(codecs, list)
        or not isinstance(sizes, list)
        or len(codecs) != len(frames)
        or len(sizes) != len(frames)
        or not all(c is None or (isinstance(c, str) and len(c) <= 32) for c in codecs)
        or not all(type(n) is int and n >= 0 for n in sizes)
    ):
        raise IntegrityError("Container header records frame codecs or sizes that are not valid.")
    out = []
    for index, (frame, codec, size) in enumerate(zip(frames, codecs, sizes, strict=True)):
        if codec is None:
            if size != frame.nbytes:
                raise IntegrityError(f"Container frame {index} is not of its recorded size.")
            out.append(frame)
        else:
            what = f"Frame {index} of the container"
            out.append(_compression.decompress(codec, frame, size, what))
    return out
