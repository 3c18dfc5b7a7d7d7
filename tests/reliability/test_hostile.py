"""Damaged and hostile store contents never crash or hang a command.

Each case plants something a broken disk, a crashed program or an attacker could leave in a
store beside good payloads, then runs every store command as a real subprocess with a time
limit. A command may report the damage (exit 1) but never ends in a traceback, never hangs,
never shows a control character of a stored string raw, and the good payloads still load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit._maintenance import verify_store
from payloadkit.errors import IntegrityError, PayloadkitError, StoreError

_SRC = str(Path(pk.__file__).resolve().parents[1])
_HOSTILE = "evil\x1b[2J\x07type"
_COMMANDS = [
    ["ls"],
    ["ls", "--json"],
    ["verify"],
    ["runs"],
    ["gc", "--dry-run"],
    ["gc", "--older-than", "0", "--keep-runs", "0"],
]


def _manifest_of(store: pk.Store, ref: pk.PayloadRef) -> Path:
    return Path(store.url, store.info(ref).key)


def _rewrite(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_bytes())
    data.update(changes)
    path.write_text(json.dumps(data))


def _naive_time(store: pk.Store, ref: pk.PayloadRef) -> None:
    _rewrite(_manifest_of(store, ref), created="2020-01-01T00:00:00")


def _bad_time(store: pk.Store, ref: pk.PayloadRef) -> None:
    _rewrite(_manifest_of(store, ref), created="yesterday, around noon")


def _wrong_types(store: pk.Store, ref: pk.PayloadRef) -> None:
    _rewrite(_manifest_of(store, ref), size="big", libraries=[1, 2], created=7)


def _control_characters(store: pk.Store, ref: pk.PayloadRef) -> None:
    _rewrite(_manifest_of(store, ref), type=_HOSTILE)


def _deep_manifest(store: pk.Store, ref: pk.PayloadRef) -> None:
    _manifest_of(store, ref).write_bytes(b"[" * 50_000 + b"]" * 50_000)


def _huge_manifest(store: pk.Store, ref: pk.PayloadRef) -> None:
    _manifest_of(store, ref).write_bytes(b" " * (8 << 20))


def _fifo_object(store: pk.Store, ref: pk.PayloadRef) -> None:
    path = Path(store.url, store.info(ref).object_key)
    path.unlink()
    os.mkfifo(path)


def _fifo_manifest(store: pk.Store, ref: pk.PayloadRef) -> None:
    path = _manifest_of(store, ref)
    path.unlink()
    os.mkfifo(path)


def _symlinked_object(store: pk.Store, ref: pk.PayloadRef) -> None:
    path = Path(store.url, store.info(ref).object_key)
    path.unlink()
    path.symlink_to("/etc/passwd")


def _directory_object(store: pk.Store, ref: pk.PayloadRef) -> None:
    path = Path(store.url, store.info(ref).object_key)
    path.unlink()
    path.mkdir()


def _wrong_size(store: pk.Store, ref: pk.PayloadRef) -> None:
    _rewrite(_manifest_of(store, ref), size=1 << 50)


def _truncated_object(store: pk.Store, ref: pk.PayloadRef) -> None:
    path = Path(store.url, store.info(ref).object_key)
    path.write_bytes(path.read_bytes()[:3])


def _records(store: pk.Store, ref: pk.PayloadRef) -> None:
    runs = Path(store.url, "records", "runs")
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "notjson.json").write_bytes(b"\xff\xfe{")
    (runs / "deep.json").write_bytes(b"[" * 100_000)
    (runs / "list.json").write_text("[1, 2, 3]")
    odd = {"kind": "payloadkit.run", "run_id": "odd", "works": [1], "payloads": "x", "started": 5}
    (runs / "odd.json").write_text(json.dumps(odd))
    hostile = {
        "kind": "payloadkit.run",
        "run_id": _HOSTILE,
        "app": _HOSTILE,
        "outcome": _HOSTILE,
        "started": _HOSTILE,
        "works": {_HOSTILE: {"state": {_HOSTILE: _HOSTILE}, "status": _HOSTILE}},
    }
    (runs / "hostile.json").write_text(json.dumps(hostile))
    os.mkfifo(runs / "fifo.json")


def _foreign_files(store: pk.Store, ref: pk.PayloadRef) -> None:
    Path(store.url, "objects", "notes.txt").write_text("mine")
    Path(store.url, "manifests", "blake3", "zz").mkdir(parents=True)
    Path(store.url, "manifests", "blake3", "zz", "x.json").write_text("{}")
    Path(store.url, "tmp").mkdir(exist_ok=True)
    Path(store.url, "tmp", "evil\x1bname").write_text("x")


CASES: dict[str, Callable[[pk.Store, pk.PayloadRef], None]] = {
    "naive time": _naive_time,
    "unparseable time": _bad_time,
    "wrong field types": _wrong_types,
    "control characters in the type": _control_characters,
    "deeply nested manifest": _deep_manifest,
    "8 MiB manifest": _huge_manifest,
    "FIFO for an object": _fifo_object,
    "FIFO for a manifest": _fifo_manifest,
    "link to /etc/passwd for an object": _symlinked_object,
    "directory for an object": _directory_object,
    "size of a petabyte": _wrong_size,
    "truncated object": _truncated_object,
    "damaged run records": _records,
    "foreign files": _foreign_files,
}


def _run(
    store: pk.Store, command: list[str]
) -> tuple[str, subprocess.CompletedProcess[str] | None]:
    argv = [sys.executable, "-m", "payloadkit.cli", command[0], store.url, *command[1:]]
    env = {**os.environ, "PYTHONPATH": _SRC}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired:
        return "hang", None
    if "Traceback" in done.stderr or done.returncode not in (0, 1):
        return "crash", done
    if any(ch in done.stdout + done.stderr for ch in "\x1b\x07"):
        return "raw control character", done
    return "ok", done


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_content(case: str, tmp_path: Path, report_figure: Any) -> None:
    """Every command survives the damage: no traceback, no hang, no raw control character."""
    store = pk.open_store(tmp_path / "store")
    good = [store.put({"good": n}) for n in range(3)]
    victim = store.put({"victim": case})
    CASES[case](store, victim)
    outcomes = {" ".join(c): _run(store, c) for c in _COMMANDS}
    bad = {
        c: (what, done.stderr[-500:] if done else "")
        for c, (what, done) in outcomes.items()
        if what != "ok"
    }
    report_figure(
        f"hostile content ({case}): {len(_COMMANDS)} commands, "
        f"{sum(w == 'crash' for w, _ in outcomes.values())} crashes, "
        f"{sum(w == 'hang' for w, _ in outcomes.values())} hangs"
    )
    assert bad == {}
    for ref in good:
        assert store.get(ref) == {"good": good.index(ref)}


def test_verify_reports_every_problem(tmp_path: Path) -> None:
    """verify goes on past each damaged item and reports them all, each by kind."""
    store = pk.open_store(tmp_path / "store")
    refs = [store.put({"n": n}) for n in range(6)]
    _fifo_object(store, refs[0])
    _symlinked_object(store, refs[1])
    _truncated_object(store, refs[2])
    _bad_time(store, refs[3])
    _foreign_files(store, refs[4])
    report = verify_store(store)
    kinds = sorted(f.kind for f in report.problems)
    assert kinds.count("unreadable") == 2
    assert "corrupt" in kinds
    assert "bad-manifest" in kinds
    assert kinds.count("foreign") >= 3
    assert store.get(refs[5]) == {"n": 5}


def test_reads_of_special_files_fail_at_once(tmp_path: Path) -> None:
    """A FIFO or a link where a value should be is a StoreError or IntegrityError, at once."""
    store = pk.open_store(tmp_path / "store")
    fifo, link = store.put("fifo"), store.put("link")
    _fifo_object(store, fifo)
    _symlinked_object(store, link)
    for ref in (fifo, link):
        with pytest.raises((StoreError, IntegrityError)):
            store.get(ref)


def test_naive_times_are_utc(tmp_path: Path) -> None:
    """A manifest time written without a zone is read as UTC: put, gc and ls all work."""
    store = pk.open_store(tmp_path / "store")
    ref = store.put("old and naive")
    _naive_time(store, ref)
    assert store.info(ref).created_at.tzinfo is not None
    assert store.put("old and naive") == ref  # an old manifest: rewritten with a fresh time
    assert store.info(ref).created_at.year > 2020
    assert [r.digest for r in store] == [ref.digest]


def test_put_over_hostile_object_repairs_it(tmp_path: Path) -> None:
    """Saving a payload whose object is a FIFO, a link or truncated writes it anew; it loads."""
    store = pk.open_store(tmp_path / "store")
    for n, damage in enumerate(
        (_fifo_object, _symlinked_object, _truncated_object, _directory_object)
    ):
        ref = store.put({"repair": n})
        damage(store, ref)
        if damage is _directory_object:
            with pytest.raises(PayloadkitError):
                store.put({"repair": n})  # a directory is not replaced by a file
            continue
        assert store.put({"repair": n}) == ref
        assert store.get(ref) == {"repair": n}
