"""Partial-read conformance: what `StoreTests` and `SerializerTests` check of partial reads.

A store must serve ranged reads that verify chunk by chunk: a flipped byte in a chunk
that is read raises `payloadkit.errors.IntegrityError`, one in a chunk that is not read
costs nothing, and a chunk table that lies never yields wrong data. A serializer that
declares ``partial_reads`` must give, for each capability it declares, what a full load
followed by the same selection gives.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from payloadkit import _chunks
from payloadkit._layout import manifest_key, object_key
from payloadkit._partial import CAPABILITIES
from payloadkit._ref import PayloadRef
from payloadkit._serializer import Serializer
from payloadkit.errors import IntegrityError, PartialReadError
from payloadkit.stores import Store, open_store

__all__ = ["PartialReadTests", "PartialSerializerTests", "select"]


def select(obj: Any, columns: Sequence[str] | None, rows: slice | None) -> Any:
    """What ``store.get(ref, columns=..., rows=...)`` returns, computed from the full object
    (pandas DataFrames and pyarrow Tables)."""
    kind = type(obj)
    if f"{kind.__module__}.{kind.__qualname__}" == "pyarrow.lib.Table":
        table = obj.select(list(columns)) if columns is not None else obj
        if rows is not None:
            start, stop, _ = rows.indices(table.num_rows)
            table = table.slice(start, max(0, stop - start))
        return table
    if hasattr(obj, "iloc") and hasattr(obj, "columns"):
        frame = obj[list(columns)] if columns is not None else obj
        return frame.iloc[rows] if rows is not None else frame
    raise NotImplementedError(
        f"override `select` to say what a partial read of a {kind.__name__} returns"
    )


@contextlib.contextmanager
def _every_object_chunked() -> Iterator[None]:
    saved = _chunks.MIN_TABLE_SIZE
    _chunks.MIN_TABLE_SIZE = 0
    try:
        yield
    finally:
        _chunks.MIN_TABLE_SIZE = saved


class PartialSerializerTests:
    """Checks of the partial reads a serializer declares (part of `SerializerTests`).

    Override `select` when the samples are not DataFrames or pyarrow Tables, and
    `assert_same_view` when a zero-copy view is not compared with ``assert_same``.
    """

    def assert_same(self, expected: Any, actual: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def select(self, obj: Any, columns: Sequence[str] | None, rows: slice | None) -> Any:
        """What a partial read of ``obj`` returns."""
        return select(obj, columns, rows)

    def assert_same_view(self, expected: Any, view: Any) -> None:
        """Assert that an ``mmap=True`` view shows the saved object, read-only."""
        flags = getattr(view, "flags", None)
        if flags is not None and hasattr(flags, "writeable"):
            assert not flags.writeable, "an mmap=True view must be read-only"
        if hasattr(expected, "iloc") and hasattr(view, "to_pandas"):
            view = view.to_pandas()
        self.assert_same(expected, view)

    def _stores(self, tmp_path: Path) -> list[Store]:
        return [
            open_store(tmp_path / f"partial-{uuid.uuid4().hex}"),
            open_store(f"memory://partial-{uuid.uuid4().hex}"),
        ]

    def test_declares_partial_reads(self, serializer: Serializer) -> None:
        """partial_reads is a frozenset of known capabilities; columns and rows imply open."""
        declared = serializer.partial_reads
        assert isinstance(declared, frozenset)
        assert declared <= CAPABILITIES, declared - CAPABILITIES
        if declared & {"columns", "rows"}:
            assert "open" in declared

    def test_partial_reads_match_full_reads(
        self, serializer: Serializer, samples: list[Any], tmp_path: Path
    ) -> None:
        """Each declared column and row read equals the same selection of a full load."""
        declared = serializer.partial_reads
        if not declared & {"columns", "rows"}:
            pytest.skip("the serializer declares no column or row reads")
        with _every_object_chunked():
            for store in self._stores(tmp_path):
                for sample in samples:
                    ref = store.put(sample, serializer=serializer)
                    assert store.info(ref).chunks is not None, "no chunk table was recorded"
                    handle = store.open(ref)
                    full = store.get(ref)
                    columns = handle.columns or []
                    if "columns" in declared and columns:
                        picked = [columns[-1], columns[0]] if len(columns) > 1 else columns[:1]
                        self.assert_same(
                            self.select(full, picked, None), store.get(ref, columns=picked)
                        )
                        with pytest.raises(PartialReadError):
                            store.get(ref, columns=["no such column " + uuid.uuid4().hex])
                    if "rows" in declared:
                        for rows in (slice(1, 2), slice(0, None), slice(-1, None), slice(5, 1)):
                            self.assert_same(self.select(full, None, rows), handle.read(rows=rows))
                        with pytest.raises(PartialReadError):
                            store.get(ref, rows=slice(0, 10, 2))

    def test_open_describes_without_loading(
        self, serializer: Serializer, samples: list[Any], tmp_path: Path
    ) -> None:
        """open() gives a handle whose read() is the object."""
        if "open" not in serializer.partial_reads:
            pytest.skip("the serializer declares no lazy reader")
        store = self._stores(tmp_path)[0]
        for sample in samples:
            ref = store.put(sample, serializer=serializer)
            handle = store.open(ref)
            shape = getattr(sample, "shape", None)
            if shape is not None and handle.shape is not None:
                assert tuple(handle.shape) == tuple(shape)
            self.assert_same(sample, handle.read())

    def test_mmap_view(self, serializer: Serializer, samples: list[Any], tmp_path: Path) -> None:
        """mmap=True gives a read-only view equal to the saved object."""
        if "mmap" not in serializer.partial_reads:
            pytest.skip("the serializer declares no zero-copy view")
        for store in self._stores(tmp_path):
            for sample in samples:
                ref = store.put(sample, serializer=serializer)
                self.assert_same_view(sample, store.get(ref, mmap=True))

    def test_undeclared_reads_are_refused(
        self, serializer: Serializer, samples: list[Any], tmp_path: Path
    ) -> None:
        """A partial read the serializer does not declare raises PartialReadError."""
        store = self._stores(tmp_path)[1]
        ref = store.put(samples[0], serializer=serializer)
        asks: dict[str, dict[str, Any]] = {
            "columns": {"columns": ["a"]},
            "rows": {"rows": slice(0, 1)},
            "mmap": {"mmap": True},
        }
        for name, kwargs in asks.items():
            if name not in serializer.partial_reads:
                with pytest.raises(PartialReadError):
                    store.get(ref, **kwargs)
        if "open" not in serializer.partial_reads:
            with pytest.raises(PartialReadError):
                store.open(ref)


class PartialReadTests:
    """Partial reads through a store (part of `StoreTests`), with parquet payloads."""

    def raw_get(self, store: Store, key: str) -> bytes:  # pragma: no cover - StoreTests'
        raise NotImplementedError

    def raw_set(self, store: Store, key: str, data: bytes) -> None:  # pragma: no cover
        raise NotImplementedError

    def _frame(self) -> Any:
        pd = pytest.importorskip("pandas")
        np = pytest.importorskip("numpy")
        pytest.importorskip("pyarrow")
        rng = np.random.default_rng(7)
        return pd.DataFrame({f"c{i}": rng.random(12_000) for i in range(4)})

    def _object(self, store: Store, ref: PayloadRef) -> tuple[str, bytes]:
        key = object_key(ref.digest, store.info(ref).extension)
        return key, self.raw_get(store, key)

    def _corrupt(self, store: Store, ref: PayloadRef, position: int) -> None:
        key, data = self._object(store, ref)
        flipped = bytearray(data)
        flipped[position] ^= 0xFF
        self.raw_set(store, key, bytes(flipped))

    def _rewrite_table(self, store: Store, ref: PayloadRef, change: Any) -> None:
        key = manifest_key(ref.digest, ref.serializer, ref.type)
        manifest = json.loads(self.raw_get(store, key))
        change(manifest["chunks"])
        self.raw_set(store, key, json.dumps(manifest).encode())

    def test_partial_reads_through_the_store(self, store: Store) -> None:
        """Columns, rows and open() through the store equal the selection of a full read,
        for parquet and Arrow payloads, fetching only part of the object."""
        frame = self._frame()
        for serializer in ("parquet", "arrow"):
            ref = store.put(frame, serializer=serializer)
            table = store.info(ref).chunks
            assert table is not None
            assert table.covered == ref.size
            assert store.get(ref, columns=["c2"]).equals(frame[["c2"]])
            assert store.get(ref, rows=slice(100, 200)).equals(frame.iloc[100:200])
            handle = store.open(ref)
            assert handle.columns == list(frame.columns)
            assert handle.shape == frame.shape
            assert handle.bytes_fetched < ref.size / 4
            part = handle.read(columns=["c1"], rows=slice(-5, None))
            assert part.equals(frame[["c1"]].iloc[-5:])
            assert handle.bytes_fetched < ref.size / 2

    def test_flipped_byte_in_a_read_chunk_is_caught(self, store: Store) -> None:
        """Corrupting a chunk that a partial read needs raises IntegrityError; corrupting
        one it does not need leaves the read intact (and the full get refuses)."""
        frame = self._frame()
        for serializer in ("parquet", "arrow"):
            ref = store.put(frame, serializer=serializer)
            table = store.info(ref).chunks
            assert table is not None
            needed = {i for i in range(len(table)) if self._needed(store, ref, table, i)}
            assert needed
            assert len(needed) < len(table)
            unread = next(i for i in range(len(table)) if i not in needed)
            key, original = self._object(store, ref)
            self._corrupt(store, ref, table.start(unread))
            assert store.get(ref, columns=["c0"]).equals(frame[["c0"]])
            with pytest.raises(IntegrityError):
                store.get(ref)
            self.raw_set(store, key, original)

    def _needed(self, store: Store, ref: PayloadRef, table: Any, index: int) -> bool:
        """Whether a read of column c0 fails when chunk ``index`` is corrupted."""
        key, original = self._object(store, ref)
        middle = (table.start(index) + table.ends[index]) // 2
        self._corrupt(store, ref, middle)
        try:
            store.get(ref, columns=["c0"])
        except IntegrityError as exc:
            return exc.digest == ref.digest
        finally:
            self.raw_set(store, key, original)
        return False

    def test_lying_chunk_tables_never_give_wrong_data(self, store: Store) -> None:
        """A table with overlapping ranges, ranges past the object, wrong digests or too
        few chunks raises IntegrityError or reads correct data, never anything else."""
        frame = self._frame()
        for serializer in ("parquet", "arrow"):
            self._lie_about(store, store.put(frame, serializer=serializer), frame)

    def _lie_about(self, store: Store, ref: PayloadRef, frame: Any) -> None:
        key = manifest_key(ref.digest, ref.serializer, ref.type)
        original = self.raw_get(store, key)

        def overlap(t: dict[str, Any]) -> None:
            t["ends"][1] = t["ends"][0]

        def past_end(t: dict[str, Any]) -> None:
            t["ends"][-1] = ref.size + 100

        def wrong_digest(t: dict[str, Any]) -> None:
            t["digests"] = t["digests"][1:] + t["digests"][:1]

        def too_few(t: dict[str, Any]) -> None:
            t["ends"], t["digests"] = t["ends"][:2], t["digests"][:2]

        def not_a_table(t: dict[str, Any]) -> None:
            t["ends"] = "everything"

        for lie in (overlap, past_end, wrong_digest, not_a_table):
            self._rewrite_table(store, ref, lie)
            with pytest.raises(IntegrityError):
                store.get(ref, columns=["c3"])
            self.raw_set(store, key, original)
        self._rewrite_table(store, ref, too_few)
        assert store.get(ref, columns=["c3"]).equals(frame[["c3"]])
        self.raw_set(store, key, original)

    def test_mmap_gives_a_read_only_view(self, store: Store) -> None:
        """mmap=True on an npy payload gives a read-only array equal to the saved one."""
        np = pytest.importorskip("numpy")
        array = np.arange(50_000, dtype=np.float64).reshape(500, 100)
        ref = store.put(array)
        view = store.get(ref, mmap=True)
        assert not view.flags.writeable
        np.testing.assert_array_equal(view, array)
        assert store.open(ref).shape == (500, 100)
        frame = self._frame()
        table = store.get(store.put(frame, serializer="arrow"), mmap=True)
        assert table.to_pandas().equals(frame)  # a zero-copy pyarrow.Table
