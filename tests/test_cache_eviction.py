"""The payload cache's size bound: amortised eviction, a count shared by processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from payloadkit._digest import hash_buffers
from payloadkit.stores import _cache
from payloadkit.stores._cache import PayloadCache

needs_flock = pytest.mark.skipif(_cache._flock is None, reason="no file locks on this platform")


def _blob(i: int, size: int = 100) -> memoryview:
    return memoryview(i.to_bytes(4, "little") * (size // 4))


def _on_disk(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "objects").rglob("*") if p.is_file())


def _counted(root: Path) -> int:
    return int((root / "usage").read_text())


@needs_flock
def test_the_count_follows_puts_and_evictions(tmp_path: Path) -> None:
    """The shared count is the bytes on disk after puts, after an eviction, and after a drop."""
    root = tmp_path / "c"
    cache = PayloadCache(str(root), max_bytes=10_000)
    for i in range(50):
        cache.put(hash_buffers([_blob(i)]), _blob(i))
        assert _counted(root) == _on_disk(root) == (i + 1) * 100
    for i in range(50, 150):  # past the cap: evicted down to 90 %, then counted on
        cache.put(hash_buffers([_blob(i)]), _blob(i))
        assert _counted(root) == _on_disk(root) <= 10_000
    survivor = hash_buffers([_blob(149)])
    Path(cache._path(survivor)).write_bytes(b"\0" * 100)  # corrupted: dropped on use
    assert cache.get(survivor, 100) is None
    assert _counted(root) == _on_disk(root)


@needs_flock
def test_putting_the_same_entry_again_counts_it_once(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = PayloadCache(str(root), max_bytes=10_000)
    blob = _blob(7)
    for _ in range(5):
        cache.put(hash_buffers([blob]), blob)
    assert _counted(root) == _on_disk(root) == 100


@needs_flock
def test_eviction_keeps_the_most_recently_used(tmp_path: Path) -> None:
    """Over the cap, the entries used longest ago go; the ones just read stay."""
    root = tmp_path / "c"
    cache = PayloadCache(str(root), max_bytes=1_000)
    digests = [hash_buffers([_blob(i)]) for i in range(10)]
    for i, digest in enumerate(digests):
        cache.put(digest, _blob(i))
        os.utime(cache._path(digest), (1000 + i, 1000 + i))
    assert cache.get(digests[0], 100) is not None  # the oldest, used again: now the newest
    cache.put(hash_buffers([_blob(10)]), _blob(10))  # 1,100 bytes: evict to 900
    kept = [d for d in digests if os.path.exists(cache._path(d))]
    assert digests[0] in kept
    assert digests[1] not in kept
    assert digests[2] not in kept
    assert _on_disk(root) <= 900


@needs_flock
def test_a_count_that_runs_high_is_corrected_by_the_next_walk(tmp_path: Path) -> None:
    """A count higher than what is on disk (an entry deleted behind the cache's back) is
    corrected by the walk it causes, which evicts nothing that fits."""
    root = tmp_path / "c"
    cache = PayloadCache(str(root), max_bytes=1_000)
    for i in range(9):
        cache.put(hash_buffers([_blob(i)]), _blob(i))
    (root / "usage").write_text("950\n")  # 50 bytes more than there are
    cache.put(hash_buffers([_blob(9)]), _blob(9))  # counted 1,050: a walk finds 1,000
    assert _counted(root) == _on_disk(root) == 1_000
    assert all(os.path.exists(cache._path(hash_buffers([_blob(i)]))) for i in range(10))


_WRITER = """
import sys
from payloadkit._digest import hash_buffers
from payloadkit.stores._cache import PayloadCache
root, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cache = PayloadCache(root, max_bytes=20_000)
for i in range(first, first + count):
    blob = memoryview(i.to_bytes(4, "little") * 50)
    cache.put(hash_buffers([blob]), blob)
print("ok")
"""


@needs_flock
def test_processes_putting_at_once_keep_the_bound(tmp_path: Path) -> None:
    """Four processes put 300 entries each into one cache capped at 100 entries: the
    cache ends within its cap and its count is exact."""
    root = tmp_path / "c"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), str(k * 1000), "300"],
            env=env,
            stdout=subprocess.PIPE,
        )
        for k in range(4)
    ]
    for child in children:
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0
        assert b"ok" in out
    assert _on_disk(root) <= 20_000
    assert _counted(root) == _on_disk(root)
    assert not list((root / "tmp").iterdir())


def test_puts_under_the_cap_walk_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A put walks the cache only to start the count and when the count passes the cap."""
    cache = PayloadCache(str(tmp_path / "c"), max_bytes=1_000_000)
    walks: list[int] = []
    real = PayloadCache._entries

    def counted(self: PayloadCache) -> list[tuple[float, int, str]]:
        walks.append(1)
        return real(self)

    monkeypatch.setattr(PayloadCache, "_entries", counted)
    for i in range(2000):
        cache.put(hash_buffers([_blob(i)]), _blob(i))
    assert len(walks) == 1
    assert cache.size() == 200_000
