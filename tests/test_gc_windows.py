"""The exact moments where a collection and a writer meet, each forced and checked.

A hooked backend (tests/_hooked.py) stops one side at one point of its work while the other
side acts; in each case the payload the writer saved must load afterwards. The gc soak in
tests/reliability/ races the same code at random moments; these tests pin each window.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests._hooked import Hooked

import payloadkit as pk
from payloadkit._encode import encode
from payloadkit._gc import collect_garbage
from payloadkit._layout import object_key
from payloadkit._maintenance import verify_store
from payloadkit.stores import LocalBackend


def _collect(store: pk.Store) -> None:
    collect_garbage(store, keep_runs=0, older_than=timedelta(0), dry_run=False)


def _plant_old_orphan(store: pk.Store, obj: object) -> str:
    """The object of ``obj`` with no manifest, two hours old: a writer killed long ago."""
    encoded = encode(obj, None, None)
    key = object_key(encoded.digest, encoded.suffix)
    store.backend.write_frames(key, encoded.frames or [])
    path = store.backend.path(key)  # type: ignore[attr-defined]
    old = time.time() - 7200
    os.utime(path, (old, old))
    return key


def _backdate(store: pk.Store, ref: pk.PayloadRef, minutes: float) -> None:
    import json

    key = store.info(ref).key
    manifest = json.loads(store.backend.read(key, 1 << 20))
    when = datetime.now(UTC) - timedelta(minutes=minutes)
    manifest["created"] = when.isoformat()
    store.backend.write(key, json.dumps(manifest).encode())


def test_put_over_an_orphan_gc_is_removing(tmp_path: Path) -> None:
    """A new payload whose bytes a collection takes for an old orphan, between the writer's
    object and its manifest, is written again by the writer: it loads."""
    base = LocalBackend(str(tmp_path / "store"))
    pk.Store(base).initialize()
    key = _plant_old_orphan(pk.Store(base), {"orphaned": True})
    gc_backend, writer_backend = Hooked(base), Hooked(base)
    object_written, gc_done = threading.Event(), threading.Event()
    saved: list[pk.PayloadRef] = []

    def write() -> None:
        saved.append(pk.Store(writer_backend).put({"orphaned": True}))

    def pause_writer() -> None:  # the object is in place, the manifest not yet
        object_written.set()
        assert gc_done.wait(30)

    def let_writer_in() -> None:  # gc judged the orphan old; the writer now overwrites it
        threading.Thread(target=write).start()
        assert object_written.wait(30)

    writer_backend.when("write", lambda k: k == key, pause_writer)
    gc_backend.when("stat", lambda k: k == key, let_writer_in)
    report = collect_garbage(
        pk.Store(gc_backend), keep_runs=0, older_than=timedelta(0), dry_run=False
    )
    gc_done.set()
    deadline = time.monotonic() + 30
    while not saved and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gc_backend.fired
    assert writer_backend.fired
    assert [f.kind for f in report.removed] == ["orphan"]  # it did take the writer's bytes
    store = pk.Store(base)
    assert store.get(saved[0]) == {"orphaned": True}
    assert verify_store(store).ok


def test_resave_of_an_old_payload_while_gc_deletes_it(tmp_path: Path) -> None:
    """A save that refreshes an old manifest just before a collection deletes it waits for the
    collection (it sees its lease), then finds its payload gone and writes it again."""
    base = LocalBackend(str(tmp_path / "store"))
    store = pk.Store(base)
    ref = store.put({"old": "but in use"})
    _backdate(store, ref, minutes=60)
    gc_backend, writer_backend = Hooked(base), Hooked(base)
    manifest_rewritten = threading.Event()
    finished: list[float] = []

    def write() -> None:
        assert pk.Store(writer_backend).put({"old": "but in use"}) == ref
        finished.append(time.monotonic())

    def let_writer_in() -> None:  # gc judged the manifest old and is about to delete it
        threading.Thread(target=write).start()
        assert manifest_rewritten.wait(30)

    writer_backend.when("write", lambda k: k.startswith("manifests/"), manifest_rewritten.set)
    gc_backend.before("delete", lambda k: k.startswith("manifests/"), let_writer_in)
    collect_garbage(pk.Store(gc_backend), keep_runs=0, older_than=timedelta(0), dry_run=False)
    gc_ended = time.monotonic()
    deadline = time.monotonic() + 30
    while not finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert finished
    assert finished[0] >= gc_ended - 0.5  # the save returned only once the collection was over
    assert store.get(ref) == {"old": "but in use"}
    assert verify_store(store).ok


@pytest.mark.parametrize("minutes", [1, 60])
def test_young_and_old_resaves_return_the_same_ref(tmp_path: Path, minutes: float) -> None:
    """Control: with no collection running, a save of a young or old payload returns at once."""
    store = pk.open_store(tmp_path / "store")
    ref = store.put("again")
    _backdate(store, ref, minutes=minutes)
    assert store.put("again") == ref
    assert store.get(ref) == "again"
