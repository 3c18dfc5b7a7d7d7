"""Partial reads from S3: ranged requests of verified chunks, the verified cache, mmap views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests._s3server import on_every_server

import payloadkit as pk

pytestmark = [pytest.mark.s3, on_every_server]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame({f"c{i}": rng.random(30_000) for i in range(10)})


def test_one_column_moves_a_tenth(s3_store: pk.Store) -> None:
    """One of ten columns fetches about a tenth of the object, from the store itself."""
    frame = _frame()
    ref = s3_store.put(frame)
    handle = s3_store.open(ref)
    pd.testing.assert_frame_equal(handle.read(columns=["c7"]), frame[["c7"]])
    assert handle.bytes_fetched < ref.size * 0.15


def test_a_cached_payload_is_read_from_the_cache(s3_store: pk.Store) -> None:
    """Once a full get put the payload in the verified cache, partial reads move no bytes,
    and an mmap=True view maps the cache's copy."""
    frame = _frame()
    ref = s3_store.put(frame, serializer="arrow")
    s3_store.get(ref)  # fills the cache
    handle = s3_store.open(ref)
    pd.testing.assert_frame_equal(handle.read(rows=slice(10, 20)), frame.iloc[10:20])
    assert handle.bytes_fetched == 0
    view = s3_store.get(ref, mmap=True)
    assert type(view).__name__ == "Table"  # a pyarrow.Table over the mapping
    assert view.to_pandas().equals(frame)
