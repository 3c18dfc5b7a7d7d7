"""Flipped bytes in stored objects are always detected: on get, before any decoder runs,
and by :func:`verify_store` (``payloadkit verify``)."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests._s3server import SERVERS, on_every_server

import payloadkit as pk
from payloadkit._maintenance import verify_store
from payloadkit.errors import IntegrityError

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


def _payloads(n: int) -> list[tuple[Any, str | None]]:
    """``n`` objects across every built-in serializer and both read paths (copy and mmap)."""
    kinds: list[tuple[Any, str | None]] = []
    for i in range(n):
        choice = i % 7
        if choice == 0:
            kinds.append(({"i": i, "text": "x" * i}, "json"))
        elif choice == 1:
            kinds.append(((i, [i] * 10), "pickle"))
        elif choice == 2:
            kinds.append((np.arange(1000 + i), None))
        elif choice == 3:
            kinds.append((np.full(300_000, i), None))  # 2.4 MB: read through a memory mapping
        elif choice == 4:
            kinds.append(({"i": i, "big": np.arange(20_000 + i)}, "pickle"))  # container
        elif choice == 5:
            kinds.append((pd.DataFrame({"x": range(i + 5)}), None))  # parquet
        else:
            kinds.append((pd.DataFrame({"x": range(i + 5)}), "arrow"))
    return kinds


def _flip(data: bytearray, rng: random.Random) -> None:
    position = rng.randrange(len(data))
    data[position] ^= rng.randrange(1, 256)


def _corrupt_all(
    store: pk.Store, n: int, rng: random.Random, read: Any, write: Any
) -> tuple[int, int, int]:
    """Flip a byte in each of ``n`` objects; (detected on get, reported by verify, n)."""
    refs = [store.put(obj, serializer=name) for obj, name in _payloads(n)]
    assert verify_store(store).ok
    for ref in refs:
        key = store.info(ref).object_key
        data = bytearray(read(key))
        _flip(data, rng)
        write(key, bytes(data))
    report = verify_store(store)
    assert {f.kind for f in report.problems} == {"corrupt"}
    assert report.payloads == len(refs)
    reported = len({f.digest for f in report.problems} & {ref.digest for ref in refs})
    detected = 0
    for ref in refs:
        try:
            store.get(ref)
        except IntegrityError as exc:
            detected += exc.digest == ref.digest
    return detected, reported, len(refs)


def _figure(where: str, detected: int, reported: int, total: int) -> str:
    return (
        f"corruption ({where}): {total} objects with a flipped byte, {detected} of {total} "
        f"detected on get, {reported} of {total} reported by verify"
    )


def test_byte_flips_detected_local(tmp_path: Path, report_figure: Any) -> None:
    """A random byte flip in each of N objects of a local store: N of N detected on get and by verify."""
    store = pk.open_store(tmp_path / "store")
    root = Path(store.url)
    detected, reported, total = _corrupt_all(
        store,
        70,
        random.Random(1),
        lambda key: (root / key).read_bytes(),
        lambda key, data: (root / key).write_bytes(data),
    )
    assert detected == reported == total
    report_figure(_figure("local", detected, reported, total))


def test_byte_flips_detected_memory(report_figure: Any) -> None:
    """The same on a memory store."""
    store: Any = pk.open_store(f"memory://corrupt-{uuid.uuid4().hex}")
    detected, reported, total = _corrupt_all(
        store,
        35,
        random.Random(2),
        lambda key: store.fs.cat_file(store.backend.path(key)),
        lambda key, data: store.fs.pipe_file(store.backend.path(key), data),
    )
    assert detected == reported == total
    report_figure(_figure("memory", detected, reported, total))


@pytest.mark.s3
@on_every_server
def test_byte_flips_detected_s3(
    s3_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, report_figure: Any
) -> None:
    """The same on S3, the objects altered behind payloadkit's back (the local cache is empty)."""
    monkeypatch.setenv("PAYLOADKIT_CACHE", str(tmp_path / "cache"))
    store: Any = pk.open_store(s3_server.url(), **s3_server.options())
    client, bucket = s3_server.client(), s3_server.bucket

    def read(key: str) -> bytes:
        return bytes(client.get_object(Bucket=bucket, Key=store.backend._key(key))["Body"].read())

    def write(key: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=store.backend._key(key), Body=data)

    detected, reported, total = _corrupt_all(store, 21, random.Random(3), read, write)
    assert detected == reported == total
    report_figure(_figure(f"S3, {s3_server.name}", detected, reported, total))


