"""DataFrames that parquet can keep are kept as parquet; the others fall back to pickle with
a warning that names the reason and how to choose."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import payloadkit as pk
from payloadkit._serializers._pickle import SerializerFallbackWarning

KEPT = {
    "integer labels": pd.DataFrame([[1, 2], [3, 4]]),
    "float labels": pd.DataFrame([[1, 2]], columns=[0.5, 1.5]),
    "MultiIndex columns": pd.DataFrame(
        [[1, 2, 3]], columns=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)])
    ),
    "named column index": pd.DataFrame([[1]], columns=pd.Index(["x"], name="cols")),
}
REFUSED = {
    "mixed labels": (pd.DataFrame([[1, 2]], columns=[0, "a"]), "would come back changed"),
    "labels equal as text": (pd.DataFrame([[1, 2]], columns=[1, "1"]), "would come back changed"),
    "mixed objects": (pd.DataFrame({"a": [1, "x"]}), "pyarrow cannot convert"),
}


@pytest.mark.parametrize("name", list(KEPT))
def test_labels_parquet_keeps_round_trip_as_parquet(tmp_path: Path, name: str) -> None:
    """Integer, float and MultiIndex column labels are stored as parquet and come back equal."""
    frame = KEPT[name]
    store = pk.open_store(tmp_path / "store")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = store.put(frame)
    assert ref.serializer == "parquet"
    back = store.get(ref)
    pd.testing.assert_frame_equal(back, frame)
    assert back.columns.names == frame.columns.names
    on_disk = pd.read_parquet(tmp_path / "store" / store.info(ref).object_key)
    pd.testing.assert_frame_equal(on_disk, frame)


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_fallback_to_pickle_is_announced(tmp_path: Path, name: str) -> None:
    """A DataFrame parquet refuses is pickled with a SerializerFallbackWarning giving why."""
    frame, reason = REFUSED[name]
    store = pk.open_store(tmp_path / "store")
    with pytest.warns(SerializerFallbackWarning, match=reason) as caught:
        ref = store.put(frame)
    assert "serializer='pickle'" in str(caught[0].message)
    assert ref.serializer == "pickle"
    pd.testing.assert_frame_equal(store.get(ref), frame)


def test_choosing_pickle_is_quiet(tmp_path: Path) -> None:
    """serializer='pickle' stores such a frame without a warning."""
    store = pk.open_store(tmp_path / "store")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = store.put(REFUSED["mixed labels"][0], "pickle")
    assert ref.serializer == "pickle"
