"""Partial and lazy reads beyond the conformance suites: layouts, signatures, fallbacks, errors."""

from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import payloadkit as pk
from payloadkit._chunks import MAX_CHUNKS, ChunkSource, ChunkTable, build_table
from payloadkit._layout import manifest_key
from payloadkit._manifest import Manifest
from payloadkit._serializers import _arrow
from payloadkit._signing import Keyring
from payloadkit.errors import IntegrityError, PartialReadError, SignatureError


@pytest.fixture
def store(tmp_path: Path) -> pk.Store:
    return pk.open_store(tmp_path / "store")


def _frame(rows: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({f"c{i}": rng.random(rows) for i in range(5)})


def _manifest_path(store: pk.Store, ref: pk.PayloadRef) -> Path:
    return Path(store.root, manifest_key(ref.digest, ref.serializer, ref.type))  # type: ignore[attr-defined]


def test_parquet_row_groups_are_read_one_by_one(store: pk.Store) -> None:
    """A row slice inside one of several row groups fetches about that group's share."""
    frame = pd.DataFrame({"a": np.arange(2_500_000, dtype=np.int8), "b": np.int16(7)})
    ref = store.put(frame)
    handle = store.open(ref)
    part = handle.read(rows=slice(1_100_000, 1_100_010))
    pd.testing.assert_frame_equal(part, frame.iloc[1_100_000:1_100_010])
    assert handle.bytes_fetched < ref.size / 2


def test_arrow_batches_and_columns(store: pk.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrow payloads written in several batches read rows across batch edges and single
    columns, fetching less than the whole file."""
    monkeypatch.setattr(_arrow, "BATCH_ROWS", 3_000)
    frame = _frame()
    ref = store.put(frame, serializer="arrow")
    handle = store.open(ref)
    assert handle.shape == frame.shape
    pd.testing.assert_frame_equal(handle.read(rows=slice(2_990, 6_010)), frame.iloc[2_990:6_010])
    pd.testing.assert_frame_equal(handle.read(columns=["c4"]), frame[["c4"]])
    assert handle.bytes_fetched < ref.size * 0.6
    table = pa.Table.from_pandas(frame, preserve_index=False)
    tref = store.put(table, serializer="arrow")
    assert store.get(tref, columns=["c1"], rows=slice(5, 9)).equals(
        table.select(["c1"]).slice(5, 4)
    )


def test_index_and_labels_survive(store: pk.Store) -> None:
    """A named index comes along with the columns read; a RangeIndex keeps its labels."""
    frame = _frame(5_000).set_index(pd.Index(np.arange(5_000) * 3, name="key"))
    for serializer in ("parquet", "arrow"):
        ref = store.put(frame, serializer=serializer)
        pd.testing.assert_frame_equal(store.get(ref, columns=["c2"]), frame[["c2"]])
        stepped = _frame(5_000)
        stepped.index = pd.RangeIndex(10, 10 + 2 * 5_000, 2)
        sref = store.put(stepped, serializer=serializer)
        pd.testing.assert_frame_equal(store.get(sref, rows=slice(7, 12)), stepped.iloc[7:12])


def test_chunk_table_is_signed(store: pk.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a key, the signature covers the table: an altered table no longer verifies, and
    the payload is refused before anything is read."""
    monkeypatch.setenv("PAYLOADKIT_SECRET", "partial-reads-test-key-0123456789")
    pk.configure(secret="partial-reads-test-key-0123456789")
    try:
        frame = _frame()
        ref = store.put(frame)
        path = _manifest_path(store, ref)
        data = json.loads(path.read_text())
        manifest = Manifest.parse(path.read_bytes(), store.url, ref.digest)
        keyring = Keyring(["partial-reads-test-key-0123456789"])
        assert keyring.verify(manifest.signed_fields, manifest.signature) is None
        data["chunks"]["digests"][1] = "0" * 64
        path.write_text(json.dumps(data))
        altered = Manifest.parse(path.read_bytes(), store.url, ref.digest)
        assert keyring.verify(altered.signed_fields, altered.signature) is not None
        # parquet runs no code, but with a key a manifest that does not verify is refused
        for read in (lambda: store.get(ref, columns=["c0"]), lambda: store.open(ref)):
            with pytest.raises(SignatureError):
                read()
        # Without its signature the manifest loads (parquet runs no code), but its table is
        # not trusted: the partial read reads and verifies the whole object.
        del data["signature"]
        path.write_text(json.dumps(data))
        handle = store.open(ref)
        pd.testing.assert_frame_equal(handle.read(columns=["c0"]), frame[["c0"]])
        assert handle.bytes_fetched == ref.size
    finally:
        pk.configure(secret=None)


def test_manifest_without_table_reads_whole(store: pk.Store) -> None:
    """A manifest without a chunk table (older versions) gives the same partial read,
    through one verified whole read."""
    frame = _frame()
    ref = store.put(frame)
    path = _manifest_path(store, ref)
    data = json.loads(path.read_text())
    del data["chunks"]
    path.write_text(json.dumps(data))
    handle = store.open(ref)
    pd.testing.assert_frame_equal(handle.read(columns=["c1"]), frame[["c1"]])
    assert handle.bytes_fetched == ref.size


def test_truncated_object_is_refused(store: pk.Store) -> None:
    """Bytes cut short behind the store's back fail the chunk check of what is read."""
    ref = store.put(_frame())
    key = store.info(ref).object_key
    path = Path(store.root, key)  # type: ignore[attr-defined]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IntegrityError) as caught:
        store.get(ref, columns=["c0"])
    assert caught.value.digest == ref.digest


def test_typed_errors(store: pk.Store) -> None:
    """Bad selections and unsupported reads raise PartialReadError saying what exists."""
    ref = store.put(_frame())
    bad: list[dict[str, Any]] = [
        {"columns": "c0"},
        {"columns": ["c0", "zz"]},
        {"rows": slice(0, 10, 2)},
        {"rows": 5},
        {"rows": slice("a", None)},
        {"mmap": True},
        {"mmap": True, "columns": ["c0"]},
    ]
    for kwargs in bad:
        with pytest.raises(PartialReadError) as caught:
            store.get(ref, **kwargs)
        assert caught.value.digest == ref.digest
    with pytest.raises(PartialReadError, match="'c4'"):
        store.get(ref, columns=["zz"])
    with pytest.raises(PartialReadError, match="pickle"):
        store.open(store.put({"a": 1}))


def test_mmap_maps_the_local_file(store: pk.Store) -> None:
    """On a local store a large npy view lies over a mapping of the file, read-only."""
    array = np.arange(1 << 18, dtype=np.float64)
    view = store.get(store.put(array), mmap=True)
    np.testing.assert_array_equal(view, array)
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 1.0
    assert isinstance(_buffer_owner(view), mmap.mmap)


def test_payload_open_does_not_load(store: pk.Store) -> None:
    """Payload.open() describes the payload without loading its value."""
    frame = _frame()
    p = pk.Payload.from_ref(store.put(frame))
    handle = p.open()
    assert handle.columns == list(frame.columns)
    assert not p.is_loaded
    fresh = pk.Payload(frame)
    assert fresh.open().shape == frame.shape  # saved first, then opened


def test_chunk_layout_limits() -> None:
    """Big chunks are cut, many boundaries are merged, and parsing refuses what is malformed."""
    data = memoryview(bytes(range(256)) * 4096)  # 1 MiB
    table = build_table(ChunkSource([data]), [*range(1, data.nbytes, 97), data.nbytes], "blake3")
    assert table is not None
    assert len(table) <= MAX_CHUNKS
    assert table.covered == data.nbytes
    assert all(table.check(i, data[table.start(i) : table.ends[i]]) for i in range(len(table)))
    parsed = ChunkTable.from_dict(table.to_dict(), data.nbytes)
    assert parsed == table
    for broken in (
        {**table.to_dict(), "ends": [10, 5]},
        {**table.to_dict(), "algorithm": "md5"},
        {**table.to_dict(), "digests": ["x"] * len(table)},
        {**table.to_dict(), "extra": 1},
        [1, 2],
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - the manifest turns it into IntegrityError
            ChunkTable.from_dict(broken, data.nbytes)
    with pytest.raises(ValueError, match="past"):
        ChunkTable.from_dict(table.to_dict(), data.nbytes - 1)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_table_layout_and_any_flipped_byte(tmp_path: Path, data: st.DataObject) -> None:
    """Whatever boundaries a (consistent) table draws and whichever byte is flipped, a
    partial read returns the right columns or raises IntegrityError."""
    store = pk.open_store(tmp_path / f"store-{data.draw(st.integers(0, 10**9))}")
    frame = _frame(6_000)
    serializer = data.draw(st.sampled_from(["parquet", "arrow"]))
    ref = store.put(frame, serializer=serializer)
    obj = Path(store.root, store.info(ref).object_key)  # type: ignore[attr-defined]
    original = obj.read_bytes()
    ends = data.draw(st.lists(st.integers(1, ref.size), min_size=1, max_size=40))
    covered = data.draw(st.sampled_from([ref.size, max(ends)]))
    table = build_table(ChunkSource([memoryview(original)]), [*ends, covered], "blake3")
    assert table is not None
    path = _manifest_path(store, ref)
    manifest = json.loads(path.read_text())
    manifest["chunks"] = table.to_dict()
    path.write_text(json.dumps(manifest))
    columns = data.draw(st.lists(st.sampled_from(list(frame.columns)), min_size=1, unique=True))
    rows = data.draw(st.sampled_from([None, slice(0, 10), slice(2_000, 5_000)]))
    expected = frame[columns] if rows is None else frame[columns].iloc[rows]
    pd.testing.assert_frame_equal(store.get(ref, columns=columns, rows=rows), expected)
    position = data.draw(st.integers(0, ref.size - 1))
    flipped = bytearray(original)
    flipped[position] ^= 1 << data.draw(st.integers(0, 7))
    obj.write_bytes(bytes(flipped))
    got: Any = None
    refused: IntegrityError | None = None
    try:
        got = store.get(ref, columns=columns, rows=rows)
    except IntegrityError as exc:
        refused = exc
    if refused is not None:
        assert refused.digest == ref.digest
    else:
        pd.testing.assert_frame_equal(got, expected)


def test_mmap_of_a_small_file_maps_it_and_verifies(store: pk.Store) -> None:
    """A small npy payload is mapped too (read-only); a corrupted file is refused."""
    array = np.arange(10, dtype=np.int64)
    ref = store.put(array)
    view = store.get(ref, mmap=True)
    np.testing.assert_array_equal(view, array)
    assert isinstance(_buffer_owner(view), mmap.mmap)
    path = Path(store.root, store.info(ref).object_key)  # type: ignore[attr-defined]
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        store.get(ref, mmap=True)


def _buffer_owner(array: Any) -> Any:
    """The object that owns an array's memory (through views and memoryviews)."""
    base: Any = array
    while getattr(base, "base", None) is not None:
        base = base.base
    return base.obj if isinstance(base, memoryview) else base


def test_an_object_that_cannot_be_cut_is_saved_without_a_table(
    store: pk.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serializer whose chunk_ends fails does not fail the save: no table is recorded,
    and partial reads read the whole object, verified."""

    def refuse(self: Any, source: ChunkSource) -> list[int]:
        raise ValueError("cannot cut this one")

    monkeypatch.setattr(_arrow.ParquetSerializer, "chunk_ends", refuse)
    frame = _frame()
    ref = store.put(frame)
    assert store.info(ref).chunks is None
    handle = store.open(ref)
    pd.testing.assert_frame_equal(handle.read(columns=["c2"]), frame[["c2"]])
    assert handle.bytes_fetched == ref.size
