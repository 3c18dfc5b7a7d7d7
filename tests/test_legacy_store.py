"""Stores written by payloadkit 0.1.0 (format 1: one manifest per digest, no marker) still work,
and places that are not stores are left alone by every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import payloadkit as pk
from payloadkit._digest import hash_buffers
from payloadkit._gc import collect_garbage
from payloadkit._layout import MARKER_KEY, legacy_manifest_key, object_key
from payloadkit._maintenance import verify_store

_SRC = str(Path(pk.__file__).resolve().parents[1])


def _legacy_store(root: Path) -> dict[str, object]:
    """Lay out a format-1 store as 0.1.0 wrote it: JSON payloads, a run record, no marker."""
    values: dict[str, object] = {}
    for n in range(3):
        data = json.dumps({"legacy": n}).encode()
        digest = hash_buffers([memoryview(data)])
        manifest = {
            "format": 1,
            "digest": digest,
            "serializer": "json",
            "serializer_version": "1",
            "size": len(data),
            "type": "builtins.dict",
            "extension": ".json",
            "created": "2026-01-02T03:04:05.000000+00:00",
            "python": "3.11.7",
            "libraries": {},
            "distribution": None,
        }
        for key, content in (
            (object_key(digest, ".json"), data),
            (legacy_manifest_key(digest), json.dumps(manifest, indent=1).encode()),
        ):
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        values[digest] = {"legacy": n}
    record = {
        "kind": "payloadkit.run",
        "format": 1,
        "run_id": "20260102T030405Z-abcdef",
        "started": "2026-01-02T03:04:05.000+00:00",
        "works": {},
        "payloads": sorted(values)[:1],
    }
    (root / "records" / "runs").mkdir(parents=True)
    (root / "records" / "runs" / "20260102T030405Z-abcdef.json").write_text(json.dumps(record))
    return values


def test_a_format_1_store_reads_lists_and_verifies(tmp_path: Path) -> None:
    """Every payload of a 0.1.0 store loads and lists; verify passes and says format 1."""
    values = _legacy_store(tmp_path / "old")
    store = pk.open_store(tmp_path / "old")
    assert {r.digest for r in store} == set(values)
    for digest, value in values.items():
        assert store.get(digest) == value
    report = verify_store(store)
    assert report.ok
    assert report.format == 1
    assert not (tmp_path / "old" / MARKER_KEY).exists()  # reading changes nothing


def test_the_first_write_upgrades_a_format_1_store(tmp_path: Path) -> None:
    """A save into a 0.1.0 store adds the marker; old payloads keep loading, gc keeps what
    the old run record references."""
    values = _legacy_store(tmp_path / "old")
    store = pk.open_store(tmp_path / "old")
    ref = store.put({"new": True})
    assert (tmp_path / "old" / MARKER_KEY).exists()
    assert store.require_store().legacy
    assert store.get(ref) == {"new": True}
    again = pk.open_store(tmp_path / "old")
    assert {r.digest for r in again} == {*values, ref.digest}
    kept = sorted(values)[0]
    collect_garbage(again, keep_runs=1, older_than=timedelta(0), dry_run=False)
    assert again.get(kept) == values[kept]
    assert again.get(ref) == {"new": True}  # young: within the grace period
    assert {r.digest for r in again} == {kept, ref.digest}


def test_commands_refuse_a_directory_that_is_no_store(tmp_path: Path) -> None:
    """ls, verify, runs and gc on a directory of someone else's files exit 1 and touch nothing,
    even its old files under tmp/."""
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    (home / "notes.txt").write_text("mine")
    stale = home / "tmp" / f"123-{'a' * 32}.part"
    stale.write_text("looks like ours, is not")
    old = time.time() - 10 * 86400
    os.utime(stale, (old, old))
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    env = {**os.environ, "PYTHONPATH": _SRC}
    for command in (["ls"], ["verify"], ["runs"], ["gc", "--older-than", "0"], ["show", "abc"]):
        argv = [sys.executable, "-m", "payloadkit.cli", command[0], str(home), *command[1:]]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 1, command
        assert "is not a payloadkit store" in done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
