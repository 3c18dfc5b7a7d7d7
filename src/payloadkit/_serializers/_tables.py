"""Chunk boundaries and lazy readers of parquet and Arrow IPC payloads.

Parquet chunks end at each column chunk of each row group and at the footer, so reading
some columns fetches exactly their column chunks, and the footer is its own chunk. Arrow
IPC chunks end at each message's metadata and body (and the footer), so row counts come
from the small metadata chunks, and a column's buffers inside a body from the chunks
(cut to a bounded size) that hold them. Every byte either reader sees comes from a
`payloadkit._partial.VerifiedFile`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from payloadkit._partial import LazyReader, check_columns, resolve_rows
from payloadkit._serializers._arrow import _from_table
from payloadkit._serializers._ipcmeta import (
    Block,
    batch_buffers,
    batch_rows,
    footer_range,
    read_footer,
)
from payloadkit._serializers._optional import require
from payloadkit.errors import DeserializationError

if TYPE_CHECKING:
    from payloadkit._chunks import ChunkSource
    from payloadkit._partial import VerifiedFile

__all__ = ["ArrowReader", "ParquetReader", "arrow_chunk_ends", "parquet_chunk_ends"]


# -- parquet -----------------------------------------------------------------------------


def _column_range(column: Any) -> tuple[int, int]:
    start = column.data_page_offset
    if column.has_dictionary_page and 0 < column.dictionary_page_offset < start:
        start = column.dictionary_page_offset
    return start, start + column.total_compressed_size


def parquet_chunk_ends(source: ChunkSource) -> list[int]:
    """Each column chunk's start and end, the footer's start, the file's end."""
    pa = require("pyarrow", "The 'parquet' serializer")
    pq = require("pyarrow.parquet", "The 'parquet' serializer")
    size = source.size
    tail = bytes(source.read(size - 8, size))
    footer = size - 8 - int.from_bytes(tail[:4], "little")
    metadata = pq.read_metadata(pa.BufferReader(pa.py_buffer(source.read(0, size))))
    ends = [4, footer, size]
    for r in range(metadata.num_row_groups):
        group = metadata.row_group(r)
        for c in range(group.num_columns):
            ends.extend(_column_range(group.column(c)))
    return ends


class ParquetReader(LazyReader):
    """A parquet payload's schema from its footer; `read` fetches only the column chunks of
    the row groups it needs."""

    def __init__(self, file: VerifiedFile, type_name: str) -> None:
        pa = require("pyarrow", "The 'parquet' serializer")
        pq = require("pyarrow.parquet", "The 'parquet' serializer")
        self._file, self._type_name = file, type_name
        size = file.size
        try:
            tail = bytes(file.pread(size - 8, size))
            length = int.from_bytes(tail[:4], "little") if len(tail) == 8 else -1
            if size < 12 or tail[4:] != b"PAR1" or not 0 < length <= size - 12:
                raise ValueError("no parquet footer")
            footer = bytes(file.pread(size - 8 - length, size))
            # The footer alone, framed as a file, gives the metadata (its offsets are the
            # real file's): pyarrow then reads no footer from the file itself.
            self._metadata = pq.read_metadata(pa.BufferReader(b"PAR1" + footer))
            self._parquet = pq.ParquetFile(file, metadata=self._metadata)
            self.schema = self._parquet.schema_arrow
        except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
            raise DeserializationError(f"not a readable parquet file: {exc}") from None
        self._index = _index_columns(self.schema)
        self.columns = [n for n in self.schema.names if n not in self._index]
        self._total = int(self._metadata.num_rows)
        self.num_rows = self._total
        self.shape = (self._total, len(self.columns))

    def read(self, columns: Sequence[str] | None = None, rows: slice | None = None) -> Any:
        pa = require("pyarrow", "The 'parquet' serializer")
        assert self.columns is not None
        wanted = check_columns(columns, self.columns)
        start, stop = resolve_rows(rows, self._total)
        metadata = self._metadata
        groups: list[int] = []
        first_row = offset = 0
        for r in range(metadata.num_row_groups):
            count = metadata.row_group(r).num_rows
            if offset < stop and offset + count > start and count:
                if not groups:
                    first_row = offset
                groups.append(r)
            offset += count
        if not groups and metadata.num_row_groups:
            # No rows: read (and empty) the first group, which keeps dictionaries' categories.
            groups, first_row = [0], start
        names = None if wanted is None else {*wanted, *self._index}
        ranges = []
        for r in groups:
            group = metadata.row_group(r)
            for c in range(group.num_columns):
                column = group.column(c)
                if names is None or column.path_in_schema.split(".")[0] in names:
                    ranges.append(_column_range(column))
        self._file.prefetch(ranges)
        try:
            if groups:
                table = self._parquet.read_row_groups(
                    groups, columns=wanted, use_pandas_metadata=True
                )
            else:
                table = self.schema.empty_table()
                if wanted is not None:
                    table = table.select([*wanted, *(n for n in self._index if n not in wanted)])
        except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
            raise DeserializationError(f"not a readable parquet file: {exc}") from None
        table = table.slice(start - first_row, stop - start) if groups else table
        return _as_saved(table, self._type_name, "parquet file", start, stop, self._total)


