"""Parquet and Arrow IPC for pandas DataFrames and pyarrow Tables, as plain files.

Both write with pyarrow's native writers straight to a local file and read from the
verified bytes without another copy (Arrow IPC buffers are zero-copy views). A pandas
DataFrame comes back with its index, dtypes (categoricals included) and column labels,
through the pandas metadata pyarrow records in the schema: string, integer and float
labels and MultiIndex columns round-trip exactly. A DataFrame whose labels would not (mixed
or duplicate-as-text labels, tuples) or whose columns pyarrow cannot convert (objects of
mixed types) is refused with the reason, which `last_refusal` keeps for the warning
of an automatic fallback to pickle.
"""

from __future__ import annotations

import functools
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from payloadkit._serializer import Serializer
from payloadkit._serializers._optional import require
from payloadkit._serializers._parquet_options import parquet_options
from payloadkit._versions import newer_than
from payloadkit.errors import ConfigurationError, DeserializationError, SerializationError

if TYPE_CHECKING:
    from payloadkit._chunks import ChunkSource
    from payloadkit._partial import LazyReader, VerifiedFile

__all__ = ["ArrowSerializer", "ParquetSerializer", "last_refusal"]

#: Arrow IPC files are written in record batches of at most this many rows (as parquet's
#: row groups), so that a read of some rows needs only the batches that hold them.
BATCH_ROWS = 1 << 20
_PARTIAL = frozenset({"open", "columns", "rows"})

#: Older pyarrow runs code from crafted parquet and IPC files (CVE-2023-47248).
MIN_SAFE_PYARROW = "14.0.1"


@functools.cache
def _check_pyarrow_safe() -> None:
    """Refuse to read with a pyarrow that can run code from a crafted file."""
    pa = require("pyarrow", "Reading parquet and Arrow IPC")
    if newer_than(MIN_SAFE_PYARROW, pa.__version__.split("+")[0]):
        raise ConfigurationError(
            f"pyarrow {pa.__version__} can run code from a crafted parquet or Arrow IPC file "
            f"(CVE-2023-47248); payloadkit reads them with pyarrow {MIN_SAFE_PYARROW} or newer: "
            "pip install --upgrade pyarrow"
        )


_refusals = threading.local()


def last_refusal(obj: object) -> str | None:
    """Why this thread's last parquet/arrow save refused ``obj``, if it was that object."""
    found: tuple[int, str] | None = getattr(_refusals, "last", None)
    return found[1] if found is not None and found[0] == id(obj) else None


def _to_table(obj: Any, name: str) -> Any:
    try:
        return _convert(obj, name)
    except SerializationError as exc:
        _refusals.last = (id(obj), str(exc))
        raise


