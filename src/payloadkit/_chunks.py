"""Chunk tables: per-range digests of a stored object, recorded in its manifest at save time.

A chunk table cuts the first ``covered`` bytes of a stored object into contiguous chunks
``[0, e0), [e0, e1), ...`` and records the digest of each (with the algorithm of the
object's own digest). A partial read fetches only the chunks that hold what the decoder
asks for and checks each against the table before any decoder sees a byte; bytes past
``covered`` are read only as part of the whole object, checked against its digest.

Where the chunks end is the serializer's choice (`payloadkit.Serializer.chunk_ends`):
format boundaries such as each parquet column chunk and the footer, or each Arrow IPC
message header and body. Chunks larger than `max_chunk` are cut into equal pieces, and a
table never has more than `MAX_CHUNKS` entries (adjacent chunks are merged to fit), so
that a manifest stays small.

In the manifest the table is::

    "chunks": {"algorithm": "blake3", "ends": [4, 1050192, ...], "digests": ["9f2c...", ...]}

A table is parsed strictly: ends strictly increasing, within the object, one digest each.
Anything else makes the manifest corrupt (`payloadkit.errors.IntegrityError`).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from payloadkit._digest import ALGORITHMS, new_hasher

__all__ = [
    "MAX_CHUNKS",
    "MIN_TABLE_SIZE",
    "ChunkSource",
    "ChunkTable",
    "build_table",
    "max_chunk",
]

#: A table has at most this many chunks (about 40 KB of manifest).
MAX_CHUNKS = 512
#: Objects smaller than this get no table: reading them whole costs less than a table.
MIN_TABLE_SIZE = 64 * 1024
#: Chunks are cut to at most this many bytes, or ``size / 256`` when that is larger.
MAX_CHUNK_FLOOR = 8 * 1024 * 1024
_HEX_RE = re.compile(r"\A[0-9a-f]{64}\Z")


def max_chunk(size: int) -> int:
    """The largest chunk a table of an object of ``size`` bytes keeps whole."""
    return max(MAX_CHUNK_FLOOR, -(-size // 256))


@dataclass(frozen=True)
class ChunkTable:
    """The digests of consecutive byte ranges of one stored object."""

    algorithm: str
    ends: tuple[int, ...]
    digests: tuple[str, ...]

    @property
    def covered(self) -> int:
        """How many leading bytes of the object the chunks cover."""
        return self.ends[-1] if self.ends else 0

    def __len__(self) -> int:
        return len(self.ends)

    def start(self, index: int) -> int:
        """Where chunk ``index`` starts."""
        return self.ends[index - 1] if index else 0

    def span(self, start: int, end: int) -> range:
        """The indices of the chunks that hold bytes ``start`` to ``end`` (exclusive), within
        the covered part."""
        import bisect

        end = min(end, self.covered)
        if end <= start:
            return range(0)
        first = bisect.bisect_right(self.ends, start)
        last = bisect.bisect_left(self.ends, end)
        return range(first, last + 1)

    def to_dict(self) -> dict[str, Any]:
        """The table as JSON values, as recorded in the manifest."""
        return {"algorithm": self.algorithm, "ends": list(self.ends), "digests": list(self.digests)}

    @property
    def signed_fields(self) -> list[object]:
        """What a manifest signature covers of the table."""
        return [self.algorithm, list(self.ends), list(self.digests)]

    @classmethod
    def from_dict(cls, data: object, size: int) -> ChunkTable:
        """Parse a recorded table of an object of ``size`` bytes; ValueError when malformed."""
        if not isinstance(data, dict) or set(data) != {"algorithm", "ends", "digests"}:
            raise ValueError("bad chunk table")
        algorithm, ends, digests = data["algorithm"], data["ends"], data["digests"]
        if algorithm not in ALGORITHMS:
            raise ValueError("bad chunk table algorithm")
        if not isinstance(ends, list) or not isinstance(digests, list):
            raise ValueError("bad chunk table")
        if not 0 < len(ends) <= MAX_CHUNKS or len(digests) != len(ends):
            raise ValueError("bad chunk table length")
        previous = 0
        for end in ends:
            if type(end) is not int or end <= previous:
                raise ValueError("chunk table ranges overlap or are out of order")
            previous = end
        if previous > size:
            raise ValueError("chunk table runs past the object")
        if not all(isinstance(d, str) and _HEX_RE.match(d) for d in digests):
            raise ValueError("bad chunk digest")
        return cls(algorithm, tuple(ends), tuple(digests))

    def check(self, index: int, data: memoryview | bytes) -> bool:
        """True when ``data`` is chunk ``index`` (its length and digest match)."""
        expected = self.ends[index] - self.start(index)
        if len(data) != expected:
            return False
        hasher = new_hasher(self.algorithm, expected)
        hasher.update(data)
        return hasher.hexdigest() == self.digests[index]


class ChunkSource:
    """Read access to an object being saved, for `payloadkit.Serializer.chunk_ends`.

    ``read(start, end)`` gives bytes ``start`` to ``end`` (exclusive) without copying when
    they lie in one frame or in the spool file; ``size`` is the object's length and ``path``
    its local spool file, if it has one.
    """

    def __init__(self, frames: Sequence[memoryview] | None = None, path: str | None = None) -> None:
        self.path = path
        self._mapped: mmap.mmap | None = None
        if path is not None:
            with open(path, "rb") as f:
                length = os.fstat(f.fileno()).st_size
                if length:
                    self._mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self._frames = [memoryview(self._mapped)] if self._mapped is not None else []
        else:
            self._frames = [memoryview(frame).cast("B") for frame in frames or []]
        self.size = sum(frame.nbytes for frame in self._frames)

    def read(self, start: int, end: int) -> memoryview:
        """Bytes ``start`` to ``end`` (clipped to the object)."""
        start, end = max(0, start), min(end, self.size)
        if end <= start:
            return memoryview(b"")
        pieces, offset = [], 0
        for frame in self._frames:
            lo, hi = max(start, offset), min(end, offset + frame.nbytes)
            if lo < hi:
                pieces.append(frame[lo - offset : hi - offset])
            offset += frame.nbytes
        return pieces[0] if len(pieces) == 1 else memoryview(b"".join(pieces))

    def close(self) -> None:
        """Release the spool file's mapping."""
        self._frames = []
        if self._mapped is not None:
            # A view still held somewhere (BufferError): the mapping closes when it goes.
            with contextlib.suppress(BufferError):
                self._mapped.close()
            self._mapped = None