# -- Arrow IPC -----------------------------------------------------------------------------


def arrow_chunk_ends(source: ChunkSource) -> list[int]:
    """Each message's metadata and body ends, each buffer of each record batch, the
    footer's start, the file's end."""
    size = source.size
    start, end = footer_range(bytes(source.read(size - 10, size)), size)
    dictionaries, batches = read_footer(bytes(source.read(start, end)), size)
    ends = [8, start, size]
    for block in (*dictionaries, *batches):
        ends += [block.offset, block.body_start, block.end]
    for block in batches:
        for offset, length in batch_buffers(bytes(source.read(block.offset, block.body_start))):
            if offset >= 0 and offset + length <= block.body:
                ends += [block.body_start + offset, block.body_start + offset + length]
    return ends


class ArrowReader(LazyReader):
    """An Arrow IPC payload's schema from its footer; row counts from each batch's metadata;
    `read` fetches only the batches it needs, and in them only the columns' buffers."""

    def __init__(self, file: VerifiedFile, type_name: str) -> None:
        pa = require("pyarrow", "The 'arrow' serializer")
        ipc = require("pyarrow.ipc", "The 'arrow' serializer")
        self._file, self._type_name = file, type_name
        size = file.size
        try:
            start, end = footer_range(bytes(file.pread(size - 10, size)), size)
            _dictionaries, self._batches = read_footer(bytes(file.pread(start, end)), size)
            self.schema = ipc.open_file(file).schema
        except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
            raise DeserializationError(f"not a readable Arrow IPC file: {exc}") from None
        self._index = _index_columns(self.schema)
        self.columns = [n for n in self.schema.names if n not in self._index]
        # Each batch's row count, from its metadata chunk (a few hundred bytes each).
        batches: list[Block] = self._batches
        file.prefetch([(b.offset, b.body_start) for b in batches])
        try:
            self._rows = [batch_rows(bytes(file.pread(b.offset, b.body_start))) for b in batches]
        except ValueError as exc:
            raise DeserializationError(f"not a readable Arrow IPC file: {exc}") from None
        self.num_rows = sum(self._rows)
        self.shape = (self.num_rows, len(self.columns))

    def read(self, columns: Sequence[str] | None = None, rows: slice | None = None) -> Any:
        pa = require("pyarrow", "The 'arrow' serializer")
        ipc = require("pyarrow.ipc", "The 'arrow' serializer")
        assert self.columns is not None
        wanted = check_columns(columns, self.columns)
        counts = self._rows
        total = sum(counts)
        start, stop = resolve_rows(rows, total)
        chosen: list[int] = []
        first_row = offset = 0
        for i, count in enumerate(counts):
            if offset < stop and offset + count > start and count:
                if not chosen:
                    first_row = offset
                chosen.append(i)
            offset += count
        if not chosen and counts:
            chosen, first_row = [0], start
        names = self.schema.names
        if wanted is None:
            fields = None
            self._file.prefetch([(self._batches[i].offset, self._batches[i].end) for i in chosen])
        else:
            keep = {*wanted, *self._index}
            fields = [k for k, name in enumerate(names) if name in keep]
        try:
            options = ipc.IpcReadOptions(included_fields=fields) if fields else None
            reader = ipc.open_file(self._file, options=options)
            batches = [reader.get_batch(i) for i in chosen]
            schema = batches[0].schema if batches else self.schema
            if not batches and fields:
                schema = pa.schema([self.schema.field(k) for k in fields], self.schema.metadata)
            table = pa.Table.from_batches(batches, schema=schema)
            table.validate(full=True)
        except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
            raise DeserializationError(f"not a readable Arrow IPC file: {exc}") from None
        if wanted is not None:
            table = table.select([*wanted, *(n for n in table.schema.names if n not in wanted)])
        table = table.slice(start - first_row, stop - start) if chosen else table
        return _as_saved(table, self._type_name, "Arrow IPC file", start, stop, total)


# -- shared --------------------------------------------------------------------------------


def _index_columns(schema: Any) -> list[str]:
    """The columns that hold a pandas DataFrame's index (not data columns)."""
    try:
        metadata = schema.pandas_metadata or {}
        return [name for name in metadata.get("index_columns", []) if isinstance(name, str)]
    except (ValueError, TypeError, AttributeError):
        return []


def _as_saved(table: Any, type_name: str, what: str, start: int, stop: int, total: int) -> Any:
    """The table as the saved type; a DataFrame saved with a RangeIndex keeps its labels
    for the rows read (as ``df.iloc[start:stop]`` would)."""
    result = _from_table(table, type_name, what)
    if not type_name.startswith("pandas.") or (start, stop) == (0, total):
        return result
    pd = require("pandas", "Reading a DataFrame")
    try:
        index = (table.schema.pandas_metadata or {}).get("index_columns", [])
    except (ValueError, TypeError):
        index = []
    if len(index) == 1 and isinstance(index[0], dict) and index[0].get("kind") == "range":
        spec = index[0]
        try:
            full = pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec.get("name"))
        except (KeyError, TypeError, ValueError):
            return result
        if len(full) == total:
            result.index = full[start:stop]
    return result
