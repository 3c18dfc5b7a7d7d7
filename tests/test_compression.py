"""Compression chosen by the data: codecs, the auto rule, records, and hostile stored bytes."""

from __future__ import annotations

import json
import mmap
import pickle
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit import _compression, _container
from payloadkit.errors import (
    ConfigurationError,
    DeserializationError,
    IntegrityError,
    SignatureError,
)

np = pytest.importorskip("numpy")
zstandard = pytest.importorskip("zstandard")
lz4_frame = pytest.importorskip("lz4.frame")

MIB = 1 << 20


def _records(n: int = 5000) -> list[dict[str, Any]]:
    return [
        {"id": i, "name": f"user-{i}", "bio": "likes long walks and compressible text " * 3}
        for i in range(n)
    ]


def _object_path(store: Any, ref: pk.PayloadRef) -> Path:
    return Path(store.root, *store.info(ref).object_key.split("/"))


def _rewrite_manifest(store: Any, ref: pk.PayloadRef, **changes: Any) -> None:
    manifest = store.info(ref)
    data = manifest.to_dict()
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    store.backend.write(manifest.key, json.dumps(data).encode())


def _owner(array: Any) -> Any:
    """The object whose memory ``array`` views."""
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array.obj if isinstance(array, memoryview) else array


# -- what gets compressed -----------------------------------------------------------
def test_text_heavy_pickle_is_a_standard_zstd_frame(local_store: Any) -> None:
    records = _records()
    ref = local_store.put(records)
    manifest = local_store.info(ref)
    raw = pickle.dumps(records, protocol=5)
    assert manifest.extension == ".pkl.zst"
    assert manifest.compression == _compression.Record("zstd", "object", len(raw))
    stored = _object_path(local_store, ref).read_bytes()
    assert ref.size == len(stored) < len(raw) * 0.4
    # Another tool opens the stored file: it is one zstd frame holding the pickle.
    assert pickle.loads(zstandard.ZstdDecompressor().decompress(stored)) == records
    assert local_store.get(ref) == records


def test_small_pickles_stay_plain(local_store: Any) -> None:
    ref = local_store.put({"a": "b" * 100})
    assert local_store.info(ref).extension == ".pkl"
    assert local_store.info(ref).compression is None
    assert _object_path(local_store, ref).read_bytes() == pickle.dumps({"a": "b" * 100}, 5)