def build_table(source: ChunkSource, ends: Sequence[int], algorithm: str) -> ChunkTable | None:
    """Hash the chunks ending at ``ends`` (the serializer's boundaries, cut and merged to fit
    the limits); None when there is nothing worth a table."""
    size = source.size
    if size < MIN_TABLE_SIZE:
        return None
    cuts = _layout(sorted({e for e in ends if 0 < e <= size}), size)
    if not cuts:
        return None
    digests, start = [], 0
    for end in cuts:
        hasher = new_hasher(algorithm, end - start)
        hasher.update(source.read(start, end))
        digests.append(hasher.hexdigest())
        start = end
    return ChunkTable(algorithm, tuple(cuts), tuple(digests))


def _layout(ends: list[int], size: int) -> list[int]:
    """Cut chunks larger than `max_chunk` into equal pieces; merge to at most `MAX_CHUNKS`."""
    biggest = max_chunk(size)
    cut: list[int] = []
    start = 0
    for end in ends:
        pieces = -(-(end - start) // biggest)
        for k in range(1, pieces):
            cut.append(start + (end - start) * k // pieces)
        cut.append(end)
        start = end
    gap = 0
    while len(cut) > MAX_CHUNKS:
        # Keep a boundary only when it is at least ``gap`` past the last one kept (the
        # last boundary, often a footer's start, is always kept).
        gap = max(gap * 2, -(-cut[-1] // (MAX_CHUNKS // 2)))
        kept: list[int] = []
        for end in cut[:-1]:
            if end - (kept[-1] if kept else 0) >= gap:
                kept.append(end)
        cut = [*kept, cut[-1]]
    return cut
