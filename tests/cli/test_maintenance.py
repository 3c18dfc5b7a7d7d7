"""`verify` and `gc`: problems found, what is kept, and safety while writers run."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests._hooked import Hooked

import payloadkit as pk
from payloadkit._gc import collect_garbage
from payloadkit._layout import manifest_key
from payloadkit._maintenance import verify_store

OLD = time.time() - 10 * 86400
LATER = datetime.now(UTC) + timedelta(days=1)


def _age(path: Path) -> None:
    """Make a file look ten days old."""
    os.utime(path, (OLD, OLD))


def _object_path(store: pk.Store, ref: pk.PayloadRef) -> Path:
    return Path(store.url, store.info(ref).object_key)


def _manifest_path(store: pk.Store, ref: pk.PayloadRef) -> Path:
    return Path(store.url, manifest_key(ref.digest, ref.serializer, ref.type))


def _hooked(store: pk.Store) -> tuple[pk.Store, Hooked]:
    """The same store through a backend that can run a callback at one exact point."""
    backend = Hooked(store.backend)
    return pk.Store(backend), backend


def _crash_leftovers(store: pk.Store) -> tuple[Path, Path]:
    """A temporary file and an object without manifest, as a killed writer leaves them."""
    tmp = Path(store.url, "tmp", f"123-{'d' * 32}.part")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"partial")
    ref = store.put(b"orphaned bytes")
    orphan = _object_path(store, ref)
    _manifest_path(store, ref).unlink()
    return tmp, orphan


# -- verify -----------------------------------------------------------------------
def test_verify_clean_store(cli: Any, local_store: pk.Store, memory_store: pk.Store) -> None:
    """Stores of intact payloads verify, exit 0."""
    for store in (local_store, memory_store):
        store.put([1, 2])
        code, out, _ = cli("verify", store.url)
        assert code == 0
        assert "1 payloads" in out
        assert out.rstrip().endswith(": ok")


def test_verify_reports_corrupt_missing_and_bad_manifest(cli: Any, local_store: pk.Store) -> None:
    """Altered bytes, a missing object and a broken manifest are each reported; exit 1."""
    corrupt, missing, broken = (local_store.put(n) for n in ("a" * 50, "b" * 50, "c" * 50))
    _object_path(local_store, corrupt).write_bytes(b"\0" * corrupt.size)
    _object_path(local_store, missing).unlink()
    _manifest_path(local_store, broken).write_text("{not json")
    code, out, _ = cli("verify", local_store.url, "--json")
    report = json.loads(out)
    assert code == 1
    assert not report["ok"]
    kinds = {p["digest"]: p["kind"] for p in report["problems"]}
    assert kinds[corrupt.digest] == "corrupt"
    assert kinds[missing.digest] == "missing-object"
    assert kinds[broken.digest] == "bad-manifest"


def test_verify_checks_signatures_with_a_key(local_store: pk.Store) -> None:
    """With a key: an unsigned pickle or a forged signature is a problem; unsigned JSON is not."""
    unsigned = local_store.put("written without a key")
    local_store.put({"plain": "json"}, serializer="json")
    pk.configure(secret="s" * 32)
    signed = local_store.put("written with the key")
    path = _manifest_path(local_store, signed)
    manifest = json.loads(path.read_text())
    assert verify_store(local_store).problems[0].digest == unsigned.digest
    manifest["signature"] = manifest["signature"][:-4] + "0000"
    path.write_text(json.dumps(manifest))
    problems = verify_store(local_store).problems
    assert {p.digest for p in problems} == {unsigned.digest, signed.digest}
    assert {p.kind for p in problems} == {"signature"}


def test_verify_tells_crash_leftovers_from_writes_in_progress(
    cli: Any, local_store: pk.Store
) -> None:
    """Fresh orphans and tmp files are writes in progress; old ones are problems."""
    tmp, orphan = _crash_leftovers(local_store)
    report = verify_store(local_store)
    assert report.ok
    assert {f.kind for f in report.in_progress} == {"leftover", "orphan"}
    _age(tmp)
    _age(orphan)
    code, out, _ = cli("verify", local_store.url)
    assert code == 1
    assert "leftover" in out
    assert "orphan" in out
    assert "payloadkit gc" in out


# -- gc ---------------------------------------------------------------------------
def test_gc_dry_run_lists_and_deletes_nothing(
    cli: Any, local_store: pk.Store, backdate: Any
) -> None:
    """A dry run lists what would go and the bytes freed, and changes nothing."""
    ref = local_store.put(b"x" * 3000)
    backdate(local_store)
    code, out, _ = cli("gc", local_store.url, "--older-than", "0", "--dry-run")
    assert code == 0
    assert "would remove  payload" in out
    assert "KiB freed" in out
    assert local_store.get(ref) == b"x" * 3000


def test_gc_keeps_what_kept_runs_reference(
    cli: Any, local_store: pk.Store, make_record: Any, backdate: Any
) -> None:
    """Payloads of the N most recent runs survive; those of older runs and of no run go."""
    old_run, new_run, loose = (local_store.put(f"payload {i}") for i in range(3))
    backdate(local_store)
    long_ago = datetime.now(UTC) - timedelta(days=60)
    local_store.put_record("runs", "old", make_record("old", {"a": old_run}, started=long_ago))
    local_store.put_record("runs", "new", make_record("new", {"b": new_run}))
    code, out, _ = cli("gc", local_store.url, "--keep-runs", "1", "--older-than", "0")
    assert code == 0, out
    assert [r.digest for r in local_store] == [new_run.digest]
    assert local_store.get(new_run) == "payload 1"
    assert local_store.list_records("runs") == ["new"]
    assert not local_store.exists(old_run)
    assert not local_store.exists(loose)


def test_gc_keeps_runs_started_after_the_cutoff(local_store: pk.Store, make_record: Any) -> None:
    """With keep_runs=0, a run younger than the cutoff and its payloads are still kept."""
    ref = local_store.put("recent run output")
    local_store.put_record("runs", "recent", make_record("recent", {"x": ref}))
    report = collect_garbage(local_store, keep_runs=0, older_than=timedelta(days=1), dry_run=False)
    assert report.kept_runs == ["recent"]
    assert local_store.exists(ref)


def test_gc_keeps_payloads_younger_than_the_cutoff(local_store: pk.Store) -> None:
    """An unreferenced payload created within `older_than` survives."""
    ref = local_store.put("young")
    report = collect_garbage(local_store, keep_runs=0, older_than=timedelta(hours=1), dry_run=False)
    assert report.removed == []
    assert local_store.exists(ref)


def test_gc_cleans_crash_leftovers(cli: Any, local_store: pk.Store) -> None:
    """Old tmp files and objects without manifest are removed; young ones are left alone."""
    tmp, orphan = _crash_leftovers(local_store)
    young_tmp = Path(local_store.url, "tmp", f"456-{'e' * 32}.part")
    young_tmp.write_bytes(b"in progress")
    _age(tmp)
    _age(orphan)
    code, out, _ = cli("gc", local_store.url, "--older-than", "1d")
    assert code == 0
    assert "removed  orphan" in out  # the old tmp file goes too (the first write sweeps tmp/)
    assert not tmp.exists()
    assert not orphan.exists()
    assert young_tmp.exists()
    assert verify_store(local_store).ok


def test_gc_keeps_payloads_while_a_run_record_is_damaged(
    cli: Any, local_store: pk.Store, backdate: Any
) -> None:
    """A record under runs/ that is not a run record is kept, reported, and protects every payload."""
    ref = local_store.put("kept because gc cannot tell")
    local_store.put_record("runs", "odd", {"hello": "world"})
    backdate(local_store)
    code, out, _ = cli("gc", local_store.url, "--older-than", "0")
    assert code == 0
    assert "The run record 'odd' is damaged" in out
    assert "no payload was collected" in out
    assert local_store.exists(ref)
    assert local_store.list_records("runs") == ["odd"]


def test_gc_spares_a_payload_referenced_after_the_snapshot(
    local_store: pk.Store, make_record: Any, monkeypatch: pytest.MonkeyPatch, backdate: Any
) -> None:
    """A run record written between the snapshot and the deletions protects its payloads."""
    ref = local_store.put("referenced during gc")
    backdate(local_store)
    store, backend = _hooked(local_store)

    def record() -> None:  # the manifest is gone; a run finishes, referencing the payload
        local_store.put_record("runs", "late", make_record("late", {"x": ref}, started=LATER))

    backend.when("delete", lambda key: key.startswith("manifests/"), record)
    report = collect_garbage(store, keep_runs=0, older_than=timedelta(0), dry_run=False)
    assert backend.fired
    assert [f.digest for f in report.spared] == [ref.digest]
    assert local_store.get(ref) == "referenced during gc"


@pytest.mark.parametrize("backend", ["local_store", "memory_store"])
def test_gc_restores_a_payload_saved_while_it_was_deleted(
    request: pytest.FixtureRequest, backend: str, monkeypatch: pytest.MonkeyPatch, backdate: Any
) -> None:
    """A writer saving the same payload while gc removes it wins: the bytes are put back."""
    store: pk.Store = request.getfixturevalue(backend)
    ref = store.put("saved again")
    backdate(store)
    hooked, hooks = _hooked(store)

    def write() -> None:  # the bytes are aside and the manifest gone: a full write
        assert store.put("saved again") == ref

    hooks.when("move", lambda key: key.startswith("objects/"), write)
    report = collect_garbage(hooked, keep_runs=0, older_than=timedelta(0), dry_run=False)
    assert hooks.fired
    assert [f.digest for f in report.spared] == [ref.digest]
    assert store.get(ref) == "saved again"
    assert verify_store(store).ok


def test_gc_with_a_concurrent_writer(local_store: pk.Store, backdate: Any) -> None:
    """Every payload a writer thread saves while gc runs is still there, intact, afterwards."""
    for i in range(200):
        local_store.put(f"old {i}")
    backdate(local_store)
    start = datetime.now(UTC)  # every write below happens after this cutoff
    saved: list[pk.PayloadRef] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set() or i < 50:
            saved.append(local_store.put(f"new {i}"))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        report = collect_garbage(
            local_store, keep_runs=0, older_than=timedelta(0), dry_run=False, now=start
        )
    finally:
        stop.set()
        thread.join()
    assert report.removed
    assert all(local_store.get(ref) == f"new {i}" for i, ref in enumerate(saved))
    assert verify_store(local_store).ok


def test_gc_validates_arguments(cli: Any, local_store: pk.Store) -> None:
    """Negative counts are usage errors (exit 2); the library raises ValueError."""
    assert cli("gc", local_store.url, "--keep-runs", "-1")[0] == 2
    with pytest.raises(ValueError, match="must not be negative"):
        collect_garbage(local_store, keep_runs=-1)


def test_gc_removes_emptied_directories(cli: Any, local_store: pk.Store, backdate: Any) -> None:
    """After gc, a local store keeps no empty fan-out directories, and writing still works."""
    local_store.put("short-lived")
    backdate(local_store)
    assert cli("gc", local_store.url, "--older-than", "0")[0] == 0
    assert not any(Path(local_store.url, "objects", "blake3").iterdir())
    assert not any(Path(local_store.url, "manifests", "blake3").iterdir())
    assert local_store.get(local_store.put("short-lived")) == "short-lived"


def test_gc_never_removes_young_leftovers(local_store: pk.Store) -> None:
    """Files younger than an hour may be writes in progress: kept even with older_than=0."""
    tmp, orphan = _crash_leftovers(local_store)
    report = collect_garbage(local_store, keep_runs=0, older_than=timedelta(0), dry_run=False)
    assert report.removed == []
    assert tmp.exists()
    assert orphan.exists()


def test_gc_keeps_what_it_cannot_read(local_store: pk.Store) -> None:
    """A payload with a corrupt manifest keeps its manifest and its bytes; verify reports it."""
    ref = local_store.put("unreadable manifest")
    obj = _object_path(local_store, ref)
    _manifest_path(local_store, ref).write_text("{broken")
    _age(obj)
    collect_garbage(local_store, keep_runs=0, older_than=timedelta(0), dry_run=False, now=LATER)
    assert obj.exists()
    assert _manifest_path(local_store, ref).exists()
    assert [p.kind for p in verify_store(local_store).problems] == ["bad-manifest"]


def test_foreign_files_are_reported_and_left_alone(local_store: pk.Store) -> None:
    """A file under objects/ that no digest names is a problem for verify, and gc keeps it."""
    local_store.put(1)
    foreign = Path(local_store.url, "objects", "notes.txt")
    foreign.write_text("mine")
    _age(foreign)
    assert [p.kind for p in verify_store(local_store).problems] == ["foreign"]
    collect_garbage(local_store, keep_runs=0, older_than=timedelta(0), dry_run=False, now=LATER)
    assert foreign.exists()


def test_gc_removes_what_a_crashed_gc_moved_aside(local_store: pk.Store) -> None:
    """Bytes a killed collection left under tmp/gc-* go once older than an hour."""
    local_store.initialize()
    stale = Path(local_store.url, "tmp", f"gc-{int(OLD)}-{'0f' * 16}")
    fresh = Path(local_store.url, "tmp", f"gc-{int(time.time())}-{'1e' * 16}")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")
    fresh.write_bytes(b"new")
    report = collect_garbage(local_store, keep_runs=0, older_than=timedelta(0), dry_run=False)
    assert [f.key for f in report.removed] == [f"tmp/{stale.name}"]
    assert fresh.exists()


def test_gc_rechecks_run_records_before_each_deletion(
    local_store: pk.Store, make_record: Any, monkeypatch: pytest.MonkeyPatch, backdate: Any
) -> None:
    """A run record that lands while gc is deleting protects the payloads it references."""
    first, second = local_store.put("first"), local_store.put("second")
    backdate(local_store)
    store, backend = _hooked(local_store)

    def record() -> None:  # while the first candidate goes, a run finishes referencing both
        refs = {"a": first, "b": second}
        local_store.put_record("runs", "late", make_record("late", refs, started=LATER))

    backend.when("move", lambda key: key.startswith("objects/"), record)
    report = collect_garbage(store, keep_runs=0, older_than=timedelta(0), dry_run=False)
    assert len(report.removed) == 1
    survivor = second if report.removed[0].digest == first.digest else first
    assert [f.digest for f in report.spared] == [survivor.digest]
    assert local_store.exists(survivor)


WRITER = """
import sys
import payloadkit as pk

