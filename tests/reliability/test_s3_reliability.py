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
from pathlib import Path
from typing import Any

import pytest
from tests._s3server import S3Server

import payloadkit as pk
from payloadkit._maintenance import _digest_of_key

pytestmark = pytest.mark.s3

WRITER = str(Path(__file__).with_name("_writer.py"))


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read goes to the server (and to its writer processes)."""
    monkeypatch.setenv("PAYLOADKIT_CACHE", "0")


def _keys(server: S3Server, store: pk.Store, under: str = "") -> list[str]:
    """The keys under the store's prefix (relative to it), listed behind payloadkit's back."""
    prefix = store.url.split("/", 3)[3] + "/"
    pages = server.client().get_paginator("list_objects_v2")
    found: list[str] = []
    for page in pages.paginate(Bucket=server.bucket, Prefix=prefix + under):
        found += [item["Key"][len(prefix) :] for item in page.get("Contents", [])]
    return found


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
    objects = {_digest_of_key(key) for key in _keys(server, store, "objects/")}
    counts["orphans"] = len(objects - manifests)
    return counts


def test_eight_processes_hundred_puts_on_s3(
    s3_server: S3Server, s3_store: pk.Store, report_figure: Any
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
    totals = {"puts": 0, "reads": 0, "corrupt": 0, "missing": 0}
    for writer in writers:
        out, err = writer.communicate(timeout=600)
        assert writer.returncode == 0, err
        for key, value in json.loads(out).items():
            totals[key] += value
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