def _convert(obj: Any, name: str) -> Any:
    pa = require("pyarrow", f"The {name!r} serializer")
    if isinstance(obj, pa.Table):
        return obj
    pd = require("pandas", f"The {name!r} serializer")
    if not isinstance(obj, pd.DataFrame):
        raise SerializationError(
            f"the {name} serializer stores pandas DataFrames and pyarrow Tables"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pyarrow's note on mixed labels
            table = pa.Table.from_pandas(obj, preserve_index=None)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise SerializationError(f"pyarrow cannot convert this DataFrame: {exc}") from exc
    if not all(type(label) is str for label in obj.columns):
        _check_labels_survive(obj.columns, table, name)
    return table


def _check_labels_survive(columns: Any, table: Any, name: str) -> None:
    """Refuse labels that the pandas metadata would not rebuild exactly (checked on an empty
    table of the same schema, so it costs nothing)."""
    try:
        back = table.schema.empty_table().to_pandas().columns
        same = back.equals(columns) and back.dtype == columns.dtype
        same = same and list(back.names) == list(columns.names)
    except Exception:  # pandas cannot rebuild them at all
        same = False
    if not same:
        shown = ", ".join(repr(label) for label in list(columns)[:4])
        raise SerializationError(
            f"{name} keeps string, integer and float column labels and MultiIndex columns; "
            f"these ({shown}{', ...' if len(columns) > 4 else ''}) would come back changed"
        )


def _warm_round_trip(serializer: Serializer) -> None:
    """Save and load a one-row table, so that pyarrow's conversion code is loaded and ready."""
    _check_pyarrow_safe()
    pd = sys.modules.get("pandas")
    if pd is not None:  # the process works with DataFrames: warm their conversion as well
        sample, type_name = pd.DataFrame({"warm": [0.0]}), "pandas.core.frame.DataFrame"
    else:
        pa = require("pyarrow", f"The {serializer.name!r} serializer")
        sample, type_name = pa.table({"warm": [0.0]}), "pyarrow.lib.Table"
    serializer.load(memoryview(serializer.dumps(sample)), type_name)


def _from_table(table: Any, type_name: str, what: str) -> Any:
    if not type_name.startswith("pandas."):
        return table
    try:
        return table.to_pandas()
    except Exception as exc:  # hostile pandas metadata fails in many ways (JSON, keys, types)
        raise DeserializationError(
            f"the {what} holds a table pandas cannot rebuild: {type(exc).__name__}: {exc}"
        ) from None


class ParquetSerializer(Serializer):
    """Parquet files (pyarrow), readable by pandas, Spark, DuckDB, polars..."""

    name = "parquet"
    version = "1"
    types = ("pandas.DataFrame", "pyarrow.Table")
    extension = ".parquet"
    libraries = ("pyarrow", "pandas")
    writes_files = True
    writes_sequentially = True
    partial_reads = _PARTIAL

    def chunk_ends(self, source: ChunkSource) -> Sequence[int]:
        from payloadkit._serializers._tables import parquet_chunk_ends

        return parquet_chunk_ends(source)

    def open_reader(self, file: VerifiedFile, type_name: str) -> LazyReader:
        from payloadkit._serializers._tables import ParquetReader

        _check_pyarrow_safe()
        return ParquetReader(file, type_name)

    def warm_up(self) -> None:
        super().warm_up()
        require("pyarrow.parquet", "The 'parquet' serializer")
        _warm_round_trip(self)

    def dump_file(self, obj: Any, path: str) -> None:
        pq = require("pyarrow.parquet", "The 'parquet' serializer")
        table, options = parquet_options(_to_table(obj, self.name))
        pq.write_table(table, path, **options)

    def dumps(self, obj: Any) -> bytes:
        pa = require("pyarrow", "The 'parquet' serializer")
        pq = require("pyarrow.parquet", "The 'parquet' serializer")
        sink = pa.BufferOutputStream()
        table, options = parquet_options(_to_table(obj, self.name))
        pq.write_table(table, sink, **options)
        return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]

    def loads(self, data: memoryview) -> Any:
        return self.load(data, "pyarrow.Table")

    def load(self, data: memoryview, type_name: str) -> Any:
        pa = require("pyarrow", "The 'parquet' serializer")
        pq = require("pyarrow.parquet", "The 'parquet' serializer")
        _check_pyarrow_safe()
        try:
            table = pq.read_table(pa.BufferReader(pa.py_buffer(data)))
        except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
            raise DeserializationError(f"not a readable parquet file: {exc}") from None
        return _from_table(table, type_name, "parquet file")


class ArrowSerializer(Serializer):
    """Arrow IPC files (Feather v2), uncompressed so that loads are zero-copy views."""

    name = "arrow"
    version = "1"
    extension = ".arrow"
    libraries = ("pyarrow", "pandas")
    writes_files = True
    writes_sequentially = True
    partial_reads = _PARTIAL | {"mmap"}

    def chunk_ends(self, source: ChunkSource) -> Sequence[int]:
        from payloadkit._serializers._tables import arrow_chunk_ends

        return arrow_chunk_ends(source)

    def open_reader(self, file: VerifiedFile, type_name: str) -> LazyReader:
        from payloadkit._serializers._tables import ArrowReader

        _check_pyarrow_safe()
        return ArrowReader(file, type_name)

    def load_view(self, data: memoryview, type_name: str) -> Any:
        """The stored table as a zero-copy ``pyarrow.Table`` over ``data`` (whatever type
        was saved: a DataFrame payload's view is its Arrow table)."""
        return self._read_ipc(data)

    def warm_up(self) -> None:
        super().warm_up()
        require("pyarrow.ipc", "The 'arrow' serializer")
        _warm_round_trip(self)

    def dump_file(self, obj: Any, path: str) -> None:
        ipc = require("pyarrow.ipc", "The 'arrow' serializer")
        table = _to_table(obj, self.name)
        with ipc.new_file(path, table.schema) as writer:
            writer.write_table(table, max_chunksize=BATCH_ROWS)

    def dumps(self, obj: Any) -> bytes:
        pa = require("pyarrow", "The 'arrow' serializer")
        ipc = require("pyarrow.ipc", "The 'arrow' serializer")
        table = _to_table(obj, self.name)
        sink = pa.BufferOutputStream()
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=BATCH_ROWS)
        return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]

    def loads(self, data: memoryview) -> Any:
        return self.load(data, "pyarrow.Table")

    def load(self, data: memoryview, type_name: str) -> Any:
        return _from_table(self._read_ipc(data), type_name, "Arrow IPC file")

    def _read_ipc(self, data: memoryview) -> Any:
        pa = require("pyarrow", "The 'arrow' serializer")
        ipc = require("pyarrow.ipc", "The 'arrow' serializer")
        _check_pyarrow_safe()
        try:
            table = ipc.open_file(pa.BufferReader(pa.py_buffer(data))).read_all()
            # The IPC reader trusts the file's offsets; a hostile file could point them out
            # of bounds. Full validation checks them (a linear scan of offsets, not of data).
            table.validate(full=True)
        except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
            raise DeserializationError(f"not a readable Arrow IPC file: {exc}") from None
        return table