store = pk.open_store(sys.argv[1])
for i in range(300):
    print(store.put(f"from another process {i}").digest, flush=True)
"""


def test_gc_with_a_writer_process(local_store: pk.Store, tmp_path: Path, backdate: Any) -> None:
    """Payloads another process saves while gc runs all survive, and the store verifies."""
    import subprocess
    import sys

    for i in range(200):
        local_store.put(f"old {i}")
    backdate(local_store)
    start = datetime.now(UTC)
    src = str(Path(pk.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, local_store.url], stdout=subprocess.PIPE, text=True, env=env
    ) as writer:
        assert writer.stdout is not None
        digests = [writer.stdout.readline().strip()]  # the writer is running
        report = collect_garbage(
            local_store, keep_runs=0, older_than=timedelta(0), dry_run=False, now=start
        )
        digests += writer.stdout.read().split()
    assert writer.returncode == 0
    assert len(report.removed) == 200
    assert len(digests) == 300
    assert all(local_store.get(d).startswith("from another process") for d in digests)
    assert verify_store(local_store).ok


def test_saving_an_old_payload_again_refreshes_its_manifest(
    local_store: pk.Store, backdate: Any
) -> None:
    """A dedup hit on an old payload rewrites its manifest's time, so gc sees it as new."""
    ref = local_store.put("reused")
    backdate(local_store)
    assert local_store.put("reused") == ref
    assert datetime.now(UTC) - local_store.info(ref).created_at < timedelta(minutes=1)
    report = collect_garbage(local_store, keep_runs=0, older_than=timedelta(days=1), dry_run=False)
    assert report.removed == []
    assert local_store.get(ref) == "reused"


