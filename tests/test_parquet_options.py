"""Parquet writer options chosen per column: dictionaries and compression only where they pay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import payloadkit as pk
from payloadkit._serializers._parquet_options import METADATA_KEY, parquet_options

N = 50_000


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "measurement": rng.random(N),  # distinct, incompressible
            "kind": pd.Categorical.from_codes(rng.integers(0, 5, N), list("abcde")),
            "city": rng.choice(["Lyon", "Oslo", "Pune"], N),  # few distinct strings
            "step": np.repeat(np.arange(N // 100, dtype=np.float64), 100),  # few distinct
            "zeros": np.zeros(N),
            "id": rng.integers(0, 1 << 60, N),
        }
    )


def _stored_file(tmp_path: Path, df: pd.DataFrame) -> Path:
    store = pk.open_store(tmp_path / "store")
    ref = store.put(df)
    assert ref.serializer == "parquet"
    (path,) = (tmp_path / "store" / "objects").rglob("*.parquet")
    pd.testing.assert_frame_equal(store.get(ref), df)
    return path


def _column_chunks(path: Path) -> dict[str, pq.ColumnChunkMetaData]:
    metadata = pq.ParquetFile(path).metadata
    group = metadata.row_group(0)
    return {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}


def test_each_column_gets_what_pays(tmp_path: Path) -> None:
    path = _stored_file(tmp_path, _frame())
    chunks = _column_chunks(path)
    assert chunks["measurement"].compression == "UNCOMPRESSED"
    assert "RLE_DICTIONARY" not in chunks["measurement"].encodings
    assert "RLE_DICTIONARY" in chunks["kind"].encodings
    assert "RLE_DICTIONARY" in chunks["city"].encodings
    assert "RLE_DICTIONARY" in chunks["step"].encodings
    assert chunks["zeros"].compression == "SNAPPY"
    assert chunks["id"].compression == "UNCOMPRESSED"


def test_the_choice_is_recorded_and_the_file_stays_plain_parquet(tmp_path: Path) -> None:
    df = _frame()
    path = _stored_file(tmp_path, df)
    schema = pq.read_schema(path)
    chosen = json.loads(schema.metadata[METADATA_KEY])
    assert set(chosen["dictionary"]) == {"kind", "city", "step", "zeros"}
    assert chosen["compression"]["measurement"] == "none"
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)  # pandas' metadata is kept


def test_compressible_floats_without_dictionary_use_byte_stream_split() -> None:
    values = np.cumsum(np.full(N, 0.5))  # distinct, but their high bytes repeat
    table, options = parquet_options(pa.table({"x": values}))
    if options["compression"]["x"] == "snappy":
        assert options["column_encoding"] == {"x": "BYTE_STREAM_SPLIT"}
    else:
        assert "column_encoding" not in options
    assert METADATA_KEY in table.schema.metadata


def test_duplicate_and_nested_columns_keep_pyarrow_defaults() -> None:
    duplicate = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"])
    assert parquet_options(duplicate) == (duplicate, {})
    nested = pa.table({"a": [[1, 2], [3]], "b": [1.0, 2.0]})
    assert parquet_options(nested) == (nested, {})


def test_empty_tables_and_frames_round_trip(tmp_path: Path) -> None:
    store = pk.open_store(tmp_path / "store")
    for df in (pd.DataFrame({"a": pd.Series([], dtype=float)}), pd.DataFrame()):
        pd.testing.assert_frame_equal(store.get(store.put(df)), df)
