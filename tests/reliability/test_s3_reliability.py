"""Reliability on S3 (moto's server on loopback): concurrent writer processes, and
transient faults on every third request injected by a proxy in front of the server.

Reads go to the server itself: the local payload cache is turned off, so that every
``get`` re-reads and re-verifies the stored bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests._s3server import S3Server
from tests.s3._faultproxy import EveryNth, fault_proxy

import payloadkit as pk
from payloadkit._layout import parse_key
from payloadkit.stores import _s3

pytestmark = pytest.mark.s3

WRITER = str(Path(__file__).with_name("_writer.py"))


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read goes to the server (and to its writer processes)."""
    monkeypatch.setenv("PAYLOADKIT_CACHE", "0")


def _keys(server: S3Server, store: pk.Store, under: str = "") -> list[str]:
    """The keys under the store's prefix (relative to it), listed behind payloadkit's back."""
    prefix = store.url.split("/", 3)[3] + "/"
    return [key[len(prefix) :] for key in server.keys(prefix + under)]


def _uploads(server: S3Server, store: pk.Store) -> int:
    """Multipart uploads under the store's prefix never completed nor aborted."""
    prefix = store.url.split("/", 3)[3] + "/"
    listed = server.client().list_multipart_uploads(Bucket=server.bucket, Prefix=prefix)
    return len(listed.get("Uploads", []))


def _audit(server: S3Server, store: pk.Store) -> dict[str, int]:
    """Load every listed payload; count the unreadable ones and objects without a manifest."""
    counts = {"listed": 0, "corrupt": 0, "orphans": 0, "uploads": _uploads(server, store)}
    manifests = set()
    for ref in store:
        counts["listed"] += 1
        manifests.add(ref.digest)
        try:
            store.get(ref)
        except pk.errors.PayloadkitError:
            counts["corrupt"] += 1
    objects = {getattr(parse_key(key), "digest", None) for key in _keys(server, store, "objects/")}
    counts["orphans"] = len(objects - manifests)
    return counts


def test_eight_processes_hundred_puts_on_s3(
    s3_server: S3Server, s3_store: pk.Store, report_figure: Any, writer_totals: Any
) -> None:
    """8 processes x 100 puts of overlapping content to S3, each read back: 0 corrupt or missing reads."""
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "WRITER_STORAGE_OPTIONS": json.dumps(s3_server.options()),
    }
    writers = [
        subprocess.Popen(
            [sys.executable, WRITER, "mix", s3_store.url, str(proc), "100"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for proc in range(8)
    ]
    totals = writer_totals(writers)
    counts = _audit(s3_server, s3_store)
    assert totals["puts"] == 800
    assert totals["corrupt"] == totals["missing"] == 0
    assert counts["corrupt"] == counts["orphans"] == counts["uploads"] == 0
    assert counts["listed"] == 60  # the 60 distinct payloads the writers share
    report_figure(
        f"concurrency (S3): 8 processes x 100 puts, {totals['reads']} reads, "
        f"{totals['corrupt']} corrupt, {totals['missing']} missing; {counts['listed']} distinct "
        f"payloads, {counts['orphans']} objects without a manifest, {counts['uploads']} open uploads"
    )


_PART = 5 * 1024 * 1024  # S3's smallest part: keeps multipart payloads small


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart transfers from 10 MiB, in 5 MiB parts."""
    monkeypatch.setattr(_s3, "PART_SIZE", _PART)
    monkeypatch.setattr(_s3, "RANGE_SIZE", _PART)
    monkeypatch.setattr(_s3, "MULTIPART_FROM", 2 * _PART)


def _round(store: pk.Store, n: int) -> dict[str, int]:
    """Put (small, medium, multipart), check, read, list and delete payloads; count outcomes."""
    objects: list[Any] = [
        {"round": n, "small": list(range(n + 10))},
        bytes([n]) * 300_000,
        os.urandom(3 * _PART + n),
    ]
    stats = {"operations": 0, "corrupt": 0}
    refs = [store.put(obj) for obj in objects]
    for ref, obj in zip(refs, objects, strict=True):
        assert store.exists(ref)
        stats["corrupt"] += store.get(ref) != obj
        stats["operations"] += 3
    assert sorted(r.digest for r in store) == sorted(r.digest for r in refs)
    for ref in refs:
        store.delete(ref)
        assert not store.exists(ref)
        stats["operations"] += 2
    assert list(store) == []
    stats["operations"] += 2
    return stats


def _faulty_rounds(
    s3_server: S3Server, faults: EveryNth | None, rounds: int, report_figure: Any
) -> None:
    """``rounds`` of every operation through the fault proxy; check and report the outcome."""
    with fault_proxy(s3_server.endpoint_url) as proxy:
        store: Any = pk.open_store(s3_server.url(), **s3_server.options(proxy.endpoint_url))
        proxy.faults[:] = [faults] if faults else []
        totals = {"operations": 0, "corrupt": 0}
        for n in range(rounds):
            for key, value in _round(store, n).items():
                totals[key] += value
        proxy.faults.clear()
        requests = len(proxy.seen)
    assert totals["corrupt"] == 0
    assert _keys(s3_server, store) == ["payloadkit-store.json"]  # the store, and nothing else
    # A multipart upload the server began but whose answer was cut short cannot be aborted
    # by the writer (it never learnt the upload's id): it stays invisible until gc aborts it.
    began = _uploads(s3_server, store)
    store.backend.abort_incomplete_uploads(datetime.now(UTC))
    assert _uploads(s3_server, store) == 0
    injected = "no fault injected"
    if faults is not None:
        assert set(faults.counts) == set(faults.kinds)
        injected = ", ".join(f"{count} {kind}" for kind, count in sorted(faults.counts.items()))
    report_figure(
        f"S3 faults on every 3rd request ({'control' if faults is None else 'faulty'}): "
        f"{requests} requests, {injected}; {totals['operations']} operations (put small and "
        f"multipart, exists, get, list, delete) all succeeded, {totals['corrupt']} corrupt reads, "
        f"0 objects left; {began} invisible incomplete uploads, aborted by gc"
    )


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize("every", [None, 3], ids=["control", "every-3rd"])
def test_every_third_request_fails(
    s3_server: S3Server, every: int | None, report_figure: Any
) -> None:
    """With 503, 500, reset or a short body on every 3rd request, every operation succeeds intact."""
    _faulty_rounds(s3_server, EveryNth(every) if every else None, 3, report_figure)


@pytest.mark.slow
@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize("offset", [1, 2])
def test_every_third_request_fails_at_every_phase(
    s3_server: S3Server, offset: int, report_figure: Any
) -> None:
    """The long variant: faults on the requests of the other two phases, over more rounds."""
    _faulty_rounds(s3_server, EveryNth(3, seen=offset), 6, report_figure)
