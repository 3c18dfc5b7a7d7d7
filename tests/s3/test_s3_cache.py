"""The verified local cache of payloads read from S3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests._s3server import S3Server

import payloadkit as pk
from payloadkit._digest import hash_buffers
from payloadkit.stores._cache import PayloadCache, parse_size

pytestmark = pytest.mark.s3


def _entries(cache: Path) -> list[Path]:
    return [p for p in (cache / "objects").rglob("*") if p.is_file()]


def test_loaded_payload_is_cached_and_served_verified(
    s3_store: pk.Store, s3_server: S3Server, payload_cache: Path
) -> None:
    """A load keeps a copy keyed by digest; a later load works with the remote bytes gone."""
    blob = os.urandom(2 * 1024 * 1024)
    ref = s3_store.put(blob)
    assert _entries(payload_cache) == []
    assert s3_store.get(ref) == blob
    [entry] = _entries(payload_cache)
    assert entry.name == ref.digest.split(":")[1]
    key = s3_store.url.split("/", 3)[3] + "/" + s3_store.info(ref).object_key
    s3_server.client().delete_object(Bucket=s3_server.bucket, Key=key)
    assert s3_store.get(ref) == blob  # served by the cache


def test_corrupted_cache_entry_is_dropped_and_refetched(
    s3_store: pk.Store, payload_cache: Path
) -> None:
    """A flipped byte in a cache entry is detected; the payload is read from the store again."""
    blob = os.urandom(300_000)
    ref = s3_store.put(blob)
    s3_store.get(ref)
    [entry] = _entries(payload_cache)
    data = bytearray(entry.read_bytes())
    data[100] ^= 0xFF
    entry.write_bytes(bytes(data))
    assert s3_store.get(ref) == blob
    [again] = _entries(payload_cache)
    assert hash_buffers([memoryview(again.read_bytes())]) == ref.digest


def test_cache_off(
    s3_store: pk.Store, monkeypatch: pytest.MonkeyPatch, payload_cache: Path
) -> None:
    """PAYLOADKIT_CACHE=0 turns the cache off."""
    monkeypatch.setenv("PAYLOADKIT_CACHE", "0")
    ref = s3_store.put(b"x" * 5000)
    assert s3_store.get(ref) == b"x" * 5000
    assert not payload_cache.exists()


def test_least_recently_used_entries_are_evicted(tmp_path: Path) -> None:
    """Over its size cap the cache drops the entries used longest ago."""
    cache = PayloadCache(str(tmp_path / "c"), max_bytes=250)
    blobs = [memoryview(bytes([i]) * 100) for i in range(3)]
    digests = [hash_buffers([b]) for b in blobs]
    cache.put(digests[0], blobs[0])
    cache.put(digests[1], blobs[1])
    os.utime(cache._path(digests[0]), (1, 1))
    os.utime(cache._path(digests[1]), (2, 2))
    assert cache.get(digests[0], 100) is not None  # now the most recently used
    cache.put(digests[2], blobs[2])
    assert cache.get(digests[1], 100) is None
    assert cache.get(digests[0], 100) is not None
    assert cache.get(digests[2], 100) is not None
    assert cache.size() <= 250


def test_processes_share_one_cache(
    s3_store: pk.Store, s3_server: S3Server, payload_cache: Path
) -> None:
    """Several processes load the same payload at once into one cache; every copy verifies."""
    blob = os.urandom(3 * 1024 * 1024)
    ref = s3_store.put(blob)
    code = (
        "import sys, payloadkit as pk\n"
        f"store = pk.open_store({s3_store.url!r}, **{s3_server.options()!r})\n"
        f"ref = pk.PayloadRef.from_json({ref.to_json()!r})\n"
        "for _ in range(3):\n"
        "    store.get(ref)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
        for _ in range(3)
    ]
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        assert b"ok" in out
    [entry] = _entries(payload_cache)
    assert hash_buffers([memoryview(entry.read_bytes())]) == ref.digest
    assert not list((payload_cache / "tmp").iterdir())
    assert s3_store.get(ref) == blob


@pytest.mark.parametrize(
    ("text", "size"), [("1000", 1000), ("5MB", 5_000_000), ("2GiB", 2 * 1024**3), ("1.5k", 1500)]
)
def test_cache_size_units(text: str, size: int) -> None:
    """PAYLOADKIT_CACHE_SIZE accepts bytes and decimal or binary units."""
    assert parse_size(text) == size


def test_puts_do_not_rescan_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many small puts under the cap walk the cache once, not once per put; the cap still holds."""
    cache = PayloadCache(str(tmp_path / "c"), max_bytes=60_000)
    walks: list[int] = []
    real = PayloadCache._entries

    def counted(self: PayloadCache) -> list[tuple[float, int, str]]:
        walks.append(1)
        return real(self)

    monkeypatch.setattr(PayloadCache, "_entries", counted)
    blobs = [memoryview(i.to_bytes(4, "little") * 25) for i in range(1000)]
    for blob in blobs[:500]:
        cache.put(hash_buffers([blob]), blob)
    assert len(walks) == 1  # the first put counts the cache; the next 499 add to the count
    for blob in blobs[500:]:
        cache.put(hash_buffers([blob]), blob)
    assert cache.size() <= 60_000  # over the cap the count sends puts back to evicting
    assert len(walks) < 50  # evicting to 90 % of the cap leaves room for the next puts