def test_truncated_and_extended_objects_are_detected(tmp_path: Path) -> None:
    """Objects cut short or with bytes appended are IntegrityErrors, whatever their size."""
    store = pk.open_store(tmp_path / "store")
    root = Path(store.url)
    refs = [store.put(np.arange(n)) for n in (10, 400_000)]
    for ref, change in zip(refs, (lambda b: b[:-1], lambda b: b + b"\0"), strict=True):
        path = root / store.info(ref).object_key
        path.write_bytes(change(path.read_bytes()))
        with pytest.raises(IntegrityError):
            store.get(ref)


def test_absurd_declared_size_is_not_allocated(tmp_path: Path, on_disk: Any) -> None:
    """A manifest declaring a petabyte is refused without allocating it (local and memory)."""
    local = pk.open_store(tmp_path / "store")
    ref = local.put({"a": 1}, serializer="json")
    on_disk.rewrite_manifest(local, ref.digest, size=1 << 50)
    with pytest.raises(IntegrityError):
        local.get(ref.digest)
    memory: Any = pk.open_store(f"memory://huge-{uuid.uuid4().hex}")
    ref = memory.put({"a": 1}, serializer="json")
    path = memory.backend.path(memory.info(ref).key)
    manifest = memory.fs.cat_file(path).replace(b'"size": 7', b'"size": 1125899906842624')
    memory.fs.pipe_file(path, manifest)
    with pytest.raises(IntegrityError):
        memory.get(ref.digest)


def test_hostile_sizes_in_headers_are_refused(tmp_path: Path, on_disk: Any) -> None:
    """Oversized manifests, absurd container header lengths and deeply nested JSON are IntegrityErrors."""
    from payloadkit import _container

    store = pk.open_store(tmp_path / "store")
    ref = store.put({"a": 1}, serializer="json")
    on_disk.manifest(store, ref.digest).write_bytes(b" " * (64 * 1024 + 1))
    with pytest.raises(IntegrityError, match="limit"):
        store.get(ref.digest)
    on_disk.manifest(store, ref.digest).write_bytes(b"[" * 60_000 + b"]" * 60)
    with pytest.raises(IntegrityError):
        store.info(ref.digest)
    huge = _container.MAGIC + (2**32 - 1).to_bytes(4, "little") + b"{}"
    with pytest.raises(IntegrityError, match="declares"):
        _container.unpack(memoryview(huge))
    nested = _container.MAGIC + (20_000).to_bytes(4, "little") + b"[" * 20_000
    with pytest.raises(IntegrityError):
        _container.unpack(memoryview(nested))
    digest = on_disk.plant(store, huge)
    with pytest.raises(IntegrityError):
        store.get(digest)
    (tmp_path / "store" / "records" / "runs").mkdir(parents=True)
    (tmp_path / "store" / "records" / "runs" / "deep.json").write_bytes(b"[" * 100_000)
    with pytest.raises(IntegrityError):
        store.get_record("runs", "deep")


@pytest.mark.parametrize(
    "kind",
    ["local", "memory", *(pytest.param(f"s3-{name}", marks=pytest.mark.s3) for name in SERVERS)],
)
def test_a_corrupt_manifest_does_not_break_listing(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Listing skips one damaged manifest with a warning naming it; saving again or deleting repairs it."""
    if kind.startswith("s3-"):
        monkeypatch.setenv("PAYLOADKIT_CACHE", str(tmp_path / "cache"))
        server = request.getfixturevalue(f"{kind.removeprefix('s3-')}_server")
        store: Any = pk.open_store(server.url(), **server.options())
    else:
        url = tmp_path / "store" if kind == "local" else f"memory://list-{uuid.uuid4().hex}"
        store = pk.open_store(url)
    refs = [store.put({"n": n}) for n in range(5)]
    bad = refs[2]
    others = sorted(r.digest for r in refs if r != bad)
    bad_key = store.info(bad).key
    store.backend.write(bad_key, b'{"format": 1, "digest": "not')
    with pytest.warns(UserWarning, match=f"Skipping {bad.digest}") as caught:
        assert [r.digest for r in store] == others
    assert len(caught) == 1
    report = verify_store(store)
    assert [(f.kind, f.digest) for f in report.problems] == [("bad-manifest", bad.digest)]
    assert store.put({"n": 2}) == bad  # saving again replaces the damaged manifest
    assert sorted(r.digest for r in store) == sorted(r.digest for r in refs)
    store.backend.write(bad_key, b"\xff" * 10)
    store.delete(bad.digest)  # its bytes are found by their name
    assert [r.digest for r in store] == others
    assert not any(bad.digest.split(":")[1] in i.key for i in store.backend.list("objects/"))
    assert verify_store(store).ok
