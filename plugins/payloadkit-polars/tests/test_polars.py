"""The polars plugin: conformance, discovery by type, plain parquet files, errors."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import payloadkit as pk
from payloadkit.errors import SerializationError
from payloadkit.testing import SerializerTests
from payloadkit_polars import PolarsSerializer

INSTALLED = any(
    ep.value == "payloadkit_polars:PolarsSerializer"
    for ep in importlib.metadata.entry_points(group="payloadkit.serializers", name="polars")
)
needs_install = pytest.mark.skipif(
    not INSTALLED, reason="payloadkit-polars is not installed (run `tox -e plugin-polars`)"
)


def _frames() -> list[pl.DataFrame]:
    return [
        pl.DataFrame(
            {
                "i": [1, 2, None],
                "f": [0.5, float("nan"), -1.0],
                "s": ["a", None, "ü"],
                "c": pl.Series(["x", "y", "x"], dtype=pl.Categorical),
                "t": [datetime.datetime(2026, 1, d) for d in (1, 2, 3)],
                "l": [[1], [], [2, 3]],
                "st": [{"p": 1}, {"p": 2}, None],
            }
        ),
        pl.DataFrame({"empty": pl.Series([], dtype=pl.Int32)}),
        pl.DataFrame({"big": range(200_000)}),
    ]


class TestPolarsSerializer(SerializerTests):
    """The plugin passes the conformance suite every serializer passes."""

    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return PolarsSerializer()

    @pytest.fixture
    def samples(self) -> list[Any]:
        frames = _frames()
        return [*frames, frames[0].lazy().filter(pl.col("i") > 1)]

    def assert_same(self, expected: Any, actual: Any) -> None:
        assert type(actual) is type(expected)
        if isinstance(expected, pl.LazyFrame):
            expected, actual = expected.collect(), actual.collect()
        assert_frame_equal(actual, expected)


@pytest.fixture
def store(tmp_path: Path) -> pk.Store:
    """A fresh local store."""
    return pk.open_store(tmp_path / "store")


def test_lazyframe_is_collected_and_loads_lazy(store: pk.Store) -> None:
    """A LazyFrame is saved as its collected result and loads as a LazyFrame over it."""
    lazy = pl.LazyFrame({"a": [1, 2, 3]}).with_columns(b=pl.col("a") * 2)
    ref = store.put(lazy, serializer=PolarsSerializer())
    loaded = store.get(ref)
    assert isinstance(loaded, pl.LazyFrame)
    assert_frame_equal(loaded.collect(), pl.DataFrame({"a": [1, 2, 3], "b": [2, 4, 6]}))


def test_stored_object_is_a_plain_parquet_file(store: pk.Store) -> None:
    """The stored object is a .parquet file other tools read as they would any other."""
    frame = _frames()[0]
    ref = store.put(frame, serializer=PolarsSerializer())
    path = os.path.join(store.root, *store.info(ref).object_key.split("/"))  # type: ignore[attr-defined]
    assert path.endswith(".parquet")
    assert_frame_equal(pl.read_parquet(path), frame)
    assert pq.read_table(path).column_names == frame.columns


def test_loaded_frame_is_independent_of_the_store(store: pk.Store) -> None:
    """A loaded DataFrame can be changed without touching the stored bytes."""
    ref = store.put(pl.DataFrame({"a": [1, 2]}), serializer=PolarsSerializer())
    loaded = store.get(ref)
    loaded = loaded.with_columns(pl.col("a") + 10)
    assert store.get(ref)["a"].to_list() == [1, 2]


@pytest.mark.parametrize("bad", [{"a": 1}, [1, 2], pl.Series([1])])
def test_refuses_other_objects(bad: object) -> None:
    """Anything but a DataFrame or LazyFrame is a SerializationError."""
    with pytest.raises(SerializationError, match="stores polars DataFrames and LazyFrames"):
        PolarsSerializer().dumps(bad)


def test_unwritable_frame_is_a_serialization_error() -> None:
    """A column polars cannot write as parquet (Python objects) is a SerializationError."""
    frame = pl.DataFrame({"o": [object()]}, schema={"o": pl.Object})
    with pytest.raises(SerializationError, match="cannot write this DataFrame"):
        PolarsSerializer().dumps(frame)


def test_failing_lazy_query_is_a_serialization_error() -> None:
    """A LazyFrame whose query fails when collected is a SerializationError naming it."""
    lazy = pl.LazyFrame({"a": ["x"]}).select(pl.col("a").cast(pl.Int64, strict=True))
    with pytest.raises(SerializationError, match="query failed"):
        PolarsSerializer().dumps(lazy)


@needs_install
def test_installed_plugin_is_chosen_by_type(store: pk.Store) -> None:
    """Installed, the plugin is discovered and chosen for polars objects with no import."""
    ref = store.put(pl.DataFrame({"a": [1]}))
    assert ref.serializer == "polars"
    assert store.info(ref).distribution == "payloadkit-polars"
    assert store.put(pl.LazyFrame({"a": [2]})).serializer == "polars"
    (info,) = [i for i in pk.serializers() if i.name == "polars"]
    assert (info.origin, info.status) == ("plugin", "ok")
    assert "registered for polars.dataframe.frame.DataFrame" in str(pk.explain(pl.DataFrame()))


@needs_install
def test_discovery_imports_no_polars() -> None:
    """Listing serializers imports the plugin but not polars itself."""
    import subprocess
    import sys

    code = (
        "import sys, payloadkit as pk; "
        "assert 'polars' in [i.name for i in pk.serializers() if i.status == 'ok']; "
        "assert 'payloadkit_polars' in sys.modules; "
        "print(sorted(m for m in ('polars', 'pyarrow', 'pandas', 'numpy') if m in sys.modules))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