def test_incompressible_buffers_stay_zero_copy(local_store: Any) -> None:
    noise = np.random.default_rng(0).random(MIB // 8 * 2)
    zeros = np.zeros(MIB // 8 * 2)
    ref = local_store.put({"noise": noise, "zeros": zeros})
    manifest = local_store.info(ref)
    assert manifest.extension == ".pkf"
    assert manifest.compression is not None
    assert manifest.compression.scope == "frames"
    stored = _object_path(local_store, ref).read_bytes()
    assert stored[:4] == _container.MAGIC_COMPRESSED
    header = json.loads(stored[8 : 8 + int.from_bytes(stored[4:8], "little")])
    assert header["codecs"] == [None, None, "zstd"]
    loaded = local_store.get(ref)
    np.testing.assert_array_equal(loaded["noise"], noise)
    np.testing.assert_array_equal(loaded["zeros"], zeros)
    assert loaded["noise"].flags.writeable
    assert loaded["zeros"].flags.writeable
    assert isinstance(_owner(loaded["noise"]), mmap.mmap)  # a view of the mapped file
    assert isinstance(_owner(loaded["zeros"]), bytearray)  # decompressed


def test_container_without_a_compressible_frame_is_unchanged(local_store: Any) -> None:
    noise = np.random.default_rng(1).random(MIB // 8)
    auto = local_store.put(noise, serializer="pickle")
    plain = local_store.put(noise, serializer="pickle", compression=None)
    assert auto == plain  # same bytes, same digest: nothing paid for compression
    assert local_store.info(auto).compression is None


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_explicit_codecs_round_trip(local_store: Any, codec: str) -> None:
    suffix = _compression.SUFFIXES[codec]
    records = _records(500)
    ref = local_store.put(records, compression=codec)
    assert local_store.info(ref).extension == ".pkl" + suffix
    assert local_store.get(ref) == records
    array = np.arange(100_000, dtype=np.int64)
    ref = local_store.put(array, compression=codec)
    assert local_store.info(ref).extension == ".npy" + suffix
    np.testing.assert_array_equal(local_store.get(ref), array)
    frames = {"a": np.random.default_rng(2).random(20_000), "b": b"x" * 100}
    ref = local_store.put(frames, compression=codec)
    assert local_store.info(ref).compression == _compression.Record(
        codec, "frames", local_store.info(ref).compression.size
    )
    loaded = local_store.get(ref)
    np.testing.assert_array_equal(loaded["a"], frames["a"])
    assert loaded["b"] == frames["b"]


def test_npy_and_json_documents(local_store: Any) -> None:
    array = np.zeros(1_000_000)
    assert local_store.info(local_store.put(array)).extension == ".npy"  # plain unless asked
    document = {"rows": [{"k": "value", "i": i} for i in range(5000)]}
    ref = local_store.put(document, serializer="json")
    stored = _object_path(local_store, ref).read_bytes()
    assert local_store.info(ref).extension == ".json.zst"
    assert json.loads(zstandard.ZstdDecompressor().decompress(stored)) == document
    plain = local_store.put(document, serializer="json", compression=None)
    assert local_store.info(plain).extension == ".json"
    assert local_store.get(ref) == local_store.get(plain) == document


def test_same_object_with_two_codecs_is_two_payloads(local_store: Any) -> None:
    records = _records(1000)
    refs = {local_store.put(records, compression=c).digest for c in ("zstd", "lz4", None)}
    assert len(refs) == 3
    assert {len(list(local_store))} == {3}


def test_parquet_refuses_a_codec_on_top() -> None:
    pd = pytest.importorskip("pandas")
    store = pk.open_store("memory://parquet-codec")
    frame = pd.DataFrame({"x": range(10)})
    assert store.info(store.put(frame)).compression is None
    with pytest.raises(ConfigurationError, match="compresses its column chunks itself"):
        store.put(frame, compression="zstd")


def test_configure_by_type_and_serializer_name(memory_store: Any) -> None:
    records = _records(1000)
    pk.configure(compression={list: None})
    assert memory_store.info(memory_store.put(records)).compression is None
    pk.configure(compression={"builtins.list": "lz4"})
    assert memory_store.info(memory_store.put(records)).compression.codec == "lz4"
    pk.configure(compression={"pickle": None, "numpy.ndarray": "zstd"})
    assert memory_store.info(memory_store.put(records)).compression is None
    assert memory_store.info(memory_store.put(np.zeros(10))).extension == ".npy.zst"
    # The argument beats the configuration.
    assert memory_store.info(memory_store.put(records, compression="zstd")).compression
    pk.configure(reset=True)
    assert memory_store.info(memory_store.put(records)).compression.codec == "zstd"


@pytest.mark.parametrize("bad", ["gzip", 3, "ZSTD"])
def test_unknown_choices_are_refused(memory_store: Any, bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="'auto', 'zstd', 'lz4' or None"):
        memory_store.put([1], compression=bad)
    with pytest.raises(ConfigurationError):
        pk.configure(compression={list: bad})
    with pytest.raises(ConfigurationError):
        pk.Payload([1], compression=bad)


def test_payload_compression_argument(memory_store: Any) -> None:
    records = _records(1000)
    ref = pk.Payload(records, compression="lz4").save(memory_store)
    assert memory_store.info(ref).compression.codec == "lz4"
    assert pk.Payload.from_ref(ref).value == records


def test_explain_names_the_codec() -> None:
    text = str(pk.explain(_records(1000)))
    assert "compression: zstd on the whole object" in text
    noise = {"a": np.random.default_rng(3).random(MIB // 8)}
    assert "no frame pays for zstd" in str(pk.explain(noise))
    assert pk.explain([1, 2]).compression.startswith("none")


def test_auto_without_a_codec_library(memory_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compression, "available", lambda codec: False)
    records = _records(1000)
    ref = memory_store.put(records)
    assert memory_store.info(ref).compression is None
    assert memory_store.info(ref).extension == ".pkl"
    assert "no codec library installed" in pk.explain(records).compression
    with pytest.raises(ConfigurationError, match=r"payloadkit\[compression\]"):
        memory_store.put(records, compression="zstd")


# -- loads never guess, and hostile bytes never give wrong data -----------------------
def test_old_manifests_without_the_field_load(local_store: Any) -> None:
    ref = local_store.put([1, 2, 3])
    raw = json.loads(local_store.backend.read(local_store.info(ref).key, 1 << 16))
    assert "compression" not in raw
    assert local_store.get(ref) == [1, 2, 3]


def test_reader_without_the_library_is_told_what_to_install(
    local_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = local_store.put(_records(1000))
    monkeypatch.setattr(_compression, "available", lambda codec: False)
    read = []
    original = local_store.backend.read_object
    monkeypatch.setattr(
        local_store.backend, "read_object", lambda *a, **k: read.append(a) or original(*a, **k)
    )
    with pytest.raises(DeserializationError, match=r"zstandard.*payloadkit\[compression\]") as e:
        local_store.get(ref)
    assert e.value.digest == ref.digest
    assert not read


def test_manifest_naming_an_unknown_codec(local_store: Any) -> None:
    ref = local_store.put(_records(1000))
    record = {"codec": "brotli", "scope": "object", "size": 10}
    _rewrite_manifest(local_store, ref, compression=record)
    with pytest.raises(DeserializationError, match="'brotli', a codec this payloadkit does not"):
        local_store.get(ref)


@pytest.mark.parametrize("delta", [-1, 1, 10**6])
def test_frame_decompressing_to_another_size(local_store: Any, delta: int) -> None:
    records = _records(1000)
    ref = local_store.put(records)
    record = local_store.info(ref).compression.to_dict()
    _rewrite_manifest(local_store, ref, compression={**record, "size": record["size"] + delta})
    with pytest.raises(IntegrityError, match="does not decompress to the"):
        local_store.get(ref)


def test_stripped_record_gives_an_error_not_data(local_store: Any) -> None:
    ref = local_store.put(_records(1000))
    _rewrite_manifest(local_store, ref, compression=None)
    with pytest.raises(DeserializationError):
        local_store.get(ref)


def test_signed_record_cannot_be_altered(local_store: Any) -> None:
    pk.configure(secret="k" * 32)
    ref = local_store.put(_records(1000))
    assert local_store.get(ref) == _records(1000)
    record = local_store.info(ref).compression.to_dict()
    _rewrite_manifest(local_store, ref, compression={**record, "codec": "lz4"})
    with pytest.raises(SignatureError):
        local_store.get(ref)


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_decompression_bomb_stops_at_the_recorded_size(codec: str) -> None:
    bomb = memoryview(_compression.compress(codec, [bytes(64 * MIB)]))
    assert bomb.nbytes < MIB
    with pytest.raises(IntegrityError, match="does not decompress to the 1000 bytes"):
        _compression.decompress(codec, bomb, 1000)
    # Without the size in the frame header the reader stops after the recorded size too.
    if codec == "zstd":
        headless = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(8 * MIB))
    else:
        headless = lz4_frame.compress(bytes(8 * MIB), store_size=False)
    with pytest.raises(IntegrityError):
        _compression.decompress(codec, memoryview(headless), 1000)
    out = _compression.decompress(codec, memoryview(headless), 8 * MIB)
    assert out.nbytes == 8 * MIB
    assert not out.readonly


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_impossible_sizes_are_refused_before_allocating(codec: str) -> None:
    tiny = memoryview(_compression.compress(codec, [b"abc"]))
    with pytest.raises(IntegrityError, match="more than the codec can produce"):
        _compression.decompress(codec, tiny, 1 << 45)


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_damaged_frames_are_integrity_errors(codec: str) -> None:
    good = bytearray(_compression.compress(codec, [b"payloadkit " * 10_000]))
    good[len(good) // 2] ^= 0xFF
    with pytest.raises(IntegrityError):
        _compression.decompress(codec, memoryview(bytes(good)), 110_000)
    with pytest.raises(IntegrityError):
        _compression.decompress(codec, memoryview(b"not a frame at all"), 10)


def _compressed_container(sizes: list[int], codecs: list[Any]) -> memoryview:
    stream = pickle.dumps(b"", protocol=5)
    frame = _compression.compress("zstd", [b"z" * 100_000])
    pieces = _container.pack([stream, frame], {"protocol": 5}, codecs, sizes)
    return memoryview(b"".join(bytes(piece) for piece in pieces))


@pytest.mark.parametrize(
    ("sizes", "codecs", "error"),
    [
        ([-1, 100_000], [None, "zstd"], IntegrityError),
        ([99, 100_000], [None, "zstd"], IntegrityError),  # stream not of its recorded size
        (None, [None, "zstd"], IntegrityError),  # sizes missing
        ("stream", [None, "zstd", None], IntegrityError),  # more codecs than frames
        ("stream", [None, "brotli"], DeserializationError),
        ("stream", [None, "zstd"], None),
    ],
)
def test_hostile_container_headers(sizes: Any, codecs: list[Any], error: Any) -> None:
    stream_size = len(pickle.dumps(b"", protocol=5))
    if sizes == "stream":
        sizes = [stream_size, 100_000]
    data = _compressed_container(sizes, codecs)
    if error is None:
        _header, frames = _container.unpack(data)
        assert bytes(frames[1]) == b"z" * 100_000
        return
    with pytest.raises(error):
        _container.unpack(data)


def test_previews_see_the_decompressed_bytes(local_store: Any) -> None:
    from payloadkit.ui._preview import preview_payload

    document = {"rows": [{"k": "value", "i": i} for i in range(5000)]}
    ref = local_store.put(document, serializer="json")
    assert local_store.info(ref).extension == ".json.zst"
    preview = preview_payload(local_store, local_store.info(ref))
    assert preview.kind in ("json", "text")
    assert '"k"' in (preview.text or json.dumps(preview.to_dict()))


def test_workers_get_the_configured_compression(memory_store: Any) -> None:
    pytest.importorskip("cloudpickle")
    from payloadkit._config import settings
    from payloadkit.app._host import apply_settings, settings_for

    pk.configure(compression={list: None, "json": "lz4"})
    blob = settings_for(memory_store)
    pk.configure(reset=True)
    assert settings().compression.lookup(list, "pickle") is None
    apply_settings(blob)
    assert settings().compression.lookup(list, "pickle") == (None, "configured for builtins.list")
    assert settings().compression.lookup(dict, "json") == (
        "lz4",
        "configured for the json serializer",
    )


_ORIGINAL = b"".join(b"record %d: some text that repeats, " % i for i in range(3000))
_FRAMES = {codec: _compression.compress(codec, [_ORIGINAL]) for codec in ("zstd", "lz4")}


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_mutated_frames_decode_exactly_or_fail_typed(codec: str) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    frame = _FRAMES[codec]

    @settings(max_examples=150, deadline=None)
    @given(
        position=st.integers(0, len(frame) - 1),
        flip=st.integers(1, 255),
        size=st.sampled_from([len(_ORIGINAL), len(_ORIGINAL) - 1, len(_ORIGINAL) + 1]),
    )
    def check(position: int, flip: int, size: int) -> None:
        damaged = bytearray(frame)
        damaged[position] ^= flip
        try:
            out = _compression.decompress(codec, memoryview(bytes(damaged)), size)
        except IntegrityError:
            return
        assert bytes(out) == _ORIGINAL  # only a change the format ignores may decode

    check()
