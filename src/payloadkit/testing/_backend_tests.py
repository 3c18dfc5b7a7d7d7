"""BackendTests: the conformance suite every `payloadkit.stores.Backend` passes.

A store plugin subclasses it and provides a ``backend`` fixture returning an empty backend;
the built-in local, memory and S3 backends pass the same tests. Every guarantee the Store
builds on is checked here: atomic whole values, fresh listings with sizes and times,
FileNotFoundError for missing keys, refusal to read more than asked, moves, copies and the
declared capabilities. Then `payloadkit.testing.StoreTests` runs the payload protocol
on top (``pk.Store(backend)``).
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import pytest

from payloadkit.stores import Backend, IncompleteUploads, StartsWrites

__all__ = ["BackendTests"]


class BackendTests:
    """Subclass in your tests and provide a ``backend`` fixture returning an empty backend.

    ```python
    import pytest
    from payloadkit.stores import LocalBackend
    from payloadkit.testing import BackendTests

    class TestMyBackend(BackendTests):
        @pytest.fixture
        def backend(self, tmp_path):
            return LocalBackend(str(tmp_path / "root"))
    ```
    """

    @pytest.fixture
    def backend(self) -> Backend:
        """An empty backend under test."""
        raise NotImplementedError("provide a `backend` fixture")

    def test_write_read_roundtrip(self, backend: Backend) -> None:
        """A value written is read back whole, and replaced whole by the next write."""
        backend.write("a/b/c.json", b"first")
        assert backend.read("a/b/c.json", 100) == b"first"
        backend.write("a/b/c.json", b"second, longer")
        assert backend.read("a/b/c.json", 100) == b"second, longer"

    def test_frames_are_written_end_to_end(self, backend: Backend) -> None:
        """Frames land as one value, in order, and read back through read_object."""
        frames = [memoryview(b"abc"), memoryview(b""), memoryview(os.urandom(70_000))]
        backend.write_frames("objects/x.bin", frames)
        expected = b"".join(frames)
        assert bytes(backend.read_object("objects/x.bin", len(expected))) == expected
        assert backend.read_range("objects/x.bin", 2, 10) == expected[2:10]

    def test_write_file(self, backend: Backend, tmp_path: os.PathLike[str]) -> None:
        """A local file's bytes become the value, and an empty file an empty value."""
        path = os.path.join(tmp_path, "source.bin")
        data = os.urandom(200_000)
        with open(path, "wb") as f:
            f.write(data)
        backend.write_file("objects/f.bin", path)
        assert bytes(backend.read_object("objects/f.bin", len(data))) == data
        empty = os.path.join(tmp_path, "empty.bin")
        open(empty, "wb").close()
        backend.write_file("objects/e.bin", empty)
        assert backend.read("objects/e.bin", 10) == b""

    def test_loaded_objects_are_writable(self, backend: Backend) -> None:
        """read_object gives a writable (or copy-on-write) view that leaves the value intact."""
        backend.write("objects/w.bin", b"x" * 4096)
        view = backend.read_object("objects/w.bin", 4096)
        view[0] = ord("y")
        assert backend.read("objects/w.bin", 4096) == b"x" * 4096

    def test_missing_keys_raise_file_not_found(self, backend: Backend) -> None:
        """Reading, stating, moving or copying a missing key raises FileNotFoundError."""
        for call in (
            lambda: backend.read("nope.json", 10),
            lambda: backend.stat("nope.json"),
            lambda: backend.read_object("nope.json", 3),
            lambda: backend.move("nope.json", "other.json"),
        ):
            with pytest.raises(FileNotFoundError):
                call()
        assert not backend.exists("nope.json")

    def test_read_refuses_more_than_its_limit(self, backend: Backend) -> None:
        """A value over the limit raises OSError (not FileNotFoundError) before it is read."""
        backend.write("big.json", b"x" * 1000)
        try:
            backend.read("big.json", 999)
        except FileNotFoundError:
            pytest.fail("a value over the limit is not a missing value")
        except OSError:
            return
        pytest.fail("read() returned a value over its limit")

    def test_read_object_of_another_length_is_not_allocated(self, backend: Backend) -> None:
        """A value whose length differs from the expected size gives a view of another length."""
        backend.write("objects/short.bin", b"abc")
        assert backend.read_object("objects/short.bin", 1 << 40).nbytes != 1 << 40
        assert backend.read_object("objects/short.bin", 2).nbytes != 2

    def test_delete_is_idempotent(self, backend: Backend) -> None:
        """Deleting removes the value; deleting a missing key is not an error."""
        backend.write("gone.json", b"1")
        backend.delete("gone.json")
        backend.delete("gone.json")
        assert not backend.exists("gone.json")

    def test_stat_and_listing_are_fresh(self, backend: Backend) -> None:
        """stat and list see a write at once, with its size and a modification time."""
        before = datetime.now(UTC) - timedelta(minutes=5)
        backend.write("records/runs/r1.json", b"12345")
        info = backend.stat("records/runs/r1.json")
        assert info.size == 5
        assert info.regular
        assert info.modified is None or info.modified > before
        listed = {i.key: i.size for i in backend.list("records/")}
        assert listed == {"records/runs/r1.json": 5}
        backend.write("records/runs/r2.json", b"1")
        assert {i.key for i in backend.list("records/runs/")} == {
            "records/runs/r1.json",
            "records/runs/r2.json",
        }

    def test_listing_by_prefix(self, backend: Backend) -> None:
        """A prefix selects keys by their start, folders or not; "" lists everything."""
        for key in ("objects/ab/abc.pkl", "objects/ab/abd.pkl", "objects/ac/x.pkl", "top.json"):
            backend.write(key, b"v")
        assert {i.key for i in backend.list("objects/ab/abc")} == {"objects/ab/abc.pkl"}
        assert {i.key for i in backend.list("objects/ab/")} == {
            "objects/ab/abc.pkl",
            "objects/ab/abd.pkl",
        }
        assert len(list(backend.list(""))) == 4
        assert list(backend.list("missing/")) == []
        for prefix in ("", "objects/ab/", "objects/ab/abc", "missing/"):
            assert sorted(backend.list_keys(prefix)) == sorted(i.key for i in backend.list(prefix))

    def test_move_and_copy(self, backend: Backend) -> None:
        """move puts the value at the target and removes the source; copy keeps both."""
        backend.write("objects/m.bin", b"moved")
        backend.move("objects/m.bin", "tmp/aside")
        assert not backend.exists("objects/m.bin")
        assert backend.read("tmp/aside", 10) == b"moved"
        backend.copy("tmp/aside", "objects/m.bin")
        assert backend.read("objects/m.bin", 10) == backend.read("tmp/aside", 10) == b"moved"

    def test_concurrent_writers_leave_a_whole_value(self, backend: Backend) -> None:
        """Writers racing on one key leave one of their values, whole, never a mix."""
        values = [bytes([n]) * 300_000 for n in range(4)]
        threads = [
            threading.Thread(
                target=backend.write_frames, args=("objects/race.bin", [memoryview(v)])
            )
            for v in values
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert backend.read("objects/race.bin", 1 << 20) in values

    def test_capabilities_are_declared(self, backend: Backend) -> None:
        """Capability flags are booleans; optional powers are the documented Protocols."""
        for flag in (
            "supports_writes",
            "supports_deletes",
            "supports_mmap",
            "atomic_move",
            "remote",
        ):
            assert isinstance(getattr(backend, flag), bool)
        if isinstance(backend, StartsWrites):
            backend.start_write("objects/early.bin", [memoryview(b"early")]).wait()
            assert backend.read("objects/early.bin", 10) == b"early"
        if isinstance(backend, IncompleteUploads):
            try:
                uploads = backend.incomplete_uploads()
            except NotImplementedError:
                return  # the server cannot list them: gc and verify say so
            assert isinstance(uploads, list)

    def test_never_pickled(self, backend: Backend) -> None:
        """A backend may hold credentials: pickling one is refused unless it holds none."""
        import pickle

        try:
            clone = pickle.loads(pickle.dumps(backend))
        except TypeError:
            return
        assert clone.url == backend.url
