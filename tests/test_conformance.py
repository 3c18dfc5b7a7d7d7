"""Built-in serializers and stores pass the conformance suites shipped for plugins."""

from __future__ import annotations

import decimal
import uuid
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import payloadkit as pk
from payloadkit._registry import registry
from payloadkit.stores import Backend, FsspecStore, LocalBackend
from payloadkit.testing import BackendTests, SerializerTests, StoreTests

# -- serializers ----------------------------------------------------------------------------


def _frames() -> list[pd.DataFrame]:
    return [
        pd.DataFrame({"a": [1, 2, 3], "b": [0.5, None, 2.5], "c": pd.Categorical(["x", "y", "x"])}),
        pd.DataFrame({"v": np.arange(5)}, index=pd.Index([10, 20, 30, 40, 50], name="key")),
        pd.DataFrame({"s": ["p", "q"]}, index=pd.date_range("2026-01-01", periods=2)),
    ]


class TestPickle(SerializerTests):
    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return registry.get("pickle")

    @pytest.fixture
    def samples(self) -> list[Any]:
        return [{"a": 1}, [1, "two", 3.0], decimal.Decimal("1.25"), b"x" * 100_000]


class TestCloudpickle(TestPickle):
    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return registry.get("cloudpickle")


class TestDill(TestPickle):
    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return registry.get("dill")


class TestJson(SerializerTests):
    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return registry.get("json")

    @pytest.fixture
    def samples(self) -> list[Any]:
        return [{"a": [1, 2, {"b": None}]}, ["ü", 1.5, True], "text"]


class TestNumpy(SerializerTests):
    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return registry.get("numpy")

    @pytest.fixture
    def samples(self) -> list[Any]:
        return [
            np.arange(12.0).reshape(3, 4),
            np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
            np.zeros((0, 3)),
            np.array(["a", "bc"]),
            np.arange(300_000, dtype=np.uint8),
        ]

    def assert_same(self, expected: Any, actual: Any) -> None:
        assert type(actual) is np.ndarray
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)


class _TableSerializerTests(SerializerTests):
    @pytest.fixture
    def samples(self) -> list[Any]:
        return [*_frames(), pa.table({"x": [1, 2], "y": ["a", "b"]})]

    def assert_same(self, expected: Any, actual: Any) -> None:
        assert type(actual) is type(expected)
        if isinstance(expected, pd.DataFrame):
            # DatetimeIndex.freq is not kept by parquet or Arrow (documented).
            pd.testing.assert_frame_equal(actual, expected, check_freq=False)
        else:
            assert actual.equals(expected)


class TestParquet(_TableSerializerTests):
    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return registry.get("parquet")


class TestArrow(_TableSerializerTests):
    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return registry.get("arrow")


class TestFrame(SerializerTests):
    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return registry.get("frame")

    @pytest.fixture
    def samples(self) -> list[Any]:
        return [*_frames(), pd.DataFrame(np.arange(12.0).reshape(3, 4)), pd.DataFrame()]

    def assert_same(self, expected: Any, actual: Any) -> None:
        assert type(actual) is pd.DataFrame
        # Like parquet and Arrow, the format does not keep DatetimeIndex.freq (documented).
        pd.testing.assert_frame_equal(actual, expected, check_freq=False, check_exact=True)


# -- stores ---------------------------------------------------------------------------------


class TestLocalStore(StoreTests):
    @pytest.fixture
    def store(self, tmp_path: Path) -> pk.Store:
        return pk.open_store(tmp_path / "store")


class TestMemoryStore(StoreTests):
    @pytest.fixture
    def store(self) -> pk.Store:
        return pk.open_store(f"memory://conformance-{uuid.uuid4().hex}")


class TestFsspecRenameStore(StoreTests):
    """The generic fsspec path (temporary name, then move), on fsspec's local filesystem."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> pk.Store:
        fs = fsspec.filesystem("file")
        root = (tmp_path / "fsspec-store").as_posix()
        store = FsspecStore(fs, root, f"file-via-fsspec://{root}")
        assert store.backend.atomic_mode == "rename"
        return store


class TestLocalBackend(BackendTests):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        return LocalBackend(str(tmp_path / "root"))


class TestMemoryBackend(BackendTests):
    @pytest.fixture
    def backend(self) -> Backend:
        return pk.open_store(f"memory://backend-{uuid.uuid4().hex}").backend


class TestFsspecRenameBackend(BackendTests):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        root = (tmp_path / "fsspec-root").as_posix()
        return FsspecStore(fsspec.filesystem("file"), root, f"file-via-fsspec://{root}").backend