def test_saving_a_young_payload_again_writes_nothing(local_store: pk.Store) -> None:
    """A dedup hit on a payload saved minutes ago leaves its manifest untouched."""
    ref = local_store.put("fresh")
    path = _manifest_path(local_store, ref)
    before = path.read_bytes(), path.stat().st_mtime_ns
    assert local_store.put("fresh") == ref
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_gc_never_removes_payloads_younger_than_the_refresh_window(
    cli: Any, local_store: pk.Store
) -> None:
    """Even with older_than=0, a payload saved in the last minutes stays, and gc says why."""
    ref = local_store.put("just saved")
    report = collect_garbage(local_store, keep_runs=0, older_than=timedelta(0), dry_run=False)
    assert report.removed == []
    assert report.payload_cutoff < report.cutoff
    assert local_store.exists(ref)
    code, out, _ = cli("gc", local_store.url, "--older-than", "0")
    assert code == 0
    assert "payloads saved within the store's grace period always stay" in out
    assert local_store.exists(ref)


def test_a_resave_racing_gc_writes_the_bytes_again(local_store: pk.Store, backdate: Any) -> None:
    """gc removing a payload between a save's dedup check and its manifest: the save rewrites it."""
    ref = local_store.put("raced")
    backdate(local_store)
    store, backend = _hooked(local_store)

    def collect() -> None:  # the save saw the bytes; now a collection removes them
        gc = collect_garbage(local_store, keep_runs=0, older_than=timedelta(0), dry_run=False)
        assert [f.digest for f in gc.removed] == [ref.digest]

    backend.when("read_object", lambda key: key.startswith("objects/"), collect)
    assert store.put("raced") == ref
    assert backend.fired
    assert local_store.get(ref) == "raced"
    assert verify_store(local_store).ok
