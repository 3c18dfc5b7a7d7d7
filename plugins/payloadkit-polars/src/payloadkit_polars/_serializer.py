"""The ``polars`` serializer: polars' own parquet writer and reader.

A ``DataFrame`` is written with ``DataFrame.write_parquet`` straight to the store's spool
file, so the stored object is a plain ``.parquet`` file that polars, pandas, pyarrow,
DuckDB or Spark read. A ``LazyFrame`` is collected when it is saved (its query runs
then); it loads as a ``LazyFrame`` over the loaded data (``.lazy()``), so code that
expects a LazyFrame keeps working, but the query plan itself is not kept.

polars is imported only when a polars object is saved or loaded: the serializer's types
are dotted names, so discovering the plugin imports nothing heavy.
"""

from __future__ import annotations

import io
from typing import Any

from payloadkit import Serializer
from payloadkit.errors import SerializationError

__all__ = ["PolarsSerializer"]


def _polars() -> Any:
    try:
        import polars
    except ImportError as exc:  # the distribution depends on polars; a broken env is possible
        raise SerializationError(
            f"The 'polars' serializer needs polars, which cannot be imported ({exc}). "
            "Install it with: pip install payloadkit-polars"
        ) from None
    return polars


def _frame(obj: Any) -> Any:
    """The DataFrame to write: ``obj`` itself, or a LazyFrame collected."""
    pl = _polars()
    if isinstance(obj, pl.LazyFrame):
        try:
            return obj.collect()
        except pl.exceptions.PolarsError as exc:
            raise SerializationError(
                f"The LazyFrame's query failed when it was collected for saving: {exc}"
            ) from exc
    if isinstance(obj, pl.DataFrame):
        return obj
    raise SerializationError(
        f"the polars serializer stores polars DataFrames and LazyFrames, not {type(obj).__name__}"
    )


class PolarsSerializer(Serializer):
    """polars ``DataFrame`` / ``LazyFrame`` <-> parquet, with polars' native writer."""

    name = "polars"
    version = "1"
    types = ("polars.DataFrame", "polars.LazyFrame")
    extension = ".parquet"
    libraries = ("polars",)
    writes_files = True

    def dump_file(self, obj: Any, path: str) -> None:
        """Write ``obj`` as a parquet file at ``path``."""
        self._write(_frame(obj), path)

    def dumps(self, obj: Any) -> bytes:
        """The parquet bytes of ``obj``."""
        sink = io.BytesIO()
        self._write(_frame(obj), sink)
        return sink.getvalue()

    def loads(self, data: memoryview) -> Any:
        """A polars DataFrame from parquet bytes."""
        # polars reads a bytes object faster than a file-like view of the same bytes.
        return _polars().read_parquet(bytes(data))

    def load(self, data: memoryview, type_name: str) -> Any:
        """A DataFrame, or a LazyFrame over the data when a LazyFrame was saved."""
        frame = self.loads(data)
        lazy = type_name.startswith("polars.") and type_name.endswith(".LazyFrame")
        return frame.lazy() if lazy else frame

    @staticmethod
    def _write(frame: Any, target: str | io.BytesIO) -> None:
        pl = _polars()
        try:
            frame.write_parquet(target)
        except pl.exceptions.PolarsError as exc:
            raise SerializationError(
                f"polars cannot write this DataFrame as parquet: {exc}"
            ) from exc
