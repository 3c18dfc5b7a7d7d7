"""Zero-copy paths: aligned layouts, mapped loads, large writes, content addressing."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import blake3
import pytest

import payloadkit as pk
from payloadkit import _container
from payloadkit._serializers._pickle import PickleSerializer
from payloadkit.stores import _local

np = pytest.importorskip("numpy")

MIB = 1 << 20


def _object_path(store: Any, ref: pk.PayloadRef) -> Path:
    return Path(store.root, *store.info(ref).object_key.split("/"))


def _npy_data_offset(raw: bytes) -> int:
    f = io.BytesIO(raw)
    major, _ = np.lib.format.read_magic(f)
    reader = (
        np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    )
    reader(f)
    return f.tell()


def test_large_npy_data_starts_on_a_hash_chunk(local_store: Any) -> None:
    """A large array's .npy data starts at a multiple of 1024 bytes and numpy reads the file."""
    array = np.arange(MIB // 4, dtype=np.float64).reshape(512, -1)
    ref = local_store.put(array)
    path = _object_path(local_store, ref)
    assert _npy_data_offset(path.read_bytes()) % 1024 == 0
    np.testing.assert_array_equal(np.load(path), array)
    np.testing.assert_array_equal(np.load(path, mmap_mode="r"), array)


def test_small_npy_is_what_numpy_writes(local_store: Any) -> None:
    """A small array is stored byte for byte as np.save writes it (no padding)."""
    array = np.arange(10, dtype=np.int32)
    ref = local_store.put(array)
    expected = io.BytesIO()
    np.save(expected, array)
    assert _object_path(local_store, ref).read_bytes() == expected.getvalue()


def test_long_header_is_not_padded_past_what_numpy_reads(local_store: Any) -> None:
    """A large array whose dtype makes a long header still loads with numpy's default limits."""
    dtype = np.dtype([(f"field_with_a_long_name_{i:04d}", "<f8") for i in range(235)])
    array = np.zeros(600, dtype=dtype)  # a header of about 9,500 bytes
    assert array.nbytes >= MIB
    ref = local_store.put(array)
    path = _object_path(local_store, ref)
    np.testing.assert_array_equal(np.load(path), array)
    np.testing.assert_array_equal(local_store.get(ref), array)


def test_fortran_order_array_round_trips_padded(local_store: Any) -> None:
    """A large Fortran-ordered array keeps its order and values through the padded header."""
    array = np.asfortranarray(np.random.default_rng(0).random((1024, 300)))
    loaded = local_store.get(local_store.put(array))
    assert loaded.flags.f_contiguous
    np.testing.assert_array_equal(loaded, array)


def test_first_pickle_buffer_starts_on_a_hash_chunk() -> None:
    """The container aligns a large first buffer to 1024 bytes; later ones to 64 bytes."""
    big, other = np.ones(MIB // 8 + 3), np.zeros(70_001, dtype=np.uint8)
    frames = PickleSerializer().dump_frames({"a": big, "b": other})
    data = memoryview(b"".join(bytes(piece) for piece in frames))
    _, views = _container.unpack(data)
    offsets = [_offset_in(data, view) for view in views]
    assert offsets[1] % 1024 == 0
    assert all(offset % 64 == 0 for offset in offsets[1:])
    loaded = pickle.loads(views[0], buffers=views[1:])
    np.testing.assert_array_equal(loaded["a"], big)
    np.testing.assert_array_equal(loaded["b"], other)


def _offset_in(data: memoryview, view: memoryview) -> int:
    base = np.frombuffer(data, dtype=np.uint8).ctypes.data
    return int(np.frombuffer(view, dtype=np.uint8).ctypes.data - base) if view.nbytes else 0


@pytest.mark.parametrize("serializer", ["numpy", "pickle"])
def test_mapped_load_is_writable_and_private(local_store: Any, serializer: str) -> None:
    """An array loaded through a mapping is writable, and writing to it leaves the store intact."""
    array = np.random.default_rng(1).random(MIB // 8 * 3)
    ref = local_store.put(array, serializer=serializer)
    loaded = local_store.get(ref)
    if serializer == "pickle":
        assert loaded.ctypes.data % 64 == 0
    assert loaded.flags.writeable
    loaded[:10] = -1.0
    again = local_store.get(ref)  # verifies the digest of the stored bytes again
    np.testing.assert_array_equal(again, array)


@pytest.mark.parametrize("serializer", ["numpy", "pickle", "parquet", "arrow"])
def test_digest_is_of_the_stored_file(local_store: Any, serializer: str) -> None:
    """The digest computed from the frames (or spool file) is blake3 of the file on disk."""
    if serializer in ("parquet", "arrow"):
        pd = pytest.importorskip("pandas")
        obj: Any = pd.DataFrame({"x": np.arange(300_000), "y": np.linspace(0, 1, 300_000)})
    else:
        obj = np.random.default_rng(2).random(MIB // 8 * 2 + 5)
    ref = local_store.put(obj, serializer=serializer)
    raw = _object_path(local_store, ref).read_bytes()
    assert ref.digest == f"blake3:{blake3.blake3(raw).hexdigest()}"
    assert ref.size == len(raw)


def test_large_frames_are_written_in_pieces(
    local_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame larger than one write call is written whole, and the callback sees every byte."""
    monkeypatch.setattr(_local, "_MAX_WRITE", 4096 + 3)
    seen: list[int] = []

    class Progress:
        def set_size(self, size: int) -> None:
            seen.append(-size)

        def relative_update(self, n: int) -> None:
            seen.append(n)

    array = np.random.default_rng(3).random(100_000)
    ref = local_store.put(array, callback=Progress())
    assert -seen[0] == ref.size
    assert sum(seen[1:]) == ref.size
    np.testing.assert_array_equal(local_store.get(ref), array)


def test_failed_write_leaves_no_temporary_file(
    local_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When writing the bytes fails, the temporary file is removed and nothing is published."""

    def refuse(fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")

    local_store.put(0)  # creates the store's directories
    monkeypatch.setattr(_local.os, "write", refuse)
    with pytest.raises(pk.errors.StoreError, match="No space left"):
        local_store.put(np.ones(1000))
    monkeypatch.undo()
    assert os.listdir(Path(local_store.root, "tmp")) == []
    assert len(list(local_store)) == 1


def test_pickle_container_has_its_own_extension(tmp_path: Path) -> None:
    """A pickle with out-of-band buffers is stored as .pkf (not a pickle file); a plain pickle
    stays .pkl and pickle.load reads it; both load back."""
    import pickle

    store = pk.open_store(tmp_path / "store")
    big = store.put({"array": np.arange(1 << 16, dtype=np.float64)}, serializer="pickle")
    small = store.put({"a": 1}, serializer="pickle")
    assert store.info(big).object_key.endswith(".pkf")
    assert store.info(small).object_key.endswith(".pkl")
    with open(Path(store.url, store.info(small).object_key), "rb") as f:
        assert pickle.load(f) == {"a": 1}
    assert (store.get(big)["array"] == np.arange(1 << 16, dtype=np.float64)).all()
