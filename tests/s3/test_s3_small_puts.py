"""Small S3 puts: the object's PUT overlaps the manifest lookup, with the same semantics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests._s3server import S3Server
from tests.s3._faultproxy import Fault, FaultProxy, fault_proxy

import payloadkit as pk
from payloadkit._registry import registry
from payloadkit.errors import StoreError
from payloadkit.stores import _s3

pytestmark = pytest.mark.s3


class _Raw(pk.Serializer):
    """Stores bytes as they are."""

    name = "raw-bytes-a"
    extension = ".a"

    def dumps(self, obj: Any) -> bytes:
        return bytes(obj)

    def loads(self, data: memoryview) -> Any:
        return bytes(data)


class _OtherRaw(_Raw):
    """The same bytes under another name (and file extension)."""

    name = "raw-bytes-b"
    extension = ".b"


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    """A recording (and fault-injecting) proxy in front of the test server."""
    with fault_proxy(s3_server.endpoint_url) as running:
        yield running


@pytest.fixture
def store(s3_server: S3Server, proxy: FaultProxy) -> pk.Store:
    """An empty S3 store reached through the proxy, with botocore's retries kept short."""
    config = {"retries": {"max_attempts": 2, "mode": "standard"}}
    opened = pk.open_store(
        s3_server.url(), **s3_server.options(proxy.endpoint_url, config_kwargs=config)
    )
    opened.fs.retries = 1  # type: ignore[attr-defined]
    opened.initialize()  # the store marker, read once per store object, is not counted below
    return opened


def _requests(proxy: FaultProxy) -> list[tuple[str, str]]:
    """The requests seen since the last call, as (method, "objects" or "manifests")."""
    with proxy.lock:
        seen, proxy.seen[:] = list(proxy.seen), []
    kinds = []
    for method, target in seen:
        kind = (
            "objects"
            if "/objects/" in target
            else "manifests"
            if "/manifests/" in target
            else target
        )
        kinds.append((method, kind))
    return kinds


def _keys(s3_server: S3Server, store: pk.Store) -> list[str]:
    prefix = store.url.split("/", 3)[3] + "/"
    listed = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix)
    keys = (item["Key"][len(prefix) :] for item in listed.get("Contents", []))
    return sorted(key for key in keys if key != "payloadkit-store.json")


def test_new_small_payload_is_written_object_first(store: pk.Store, proxy: FaultProxy) -> None:
    """A new small payload takes a manifest lookup and the object PUT, then the manifest PUT,
    then a HEAD of the object (a collection may have taken an old orphan of it meanwhile)."""
    _requests(proxy)
    ref = store.put(b"small payload" * 100)
    seen = _requests(proxy)
    assert sorted(seen[:2]) == [("GET", "manifests"), ("PUT", "objects")]
    assert seen[2:] == [("PUT", "manifests"), ("HEAD", "objects")]
    assert store.get(ref) == b"small payload" * 100


def test_small_dedup_hit_keeps_the_manifest(
    store: pk.Store, proxy: FaultProxy, s3_server: S3Server
) -> None:
    """Putting stored bytes again returns the same ref and leaves one object and its manifest."""
    ref = store.put(b"stored once" * 100)
    manifest = store.info(ref)
    _requests(proxy)
    assert store.put(b"stored once" * 100) == ref
    assert ("PUT", "manifests") not in _requests(proxy)
    assert store.info(ref) == manifest
    assert len(_keys(s3_server, store)) == 2


def test_failed_object_put_leaves_no_manifest(
    store: pk.Store, proxy: FaultProxy, s3_server: S3Server
) -> None:
    """When the object's PUT keeps failing, the put raises StoreError and writes no manifest."""
    proxy.faults.append(Fault("503", "PUT", r"/objects/", times=-1))
    with pytest.raises(StoreError):
        store.put(b"never stored" * 100)
    proxy.faults.clear()
    assert not [key for key in _keys(s3_server, store) if key.startswith("manifests/")]
    assert list(store) == []


@pytest.fixture
def raw_serializers() -> Iterator[None]:
    """Both raw serializers registered, the registry restored afterwards."""
    pk.register_serializer(_Raw(), types=())
    pk.register_serializer(_OtherRaw(), types=())
    yield
    registry.reset()


@pytest.mark.usefixtures("raw_serializers")
def test_same_bytes_under_another_serializer_are_two_payloads(store: pk.Store) -> None:
    """The same bytes put by two serializers are two payloads; each ref loads with its own."""
    first = store.put(b"shared bytes", serializer="raw-bytes-a")
    second = store.put(b"shared bytes", serializer="raw-bytes-b")
    assert first.digest == second.digest
    assert store.get(first) == store.get(second) == b"shared bytes"
    assert store.info(first).ref.serializer == "raw-bytes-a"
    assert store.info(second).ref.serializer == "raw-bytes-b"
    assert sorted(r.serializer for r in store) == ["raw-bytes-a", "raw-bytes-b"]


def test_large_objects_are_looked_up_first(
    store: pk.Store, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above EARLY_UPLOAD_MAX the manifest lookup comes before any upload."""
    monkeypatch.setattr(_s3.S3Backend, "early_write_max", 1000)
    _requests(proxy)
    store.put(b"x" * 5000)
    expected = [("GET", "manifests"), ("PUT", "objects"), ("PUT", "manifests"), ("HEAD", "objects")]
    assert _requests(proxy) == expected


def test_body_reader_reads_frames_end_to_end() -> None:
    """The upload body over several frames reads, seeks and sizes like their concatenation."""
    frames = [memoryview(b"abc"), memoryview(b""), memoryview(b"defgh"), memoryview(b"ij")]
    reader = _s3._ViewReader(frames)
    assert len(reader) == 10
    chunk = bytearray(4)
    got = []
    while n := reader.readinto(chunk):
        got.append(bytes(chunk[:n]))
    assert b"".join(got) == b"abcdefghij"
    assert [len(part) for part in got] == [4, 4, 2]
    reader.seek(-3, 2)
    assert reader.read() == b"hij"
    reader.seek(2)
    assert len(reader) == 8
    assert reader.read(3) == b"cde"


def test_multi_frame_object_in_one_put(store: pk.Store, proxy: FaultProxy) -> None:
    """An object of several frames above the bytes-copy size goes up in one PUT, intact."""
    np = pytest.importorskip("numpy")
    array = np.random.default_rng(3).random((5 << 20) // 8)
    _requests(proxy)
    ref = store.put({"a": array, "b": array[::-1].copy()}, serializer="pickle")
    assert ref.size > _s3.BYTES_BODY_MAX
    assert _requests(proxy).count(("PUT", "objects")) == 1
    loaded = store.get(ref)
    assert (loaded["a"] == array).all()
    assert (loaded["b"] == array[::-1]).all()
