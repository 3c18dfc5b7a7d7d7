"""Fault injection: a filesystem that fails its k-th call, for every k over each operation
(put, get, delete, garbage collection, records).

``FaultyFileSystem`` is a real fsspec filesystem (registered as ``faulty://``) that
delegates to a memory or local filesystem and raises an OSError at the k-th call made
to it or to a file it opened. Each operation is first run with no fault (the control run,
which also counts the calls), then once per k: it must succeed or raise a
PayloadkitError, and afterwards every payload the store lists must load intact.
"""

from __future__ import annotations

import errno
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fsspec
import pytest

import payloadkit as pk
from payloadkit._digest import hash_buffers
from payloadkit._gc import collect_garbage
from payloadkit._maintenance import verify_store
from payloadkit.errors import PayloadkitError

_FAULTS = (
    lambda: OSError(errno.EIO, "injected I/O error"),
    lambda: ConnectionResetError(errno.ECONNRESET, "injected connection reset"),
    lambda: TimeoutError(errno.ETIMEDOUT, "injected timeout"),
    lambda: OSError(errno.ENOSPC, "injected full disk"),
)


class _Faults:
    """Counts calls and raises at the chosen one."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_at: int | None = None
        self.failed = False

    def tick(self) -> None:
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            self.failed = True
            raise _FAULTS[self.calls % len(_FAULTS)]()


class _FaultyFile:
    """A file of the inner filesystem whose reads, writes and close count as calls."""

    def __init__(self, inner: Any, faults: _Faults) -> None:
        self._inner = inner
        self._faults = faults
        self.size = getattr(inner, "size", None)

    def write(self, data: Any) -> int:
        self._faults.tick()
        return int(self._inner.write(data))

    def read(self, n: int = -1) -> bytes:
        self._faults.tick()
        return bytes(self._inner.read(n))

    def readinto(self, view: Any) -> int:
        self._faults.tick()
        return int(self._inner.readinto(view))

    def close(self) -> None:
        self._faults.tick()
        self._inner.close()

    def __enter__(self) -> _FaultyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._inner.close()


class FaultyFileSystem(fsspec.AbstractFileSystem):  # type: ignore[misc]
    """``faulty://<name>``: a memory (or local, with ``base=``) filesystem that fails on cue."""

    protocol = "faulty"
    cachable = False

    def __init__(self, base: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faults = _Faults()
        self.kind = "memory" if base is None else "local"
        if base is None:
            self.inner = fsspec.filesystem("memory")
            self.base = f"/faulty-{uuid.uuid4().hex}"
        else:
            self.inner = fsspec.filesystem("file")
            self.base = base.rstrip("/")

    def _real(self, path: str) -> str:
        return f"{self.base}/{self._strip_protocol(path).lstrip('/')}"

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> _FaultyFile:
        self.faults.tick()
        return _FaultyFile(self.inner.open(self._real(path), mode), self.faults)

    def cat_file(self, path: str, start: Any = None, end: Any = None, **kw: Any) -> bytes:
        self.faults.tick()
        return bytes(self.inner.cat_file(self._real(path), start=start, end=end))

    def pipe_file(self, path: str, value: bytes, **kwargs: Any) -> None:
        self.faults.tick()
        self.inner.pipe_file(self._real(path), value)

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        self.faults.tick()
        self.inner.put_file(lpath, self._real(rpath))

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        self.faults.tick()
        self.inner.mv(self._real(path1), self._real(path2))

    def rm_file(self, path: str) -> None:
        self.faults.tick()
        self.inner.rm_file(self._real(path))

    def exists(self, path: str, **kwargs: Any) -> bool:
        self.faults.tick()
        return bool(self.inner.exists(self._real(path)))

    def size(self, path: str) -> int:
        self.faults.tick()
        return int(self.inner.size(self._real(path)))

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        self.faults.tick()
        self.inner.makedirs(self._real(path), exist_ok=exist_ok)

    def modified(self, path: str) -> datetime:
        self.faults.tick()
        stamp: datetime = self.inner.modified(self._real(path))
        return stamp

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        self.faults.tick()
        found = dict(self.inner.info(self._real(path)))
        found["name"] = self._strip_protocol(path)
        return found

    def find(self, path: str, detail: bool = False, **kwargs: Any) -> Any:
        self.faults.tick()
        real = self._real(path)
        if not self.inner.exists(real):
            raise FileNotFoundError(path)
        prefix = self.base.lstrip("/")
        found = self.inner.find(real, detail=True)
        named = {p.lstrip("/")[len(prefix) :].lstrip("/"): info for p, info in found.items()}
        return named if detail else list(named)

    def invalidate_cache(self, path: str | None = None) -> None:
        pass


fsspec.register_implementation("faulty", FaultyFileSystem, clobber=True)


@pytest.fixture(params=["memory", "local"])
def faulty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A store on ``faulty://``, delegating to memory or to a local directory."""
    options = {} if request.param == "memory" else {"base": str(tmp_path / "faulty")}
    store = pk.open_store(f"faulty://s{uuid.uuid4().hex[:8]}", **options)
    assert store.backend.atomic_mode == "rename"
    return store


def _intact(store: Any, expected: dict[str, Any]) -> int:
    """Check with faults off that every listed payload loads as saved; the number listed."""
    store.fs.faults.fail_at = None
    listed = list(store)
    for ref in listed:
        assert store.get(ref) == expected[ref.digest]
    return len(listed)


def _sweep(
    store: Any,
    prepare: Callable[[], None],
    operation: Callable[[], Any],
    check: Callable[[bool], None],
) -> tuple[int, int, int]:
    """Run ``operation`` failing at each k; (calls, successes, PayloadkitErrors)."""
    faults = store.fs.faults
    prepare()
    faults.calls, faults.fail_at = 0, None
    operation()  # the control run, with no fault
    calls = faults.calls
    check(True)
    assert calls > 0
    ok = errors = 0
    for k in range(1, calls + 1):
        faults.fail_at = None
        prepare()
        faults.calls, faults.fail_at, faults.failed = 0, k, False
        try:
            operation()
        except PayloadkitError:
            errors += 1
            assert faults.failed
            succeeded = False
        else:
            ok += 1
            succeeded = True
        faults.fail_at = None
        check(succeeded)
    return calls, ok, errors


def _objects() -> dict[str, Any]:
    return {"small": {"a": [1, 2, 3]}, "container": {"blob": bytearray(b"x" * 300_000)}}


@pytest.mark.parametrize("kind", ["small", "container"])
def test_put_fails_cleanly_at_every_call(faulty_store: Any, kind: str, report_figure: Any) -> None:
    """A put failing at any call raises a PayloadkitError or succeeds; nothing partial is listed."""
    obj = _objects()[kind]
    expected: dict[str, Any] = {}

    def prepare() -> None:
        for ref in list(faulty_store):
            faulty_store.delete(ref)
        faulty_store.put("bystander")
        expected[next(iter(faulty_store)).digest] = "bystander"

    digest = faulty_store.put(obj, serializer="pickle").digest
    expected[digest] = obj

    def operation() -> None:
        faulty_store.put(obj, serializer="pickle")

    def check(succeeded: bool) -> None:
        _intact(faulty_store, expected)
        assert faulty_store.exists(digest) or not succeeded
        assert faulty_store.get(faulty_store.put(obj, serializer="pickle")) == obj  # retry works

    calls, ok, errors = _sweep(faulty_store, prepare, operation, check)
    report_figure(
        f"fault injection put ({kind}, {faulty_store.fs.kind}): failed each of "
        f"{calls} calls -> {ok} ok, {errors} PayloadkitError, 0 partial visible"
    )


def test_get_fails_cleanly_at_every_call(faulty_store: Any, report_figure: Any) -> None:
    """A get failing at any call raises a PayloadkitError or returns the intact object."""
    obj = _objects()["container"]
    ref = faulty_store.put(obj, serializer="pickle")
    results: list[Any] = []

    def check(succeeded: bool) -> None:
        if succeeded:
            assert results[-1] == obj
        _intact(faulty_store, {ref.digest: obj})

    calls, ok, errors = _sweep(
        faulty_store, lambda: None, lambda: results.append(faulty_store.get(ref)), check
    )
    report_figure(
        f"fault injection get ({faulty_store.fs.kind}): failed each of {calls} "
        f"calls -> {ok} ok, {errors} PayloadkitError, 0 corrupt reads"
    )


def test_delete_fails_cleanly_at_every_call(faulty_store: Any, report_figure: Any) -> None:
    """A delete failing at any call leaves the payload whole or gone, never half there."""
    obj = _objects()["small"]
    digest = hash_buffers([memoryview(b"")])  # replaced below

    def prepare() -> None:
        nonlocal digest
        digest = faulty_store.put(obj, serializer="json").digest

    def check(succeeded: bool) -> None:
        if succeeded:
            assert not faulty_store.exists(digest)
        _intact(faulty_store, {digest: obj})

    calls, ok, errors = _sweep(faulty_store, prepare, lambda: faulty_store.delete(digest), check)
    report_figure(
        f"fault injection delete ({faulty_store.fs.kind}): failed each of {calls} "
        f"calls -> {ok} ok, {errors} PayloadkitError, 0 half-deleted visible"
    )


def _run_record(run_id: str, started: datetime, digests: list[str]) -> dict[str, Any]:
    """A run record as the App writes it, referencing ``digests`` (the last from a Work's state)."""
    state = {"out": {"kind": "payloadkit.Payload", "ref": {"digest": digests[-1]}}}
    return {
        "kind": "payloadkit.run",
        "format": 1,
        "run_id": run_id,
        "started": started.isoformat(),
        "payloads": digests[:-1],
        "works": {"root.w": {"state": state, "calls": 1, "status": "succeeded"}},
    }


class _GcScene:
    """A store holding what gc keeps and what it removes: payloads of a kept run, of an
    old run, unreferenced, an object without a manifest and a temporary file."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.now = datetime.now(UTC) + timedelta(days=60)  # every file is old to this gc
        self.objects = {f"kept-{i}": [i] * 3 for i in range(2)}
        self.objects |= {"old-run": "old", "unreferenced": "none", "orphan": "orphan"}

    def prepare(self) -> None:
        """Empty the store, then lay out the scene."""
        store = self.store
        for key in [i.key for i in store.backend.list("")]:
            store.backend.delete(key)
        self.digests = {name: store.put(obj).digest for name, obj in self.objects.items()}
        store.backend.delete(store.info(self.digests["orphan"]).key)
        store.backend.write(f"tmp/123-{'c' * 32}.part", b"half a payload")
        kept = [self.digests["kept-0"], self.digests["kept-1"]]
        store.put_record("runs", "kept", _run_record("kept", self.now - timedelta(days=1), kept))
        old = _run_record("old", datetime.now(UTC), [self.digests["old-run"]] * 2)
        store.put_record("runs", "old", old)

    def collect(self) -> Any:
        """Collect with the kept run the most recent, the cutoff 30 days before ``now``."""
        return collect_garbage(
            self.store, keep_runs=1, older_than=timedelta(days=30), dry_run=False, now=self.now
        )

    def check(self, succeeded: bool) -> None:
        """Nothing the kept run references is lost, nothing partial is visible; a second
        collection with no fault completes and leaves exactly the kept payloads."""
        store = self.store
        kept = {self.digests[n]: self.objects[n] for n in ("kept-0", "kept-1")}
        expected = {self.digests[n]: obj for n, obj in self.objects.items()}
        _intact(store, expected)
        assert "kept" in store.list_records("runs")
        for digest, obj in kept.items():
            assert store.get(digest) == obj
        if succeeded and not store.fs.faults.failed:
            self._assert_clean(kept)  # the control run (a fault it swallowed may spare a file)
        self.collect()
        self._assert_clean(kept)

    def _assert_clean(self, kept: dict[str, Any]) -> None:
        store = self.store
        assert sorted(r.digest for r in store) == sorted(kept)
        assert store.list_records("runs") == ["kept"]
        objects = sorted(i.key for i in store.backend.list("objects/"))
        assert objects == sorted(store.info(d).object_key for d in kept)
        assert list(store.backend.list("tmp/")) == []


def test_gc_fails_cleanly_at_every_call(faulty_store: Any, report_figure: Any) -> None:
    """A gc failing at any call completes or raises a PayloadkitError; kept payloads survive,
    nothing partial is visible, and the next gc finishes the job."""
    scene = _GcScene(faulty_store)
    calls, ok, errors = _sweep(faulty_store, scene.prepare, scene.collect, scene.check)
    report_figure(
        f"fault injection gc ({faulty_store.fs.kind}): failed each of {calls} calls -> {ok} ok, "
        f"{errors} PayloadkitError; 0 kept payloads lost, 0 partial visible, every next gc clean"
    )


def test_verify_fails_cleanly_at_every_call(faulty_store: Any) -> None:
    """A verify failing at any call raises a PayloadkitError or reports; it changes nothing."""
    scene = _GcScene(faulty_store)
    before: list[str] = []

    def prepare() -> None:
        scene.prepare()
        before[:] = sorted(i.key for i in faulty_store.backend.list(""))

    def check(succeeded: bool) -> None:
        assert sorted(i.key for i in faulty_store.backend.list("")) == before

    calls, ok, errors = _sweep(faulty_store, prepare, lambda: verify_store(faulty_store), check)
    assert ok + errors == calls


def test_records_and_listing_fail_cleanly(faulty_store: Any) -> None:
    """Record writes, reads, listings and deletes failing at any call raise PayloadkitError."""

    def operation() -> None:
        faulty_store.put_record("runs", "r1", {"a": 1})
        assert faulty_store.get_record("runs", "r1") == {"a": 1}
        assert faulty_store.list_records("runs") == ["r1"]
        faulty_store.delete_record("runs", "r1")

    def check(succeeded: bool) -> None:
        names = faulty_store.list_records("runs")
        for name in names:
            assert faulty_store.get_record("runs", name) == {"a": 1}

    calls, ok, errors = _sweep(faulty_store, lambda: None, operation, check)
    assert ok + errors == calls


def test_memory_store_writes_are_atomic(report_figure: Any) -> None:
    """A reader scanning a memory store's objects during large puts never sees a partial one."""
    store: Any = pk.open_store(f"memory://atomic-{uuid.uuid4().hex}")
    fs, root = store.fs, store.root
    stop = threading.Event()
    seen = {"checked": 0, "partial": 0}

    def scan() -> None:
        while not stop.is_set():
            try:
                paths = fs.find(f"{root}/objects")
            except FileNotFoundError:
                continue
            for path in paths:
                data = fs.cat_file(path)
                name = path.rsplit("/", 1)[1].split(".", 1)[0]
                seen["checked"] += 1
                if hash_buffers([memoryview(data)]).split(":")[1] != name:
                    seen["partial"] += 1
            for ref in store:
                store.get(ref)

    reader = threading.Thread(target=scan)
    reader.start()
    try:
        for i in range(12):
            store.put({"i": i, "blob": bytearray([i]) * (8 << 20)}, serializer="pickle")
    finally:
        stop.set()
        reader.join()
    assert seen["partial"] == 0
    assert seen["checked"] > 0
    report_figure(
        f"memory:// atomicity: 12 puts of 8 MiB, {seen['checked']} concurrent object reads, "
        f"{seen['partial']} partial"
    )
