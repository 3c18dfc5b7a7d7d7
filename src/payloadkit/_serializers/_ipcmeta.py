"""Where the messages of an Arrow IPC file are, and how many rows each record batch holds.

pyarrow reads IPC files but does not say where their messages lie. The file's footer (a
flatbuffer, ``File.fbs``) lists a block per dictionary and record batch: offset, metadata
length, body length; a record batch's metadata (``Message.fbs``) holds its row count. This
module reads just those fields, checking every offset against the bytes it is given, so a
malformed file raises ValueError instead of reading out of bounds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Block", "batch_buffers", "batch_rows", "footer_range", "read_footer"]

_MAGIC = b"ARROW1"
#: The footer's own fields (File.fbs): 2 dictionaries, 3 recordBatches.
_DICTIONARIES, _BATCHES = 2, 3
#: Message.fbs: 1 header_type, 2 header, 3 bodyLength; RecordBatch: 0 length.
_HEADER_TYPE, _HEADER = 1, 2
_RECORD_BATCH = 3


@dataclass(frozen=True)
class Block:
    """One message of the file: where it starts, its metadata length and body length."""

    offset: int
    metadata: int
    body: int

    @property
    def body_start(self) -> int:
        """Where the message's body starts."""
        return self.offset + self.metadata

    @property
    def end(self) -> int:
        """Where the message ends."""
        return self.offset + self.metadata + self.body


def footer_range(tail: bytes, size: int) -> tuple[int, int]:
    """Where the footer flatbuffer lies, from the file's last 10 bytes."""
    if size < 18 or len(tail) != 10 or tail[4:] != _MAGIC:
        raise ValueError("not an Arrow IPC file (no ARROW1 trailer)")
    (length,) = struct.unpack("<i", tail[:4])
    start = size - 10 - length
    if length <= 0 or start < 8:
        raise ValueError("the Arrow IPC footer length is out of bounds")
    return start, size - 10


def read_footer(footer: bytes, size: int) -> tuple[list[Block], list[Block]]:
    """The dictionary blocks and record batch blocks of a footer, each within the file."""
    buf = _Flat(footer)
    root = buf.root()
    found = []
    for field in (_DICTIONARIES, _BATCHES):
        blocks = []
        vector = buf.vector(root, field, 24)
        if vector is not None:
            start, count = vector
            for k in range(count):
                offset, metadata, _pad, body = struct.unpack_from("<qiiq", footer, start + 24 * k)
                block = Block(offset, metadata, body)
                if offset < 8 or metadata <= 0 or body < 0 or block.end > size:
                    raise ValueError("an Arrow IPC block lies outside the file")
                blocks.append(block)
        found.append(blocks)
    return found[0], found[1]


def _record_batch(metadata: bytes) -> tuple[_Flat, int]:
    if len(metadata) < 8:
        raise ValueError("an Arrow IPC message is truncated")
    (first,) = struct.unpack_from("<I", metadata, 0)
    skip = 8 if first == 0xFFFFFFFF else 4  # continuation marker, then the length
    buf = _Flat(metadata[skip:])
    message = buf.root()
    if buf.scalar(message, _HEADER_TYPE, "<B", 0) != _RECORD_BATCH:
        raise ValueError("an Arrow IPC block is not a record batch")
    header = buf.table(message, _HEADER)
    if header is None:
        raise ValueError("an Arrow IPC record batch has no header")
    return buf, header


def batch_buffers(metadata: bytes) -> list[tuple[int, int]]:
    """Where each buffer of a record batch lies in its body: (offset, length)."""
    buf, header = _record_batch(metadata)
    vector = buf.vector(header, 2, 16)
    if vector is None:
        return []
    start, count = vector
    return [struct.unpack_from("<qq", buf.data, start + 16 * k) for k in range(count)]


def batch_rows(metadata: bytes) -> int:
    """The row count of a record batch, from its message's metadata bytes."""
    buf, header = _record_batch(metadata)
    rows = buf.scalar(header, 0, "<q", 0)
    if rows < 0:
        raise ValueError("an Arrow IPC record batch has a negative length")
    return int(rows)


class _Flat:
    """Bounds-checked reads of flatbuffer tables."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _unpack(self, fmt: str, at: int) -> int:
        if at < 0 or at + struct.calcsize(fmt) > len(self.data):
            raise ValueError("a flatbuffer offset is out of bounds")
        value: int = struct.unpack_from(fmt, self.data, at)[0]
        return value

    def root(self) -> int:
        return self._unpack("<I", 0)

    def _field(self, table: int, index: int) -> int:
        vtable = table - self._unpack("<i", table)
        length = self._unpack("<H", vtable)
        slot = 4 + 2 * index
        return self._unpack("<H", vtable + slot) if slot + 2 <= length else 0

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        offset = self._field(table, index)
        return self._unpack(fmt, table + offset) if offset else default

    def table(self, table: int, index: int) -> int | None:
        offset = self._field(table, index)
        if not offset:
            return None
        at = table + offset
        return at + self._unpack("<I", at)

    def vector(self, table: int, index: int, item: int) -> tuple[int, int] | None:
        at = self.table(table, index)
        if at is None:
            return None
        count = self._unpack("<I", at)
        if at + 4 + item * count > len(self.data):
            raise ValueError("a flatbuffer vector is out of bounds")
        return at + 4, count
