"""SerializerTests: the conformance suite every serializer passes, built-in or plugin."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from payloadkit._digest import hash_buffers
from payloadkit._filehash import hash_while_writing
from payloadkit._serializer import Serializer
from payloadkit.stores import open_store
from payloadkit.testing._partial_tests import PartialSerializerTests

__all__ = ["SerializerTests"]


class SerializerTests(PartialSerializerTests):
    """Subclass in your tests and provide the ``serializer`` and ``samples`` fixtures.

    ```python title="tests/test_my_serializer.py"
    import pytest
    from payloadkit.testing import SerializerTests
    from my_plugin import MySerializer

    class TestMySerializer(SerializerTests):
        @pytest.fixture
        def serializer(self):
            return MySerializer()

        @pytest.fixture
        def samples(self):
            return [my_object(), another_object()]
    ```

    Override `assert_same` when ``==`` does not compare your objects (DataFrames). A
    serializer that declares ``partial_reads`` is checked for each capability it declares
    (override `select` to say what a partial read of your objects returns).
    """

    @pytest.fixture
    def serializer(self) -> Serializer:
        """The serializer under test."""
        raise NotImplementedError("provide a `serializer` fixture")

    @pytest.fixture
    def samples(self) -> list[Any]:
        """Objects the serializer must round-trip."""
        raise NotImplementedError("provide a `samples` fixture")

    def assert_same(self, expected: Any, actual: Any) -> None:
        """Assert that a loaded object equals the one saved."""
        assert type(actual) is type(expected)
        assert actual == expected

    # -- declarations ---------------------------------------------------------------
    def test_declares_a_name_and_version(self, serializer: Serializer) -> None:
        """The serializer has a non-empty, path-safe name and a string version."""
        assert isinstance(serializer, Serializer)
        assert re.fullmatch(r"[A-Za-z0-9_.+-]{1,100}", serializer.name)
        assert isinstance(serializer.version, str)
        assert serializer.version

    def test_declares_capabilities(self, serializer: Serializer) -> None:
        """Capability attributes have the documented types."""
        assert isinstance(serializer.runs_code_on_load, bool)
        assert isinstance(serializer.writes_files, bool)
        assert isinstance(serializer.writes_sequentially, bool)
        assert re.fullmatch(r"(\.[A-Za-z0-9_-]{1,16}){0,3}", serializer.extension)
        assert all(isinstance(t, type | str) for t in serializer.types)
        assert all(isinstance(lib, str) for lib in serializer.libraries)

    def test_samples_are_given(self, samples: list[Any]) -> None:
        """The suite has objects to work with."""
        assert samples

    # -- round trips ------------------------------------------------------------------
    def test_dumps_loads_roundtrip(self, serializer: Serializer, samples: list[Any]) -> None:
        """dumps then load (with the recorded type) rebuilds each sample."""
        for sample in samples:
            data = serializer.dumps(sample)
            self.assert_same(sample, serializer.load(memoryview(data), _type_name(sample)))

    def test_frames_concatenate_to_loadable_bytes(
        self, serializer: Serializer, samples: list[Any]
    ) -> None:
        """The concatenated frames are bytes the serializer loads back."""
        for sample in samples:
            joined = b"".join(
                bytes(memoryview(f).cast("B")) for f in serializer.dump_frames(sample)
            )
            self.assert_same(sample, serializer.load(memoryview(joined), _type_name(sample)))

    def test_file_roundtrip(
        self, serializer: Serializer, samples: list[Any], tmp_path: Path
    ) -> None:
        """A serializer that writes files writes bytes it loads back."""
        if not serializer.writes_files:
            pytest.skip("the serializer does not write files")
        for index, sample in enumerate(samples):
            path = tmp_path / f"{index}{serializer.extension}"
            serializer.dump_file(sample, os.fspath(path))
            self.assert_same(
                sample, serializer.load(memoryview(path.read_bytes()), _type_name(sample))
            )

    def test_sequential_writes_hash_like_the_finished_file(
        self, serializer: Serializer, samples: list[Any], tmp_path: Path
    ) -> None:
        """A file hashed while a writer declaring writes_sequentially writes it gets its digest."""
        if not (serializer.writes_files and serializer.writes_sequentially):
            pytest.skip("the serializer does not declare sequential file writes")
        for index, sample in enumerate(samples):
            path = os.fspath(tmp_path / f"{index}{serializer.extension}")
            Path(path).touch()
            digest, size = hash_while_writing(path, lambda: serializer.dump_file(sample, path))  # noqa: B023
            data = memoryview(Path(path).read_bytes())
            assert (digest, size) == (hash_buffers([data]), data.nbytes)

    def test_warm_up_leaves_round_trips_intact(
        self, serializer: Serializer, samples: list[Any]
    ) -> None:
        """warm_up (which workers call at their start) succeeds and changes no result."""
        serializer.warm_up()
        for sample in samples:
            data = serializer.dumps(sample)
            self.assert_same(sample, serializer.load(memoryview(data), _type_name(sample)))

    def test_loads_from_read_only_and_writable_views(
        self, serializer: Serializer, samples: list[Any]
    ) -> None:
        """Loading works from a read-only view and from a writable one."""
        sample = samples[0]
        data = bytes(serializer.dumps(sample))
        self.assert_same(sample, serializer.load(memoryview(data), _type_name(sample)))
        self.assert_same(sample, serializer.load(memoryview(bytearray(data)), _type_name(sample)))

    def test_roundtrip_through_stores(
        self, serializer: Serializer, samples: list[Any], tmp_path: Path
    ) -> None:
        """Each sample survives a local and a memory store, with the serializer recorded."""
        stores = [
            open_store(tmp_path / "store"),
            open_store(f"memory://conformance-{uuid.uuid4().hex}"),
        ]
        for store in stores:
            for sample in samples:
                ref = store.put(sample, serializer=serializer)
                assert ref.serializer == serializer.name
                assert ref.serializer_version == serializer.version
                self.assert_same(sample, store.get(ref))

    def test_empty_bytes_do_not_load(self, serializer: Serializer) -> None:
        """A serializer that runs no code refuses empty input instead of inventing an object."""
        if serializer.runs_code_on_load:
            pytest.skip("code-running formats rely on the store's digest check")
        with pytest.raises(Exception):  # noqa: B017, PT011 - the format's own error is fine
            serializer.load(memoryview(b""), "builtins.object")


def _type_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
