"""Reading 1 of 10 columns of a parquet payload on S3 (moto) beside a full get of it.

``run_cases(quick, workdir)`` is what ``run.py`` calls: it starts moto's S3 server on a
loopback port exactly as the tests do (``tests/_s3server.py``), saves a DataFrame of ten
float64 columns as parquet, and times ``store.get(ref, columns=["c3"])`` against
``store.get(ref)``, interleaved, with the local payload cache off. It counts the bytes
each side reads from the store (every ``read_range`` and ``read_object`` of the
backend) and reports both ratios: bytes transferred and time, partial over full.

The payload's size is ``--mib`` (default 256 MiB; ``PAYLOADKIT_BENCH_PARTIAL_MIB`` for
``run.py``), ``--quick`` uses 8 MiB. ``python benchmarks/partial.py [--mib 800]`` prints
the rows alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # benchmarks/ and the repository (tests/)

import harness  # noqa: E402

MIB = 1 << 20
DEFAULT_MIB = 256
QUICK_MIB = 8
BYTES_LIMIT = 0.15
TIME_LIMIT = 0.20
COLUMNS = 10
#: The S3 store's ranged GETs of a whole-object read (payloadkit.stores._s3.RANGE_SIZE).
RANGE_SIZE = 64 * MIB


def run_cases(
    quick: bool, workdir: str, mib: int | None = None, server_name: str = "moto"
) -> list[dict[str, Any]]:
    """Both rows (bytes and time), measured against a moto (or s3rver) server started here."""
    try:
        from tests._s3server import MotoServer, S3rverServer, S3Server
    except ImportError as exc:
        return [_skipped(f"the S3 test server cannot start here ({exc}); install moto[server]")]
    if mib is None:
        mib = (
            QUICK_MIB if quick else int(os.environ.get("PAYLOADKIT_BENCH_PARTIAL_MIB", DEFAULT_MIB))
        )
    repeat = 3
    with harness.environ(PAYLOADKIT_CACHE="0", PAYLOADKIT_PROGRESS="0"):
        server: Any = MotoServer() if server_name == "moto" else S3rverServer()
        try:
            info = S3Server(server.endpoint_url) if server_name == "moto" else server.info()
            info.create_bucket(info.bucket)
            return _measure(info, mib, repeat, server_name)
        finally:
            server.stop()


def _measure(info: Any, mib: int, repeat: int, server_name: str) -> list[dict[str, Any]]:
    import numpy as np
    import pandas as pd

    import payloadkit as pk

    store = pk.open_store(info.url("partial"), **info.options())
    store.get(store.put(b"warm-up"))  # connection set-up is not a transfer
    rows = mib * MIB // (8 * COLUMNS)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{i}": rng.random(rows) for i in range(COLUMNS)})
    ref = store.put(frame)
    del frame
    counter = _Counter(store.backend)
    times: dict[str, list[float]] = {"partial": [], "full": []}
    moved: dict[str, int] = {}
    requests: dict[str, int] = {}
    sides: dict[str, Callable[[], Any]] = {
        "partial": lambda: store.get(ref, columns=["c3"]),
        "full": lambda: store.get(ref),
    }
    for i in range(repeat + 1):  # the first round warms up and is not counted
        order = list(sides) if i % 2 == 0 else list(reversed(sides))
        for side in order:
            counter.count = counter.requests = 0
            start = time.perf_counter()
            result = sides[side]()
            elapsed = time.perf_counter() - start
            del result
            moved[side], requests[side] = counter.count, counter.requests
            if i:
                times[side].append(elapsed)
    counter.restore()
    store.delete(ref)
    size = f"{ref.size / MIB:,.0f} MiB"
    partial_s, full_s = statistics.median(times["partial"]), statistics.median(times["full"])
    byte_ratio, time_ratio = moved["partial"] / moved["full"], partial_s / full_s
    note = (
        f"parquet payload of {size} ({rows:,} rows x {COLUMNS} float64 columns); the partial "
        f"read fetched {moved['partial'] / MIB:,.1f} MiB, the full get {moved['full'] / MIB:,.1f} "
        f"MiB (bytes counted on the backend), in {requests['partial']} and "
        f"{requests['full']} ranged GETs; local payload cache off"
    )
    time_note = ""
    if server_name == "moto":
        time_note = (
            "moto reads the whole stored object for every GET, ranged or not, so there a GET "
            "of a few bytes of a large object costs about as much as one 64 MiB range of a "
            "full get: the time ratio follows the number of requests (the partial read "
            "makes one for the footer and one per row group), not the bytes. "
            "`--server s3rver`, whose ranged GETs read only their bytes, shows the time of "
            "the bytes moved."
        )
    return [
        {
            "name": "partial_bytes" + ("" if server_name == "moto" else f"_{server_name}"),
            "title": f"S3 read of 1 of {COLUMNS} columns, bytes moved ({size}, {server_name})",
            "target": f"<= {BYTES_LIMIT:.0%} of a full get's bytes",
            "unit": "MiB",
            "payloadkit": moved["partial"] / MIB,
            "raw": moved["full"] / MIB,
            "raw_label": "full store.get",
            "ratio": byte_ratio,
            "limit": BYTES_LIMIT,
            "met": byte_ratio <= BYTES_LIMIT,
            "note": note,
        },
        {
            "name": "partial_time" + ("" if server_name == "moto" else f"_{server_name}"),
            "title": f"S3 read of 1 of {COLUMNS} columns, time ({size}, {server_name})",
            "target": f"<= {TIME_LIMIT:.0%} of a full get's time",
            "payloadkit": partial_s,
            "raw": full_s,
            "raw_label": "full store.get",
            "ratio": time_ratio,
            "limit": TIME_LIMIT,
            "met": time_ratio <= TIME_LIMIT,
            "samples": {"payloadkit": times["partial"], "raw": times["full"]},
            "note": time_note,
        },
    ]


class _Counter:
    """Counts the bytes a backend returns from ``read_range`` and ``read_object``, and the
    GET requests they make (a whole-object read makes one per 64 MiB range)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.count = 0
        self.requests = 0
        self._saved = {name: getattr(backend, name) for name in ("read_range", "read_object")}
        for name, method in self._saved.items():
            setattr(backend, name, self._wrap(method))

    def _wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            data = method(*args, **kwargs)
            size = memoryview(data).nbytes
            self.count += size
            self.requests += 1 if method.__name__ == "read_range" else -(-size // RANGE_SIZE)
            return data

        return counted

    def restore(self) -> None:
        for name in self._saved:
            delattr(self.backend, name)


def _skipped(note: str) -> dict[str, Any]:
    return {
        "name": "partial",
        "title": f"S3 read of 1 of {COLUMNS} columns against a full get",
        "target": f"<= {BYTES_LIMIT:.0%} of the bytes and <= {TIME_LIMIT:.0%} of the time",
        "status": "skipped",
        "note": note,
    }


def main() -> None:
    """Print the rows: partial, full, ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MIB} MiB")
    parser.add_argument("--mib", type=int, help=f"payload size in MiB (default {DEFAULT_MIB})")
    parser.add_argument("--server", choices=("moto", "s3rver"), default="moto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        rows = run_cases(quick=args.quick, workdir=workdir, mib=args.mib, server_name=args.server)
    print(f"{'case':<58} {'partial':>10} {'full':>10} {'ratio':>7}  target")
    for row in rows:
        if row.get("status") == "skipped":
            print(f"{row['title']:<58} skipped: {row['note']}")
            continue
        unit = row.get("unit", "s")
        print(
            f"{row['title']:<58} {row['payloadkit']:>8.2f}{unit:>2} {row['raw']:>8.2f}{unit:>2} "
            f"{row['ratio']:>7.3f}  {row['target']} ({'met' if row['met'] else 'NOT met'})"
        )
    for row in rows:
        if row.get("note"):
            print(row["note"])


if __name__ == "__main__":
    main()
