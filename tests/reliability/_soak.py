"""The processes of the gc soak: writers that put, re-put, plant orphans and write run
records, collectors that run gc back to back, readers that load what was just saved.

Run as ``python -m tests.reliability._soak ROLE URL OPTIONS_JSON SECONDS SEED LOG``; each
process appends one JSON line per event to LOG (times from ``time.time()``, one clock for
every process of the machine).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import timedelta
from typing import Any

from tests._hooked import Hooked

import payloadkit as pk
from payloadkit._encode import encode
from payloadkit._gc import collect_garbage
from payloadkit._layout import object_key
from payloadkit.errors import PayloadkitError, PayloadNotFoundError


def _log(out: Any, **event: Any) -> None:
    out.write(json.dumps(event) + "\n")
    out.flush()


def _plant_orphan(store: pk.Store, data: bytes) -> None:
    """The object of ``data`` without a manifest, as a writer killed long ago leaves it."""
    encoded = encode(data, None, None)
    key = object_key(encoded.digest, encoded.suffix)
    if not store.backend.exists(key):
        store.backend.write_frames(key, encoded.frames or [])
        path = getattr(store.backend, "path", None)
        if path is not None and os.path.exists(path(key)):
            old = time.time() - 7200  # two hours: past gc's grace for leftovers
            os.utime(path(key), (old, old))


def writer(store: pk.Store, seconds: float, rng: random.Random, out: Any) -> None:
    """Put new payloads, put old ones again, put over planted orphans, write run records."""
    mine: list[tuple[bytes, float]] = []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        roll = rng.random()
        if roll < 0.15 and mine:
            data = rng.choice(mine)[0]  # an old payload saved again (a dedup hit)
            kind = "re-put"
        elif roll < 0.25:
            data = f"orphan {rng.getrandbits(48)}".encode()
            _plant_orphan(store, data)
            kind = "over-orphan"
        else:
            data = f"payload {os.getpid()} {n} {rng.getrandbits(32)}".encode() * rng.randint(1, 40)
            kind = "new"
        ref = store.put(data)
        done = time.time()
        mine.append((data, done))
        _log(out, event="put", kind=kind, ref=ref.to_dict(), at=done)
        if n % 5 == 0:
            refs = [ref, *(store.put(d) for d, _t in rng.sample(mine, min(3, len(mine))))]
            name = f"soak-{os.getpid()}-{n}"
            store.put_record("runs", name, _record(name, refs))
            _log(
                out,
                event="record",
                name=name,
                digests=sorted({r.digest for r in refs}),
                at=time.time(),
            )


def _record(name: str, refs: list[pk.PayloadRef]) -> dict[str, Any]:
    """A run record whose one Work holds ``refs``."""
    state = {
        f"p{i}": {"kind": "payloadkit.Payload", "ref": r.to_dict()} for i, r in enumerate(refs)
    }
    return {
        "kind": "payloadkit.run",
        "format": 1,
        "run_id": name,
        "started": pk_now(),
        "works": {"w": {"state": state}},
        "payloads": sorted({r.digest for r in refs}),
    }


def pk_now() -> str:
    """The current time as run records write it."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _Logged(Hooked):
    """The collector's backend: every deletion or rewrite of a manifest is logged with its time."""

    def __init__(self, inner: Any, out: Any) -> None:
        super().__init__(inner)
        self.out = out

    def delete(self, key: str) -> None:
        super().delete(key)
        if key.startswith("manifests/"):
            _log(self.out, event="deleted", key=key, at=time.time())
        elif key.startswith("records/runs/"):
            _log(self.out, event="record-deleted", name=key.split("/")[-1][:-5], at=time.time())

    def write(self, key: str, data: bytes) -> None:
        super().write(key, data)
        if key.startswith("manifests/"):
            _log(self.out, event="restored", key=key, at=time.time())


def collector(store: pk.Store, seconds: float, rng: random.Random, out: Any) -> None:
    """Run gc back to back, keeping few runs and no age: everything old is a candidate."""
    store = pk.Store(_Logged(store.backend, out))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.time()
        try:
            report = collect_garbage(
                store, keep_runs=rng.randint(2, 6), older_than=timedelta(0), dry_run=False
            )
        except PayloadkitError as exc:
            _log(out, event="gc-error", error=str(exc)[:300], started=started, at=time.time())
            continue
        removed = [f.key for f in report.removed if f.kind == "payload"]
        _log(out, event="gc", started=started, at=time.time(), removed=removed)


def reader(store: pk.Store, seconds: float, rng: random.Random, out: Any, log: str) -> None:
    """Load payloads saved a moment ago (well inside the grace period): none may be missing."""
    deadline = time.monotonic() + seconds
    grace = store.require_store().grace.total_seconds()
    while time.monotonic() < deadline:
        recent = _recent_puts(log, time.time() - grace / 4)
        for ref_dict in rng.sample(recent, min(20, len(recent))):
            ref = pk.PayloadRef.from_dict(ref_dict)
            try:
                store.get(ref)
                _log(out, event="read", ok=True)
            except PayloadNotFoundError:
                _log(out, event="read", ok=False, digest=ref.digest, at=time.time())
        time.sleep(0.05)


def _recent_puts(log: str, since: float) -> list[dict[str, Any]]:
    found = []
    with open(log) as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line being written
            if event.get("event") == "put" and event["at"] >= since:
                found.append(event["ref"])
    return found


def main(argv: list[str]) -> int:
    role, url, options, seconds, seed, log = argv[:6]
    store = pk.open_store(url, **json.loads(options))
    rng = random.Random(int(seed))
    with open(log, "a") as out:
        if role == "writer":
            writer(store, float(seconds), rng, out)
        elif role == "collector":
            collector(store, float(seconds), rng, out)
        else:
            reader(store, float(seconds), rng, out, argv[6])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
