"""gc racing real writer processes: no payload that must survive is ever lost.

Writers put new payloads, put old ones again (dedup hits on manifests older than the
refresh age), put over orphans planted as a killed writer leaves them, and write run
records; collectors run gc back to back with ``older_than=0`` and few kept runs; readers
load what was saved a moment ago. The store is created with a grace period of a few
seconds, so payloads age past it many times in one run.

What must hold, from the processes' own logs:
- no collection deletes a payload that a run record it kept references (a record written
  before it started and not removed by it);
- no collection deletes a payload whose put returned less than (grace - refresh age)
  before it started, or after it started and before the deletion;
- every payload whose last put returned less than (grace - refresh age) before the start
  of the last collection to begin loads (the put "returned after gc started, or within its
  grace window");
- no read of a payload saved within a quarter of the grace period found it missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit._layout import manifest_key
from payloadkit._maintenance import verify_store
from payloadkit.errors import PayloadNotFoundError

GRACE = timedelta(seconds=4)
_REPO = Path(__file__).resolve().parents[2]


def _run_soak(
    url: str, options: dict[str, Any], seconds: float, tmp_path: Path, writers: int, collectors: int
) -> list[dict[str, Any]]:
    """Start every process, wait for them all, and return the events they logged."""
    log = tmp_path / f"soak-{uuid.uuid4().hex[:6]}.log"
    log.touch()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_REPO / "src"), str(_REPO)])}
    roles = ["writer"] * writers + ["collector"] * collectors + ["reader"]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.reliability._soak",
                role,
                url,
                json.dumps(options),
                str(seconds),
                str(seed),
                str(log),
                str(log),
            ],
            cwd=_REPO,
            env=env,
        )
        for seed, role in enumerate(roles)
    ]
    for process in processes:
        assert process.wait(timeout=seconds + 120) == 0
    return [json.loads(line) for line in log.read_text().splitlines()]


def _check(store: pk.Store, events: list[dict[str, Any]]) -> dict[str, int]:
    """Apply the invariants of the module docstring; return the figures."""
    window = GRACE.total_seconds() / 2  # a put protects its payload for this long at least
    passes = [e for e in events if e["event"] == "gc"]
    wrong = _wrong_deletions(events, passes, window)
    unkept = _kept_record_deletions(events, passes)
    last_start = max((e["started"] for e in passes), default=0.0)
    last_put: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
    for event in (e for e in events if e["event"] == "put"):
        ref = event["ref"]
        last_put[(ref["digest"], ref["serializer"], ref["type"])] = (event["at"], ref)
    must_survive = [ref for at, ref in last_put.values() if at > last_start - window]
    lost = 0
    for ref in must_survive:
        try:
            store.get(pk.PayloadRef.from_dict(ref))
        except PayloadNotFoundError:
            lost += 1
    referenced_lost = 0
    for name in store.list_records("runs"):
        record = store.get_record("runs", name)
        for digest in record["payloads"]:
            referenced_lost += not store.exists(digest)
    reads = [e for e in events if e["event"] == "read"]
    kinds = [e["kind"] for e in events if e["event"] == "put"]
    return {
        "wrong deletions": wrong,
        "kept-record deletions": unkept,
        "puts": len(kinds),
        "new": kinds.count("new"),
        "re-puts": kinds.count("re-put"),
        "over orphans": kinds.count("over-orphan"),
        "records": sum(e["event"] == "record" for e in events),
        "gc passes": len(passes),
        "gc errors": sum(e["event"] == "gc-error" for e in events),
        "payloads collected": sum(len(e["removed"]) for e in passes),
        "must survive": len(must_survive),
        "lost": lost,
        # referenced only by a record written after the collection that deleted the payload
        # started, by a writer that held the ref for longer than the window: not guaranteed
        "lost to records written late": referenced_lost,
        "reads": len(reads),
        "missing reads": sum(not e["ok"] for e in reads),
    }


def _wrong_deletions(
    events: list[dict[str, Any]], passes: list[dict[str, Any]], window: float
) -> int:
    """Manifest deletions (not put back) of a payload whose put returned within ``window``
    before the collection started, or after it started and before the deletion."""
    puts: dict[str, list[float]] = {}
    for event in (e for e in events if e["event"] == "put"):
        ref = event["ref"]
        puts.setdefault(manifest_key(ref["digest"], ref["serializer"], ref["type"]), []).append(
            event["at"]
        )
    restored = [(e["key"], e["at"]) for e in events if e["event"] == "restored"]
    wrong = 0
    for event in (e for e in events if e["event"] == "deleted"):
        during = [p for p in passes if p["started"] <= event["at"] <= p["at"]]
        started, ended = (during[0]["started"], during[0]["at"]) if during else (0.0, event["at"])
        if any(k == event["key"] and event["at"] <= at <= ended for k, at in restored):
            continue  # put back by the collection itself: a run record appeared meanwhile
        wrong += any(started - window <= t <= event["at"] for t in puts.get(event["key"], []))
    return wrong


def _kept_record_deletions(events: list[dict[str, Any]], passes: list[dict[str, Any]]) -> int:
    """Manifest deletions (not put back) of a payload referenced by a record that the
    deleting collection kept: written before it started, and not removed by it."""
    records = [e for e in events if e["event"] == "record"]
    removed = [e for e in events if e["event"] == "record-deleted"]
    restored = [(e["key"], e["at"]) for e in events if e["event"] == "restored"]
    count = 0
    for event in (e for e in events if e["event"] == "deleted"):
        during = [p for p in passes if p["started"] <= event["at"] <= p["at"]]
        if not during:
            continue
        started, ended = during[0]["started"], during[0]["at"]
        if any(k == event["key"] and event["at"] <= at <= ended for k, at in restored):
            continue
        digest = _digest_of(event["key"])
        gone = {e["name"] for e in removed if e["at"] <= ended}  # before or by this pass
        count += any(
            r["at"] < started and r["name"] not in gone and digest in r["digests"] for r in records
        )
    return count


def _digest_of(key: str) -> str:
    parts = key.split("/")
    return f"{parts[1]}:{parts[3]}"


def _soak(
    url: str,
    options: dict[str, Any],
    seconds: float,
    tmp_path: Path,
    report_figure: Any,
    label: str,
    writers: int = 3,
    collectors: int = 1,
) -> None:
    store = pk.open_store(url, **options)
    store.initialize(grace=GRACE)
    events = _run_soak(url, options, seconds, tmp_path, writers, collectors)
    figures = _check(store, events)
    report_figure(
        f"gc soak ({label}, {writers} writers, {collectors} collectors, {seconds:.0f} s, grace {GRACE.total_seconds():.0f} s): "
        + ", ".join(f"{v} {k}" for k, v in figures.items())
    )
    assert figures["gc passes"] > 0
    assert figures["re-puts"] > 0
    assert figures["payloads collected"] > 0
    assert figures["wrong deletions"] == 0
    assert figures["lost"] == 0
    assert figures["kept-record deletions"] == 0
    assert figures["missing reads"] == 0
    assert figures["gc errors"] == 0
    report = verify_store(store)
    assert [p for p in report.problems if p.kind not in ("orphan", "leftover")] == []


def test_gc_soak_local(tmp_path: Path, report_figure: Any) -> None:
    """Writers, a collector and a reader race on a local store for 20 seconds: nothing is lost."""
    url = str(tmp_path / "store")
    _soak(url, {}, 20, tmp_path, report_figure, "local")


@pytest.mark.s3
def test_gc_soak_s3(s3_server: Any, tmp_path: Path, report_figure: Any) -> None:
    """The same race on S3 (moto), shorter: nothing is lost."""
    url, options = s3_server.url(), s3_server.options()
    _soak(
        url,
        options,
        15,
        tmp_path,
        report_figure,
        "S3, moto",
        writers=2,
    )


@pytest.mark.slow
def test_gc_soak_local_long(tmp_path: Path, report_figure: Any) -> None:
    """Four writers and two collectors race on a local store for two minutes: nothing is lost."""
    url = str(tmp_path / "store")
    _soak(url, {}, 120, tmp_path, report_figure, "local", writers=4, collectors=2)


@pytest.mark.slow
@pytest.mark.s3
def test_gc_soak_s3_long(s3_server: Any, tmp_path: Path, report_figure: Any) -> None:
    """Three writers and two collectors race on S3 for ninety seconds: nothing is lost."""
    url, options = s3_server.url(), s3_server.options()
    _soak(
        url,
        options,
        90,
        tmp_path,
        report_figure,
        "S3, moto",
        writers=3,
        collectors=2,
    )
