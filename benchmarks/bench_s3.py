"""payloadkit's S3 transfers beside plain s3fs pipe/cat of the same bytes, on one moto server.

``run_cases(quick, workdir)`` is what ``run.py`` calls: it starts moto's S3 server on a
loopback port exactly as the tests do (``tests/_s3server.py``), times payloadkit's
put/get of a uint8 array (stored as ``.npy``) against ``s3fs`` ``pipe_file``/``cat_file`` of
the same bytes, interleaved, and returns one dict of :class:`cases.Result` fields per row,
plus a payloadkit get served from the local payload cache. ``python benchmarks/bench_s3.py
[--quick]`` prints the rows alone.

moto is a Python server that answers one request at a time: absolute times are moto's,
and what the ratios compare is the number and size of the requests each side makes.
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

import harness  # noqa: E402  (benchmarks/ is put on sys.path just above)

MIB = 1 << 20
#: name -> (bytes, timed runs per side)
SIZES = {"1MB": (MIB, 15), "64MB": (64 * MIB, 5), "512MB": (512 * MIB, 3)}
QUICK_SIZES = {"1MB": (MIB, 3), "8MB": (8 * MIB, 3)}
#: The size whose cached get is timed.
CACHED = {"64MB", "8MB"}
LIMIT = 1.2


def run_cases(quick: bool, workdir: str) -> list[dict[str, Any]]:
    """Every S3 row, measured against a moto server started (and stopped) here."""
    try:
        from tests._s3server import MotoServer, S3Server
    except ImportError as exc:
        return [_skipped(f"the S3 test server cannot start here ({exc}); install moto[server]")]
    with harness.environ(PAYLOADKIT_CACHE="0", PAYLOADKIT_PROGRESS="0"):
        server = MotoServer()
        try:
            info = S3Server(server.endpoint_url)
            info.create_bucket(info.bucket)
            bench = _Bench(info, workdir)
            rows: list[dict[str, Any]] = []
            for name, (size, repeat) in (QUICK_SIZES if quick else SIZES).items():
                rows += bench.measure(name, size, repeat)
            rows[0]["note"] = bench.small_put_note(rows[0]["raw"])
            return rows
        finally:
            server.stop()


def _skipped(note: str) -> dict[str, Any]:
    return {
        "name": "s3",
        "title": "S3 put/get against plain s3fs",
        "target": f"<= {LIMIT}x s3fs put/get of the same bytes",
        "status": "skipped",
        "note": note,
    }


def _timed(run: Callable[[], object], touch_bytes: int = 0) -> float:
    if touch_bytes:
        harness.touch(touch_bytes)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


class _Bench:
    """One store and one raw s3fs filesystem on the server, warmed up."""

    def __init__(self, info: Any, workdir: str) -> None:
        import payloadkit as pk

        self.info = info
        self.cache_dir = tempfile.mkdtemp(prefix="cache-", dir=workdir)
        self.store = pk.open_store(info.url("bench"), **info.options())
        self.fs = self.store.fs
        self.store.get(self.store.put(b"warm-up"))  # connection set-up is not a transfer
        self.fs.pipe_file(f"{info.bucket}/warm-up", b"x")
        self.fs.cat_file(f"{info.bucket}/warm-up")

    def measure(self, name: str, size: int, repeat: int) -> list[dict[str, Any]]:
        """Interleaved put and get of ``size`` bytes, then the cached get where timed."""
        import numpy as np

        times: dict[str, list[float]] = {k: [] for k in ("put", "pipe", "get", "cat", "hit")}
        touch = size if size >= 64 * MIB else 0
        for i in range(repeat + 1):  # the first round warms up and is not counted
            array = np.random.default_rng(i).integers(0, 255, size, dtype=np.uint8)
            sides = [self._pk_round, self._raw_round]
            for run in sides if i % 2 == 0 else reversed(sides):
                run(array, f"{name}-{i}", touch, times)
            if i == 0:
                times = {k: [] for k in times}
        rows = [
            self._row(f"put {name}", "put", "s3fs pipe_file", times["put"], times["pipe"]),
            self._row(f"get {name}", "get", "s3fs cat_file", times["get"], times["cat"]),
        ]
        if times["hit"]:
            rows.append(
                self._row(f"cached get {name}", "get", "s3fs cat_file", times["hit"], times["cat"])
            )
        return rows

    def _raw_round(self, array: Any, label: str, touch: int, times: dict[str, list[float]]) -> None:
        path = f"{self.info.bucket}/raw-{label}"
        data = self._stored_bytes(array)
        times["pipe"].append(_timed(lambda: self.fs.pipe_file(path, data)))
        times["cat"].append(_timed(lambda: self.fs.cat_file(path), touch))
        self.fs.rm_file(path)

    def _pk_round(self, array: Any, label: str, touch: int, times: dict[str, list[float]]) -> None:
        refs: list[Any] = []
        times["put"].append(_timed(lambda: refs.append(self.store.put(array))))
        times["get"].append(_timed(lambda: self.store.get(refs[0]), touch))
        if label.rsplit("-", 1)[0] in CACHED:
            os.environ["PAYLOADKIT_CACHE"] = self.cache_dir
            self.store.get(refs[0])  # fills the cache
            times["hit"].append(_timed(lambda: self.store.get(refs[0]), touch))
            os.environ["PAYLOADKIT_CACHE"] = "0"
        self.store.delete(refs[0])

    def _stored_bytes(self, array: Any) -> bytes:
        """The bytes payloadkit stores for ``array`` (the .npy file), for the raw side."""
        from payloadkit._encode import encode

        encoded = encode(array)
        return b"".join(encoded.frames or [])

    def _row(
        self, what: str, verb: str, raw_label: str, pk: list[float], raw: list[float]
    ) -> dict[str, Any]:
        pk_s, raw_s = statistics.median(pk), statistics.median(raw)
        ratio = pk_s / raw_s
        return {
            "name": "s3_" + what.replace(" ", "_"),
            "title": f"S3 {what} (moto on loopback)",
            "target": f"<= {LIMIT}x s3fs {verb} of the same bytes",
            "payloadkit": pk_s,
            "raw": raw_s,
            "raw_label": raw_label,
            "ratio": ratio,
            "limit": LIMIT,
            "met": ratio <= LIMIT,
            "samples": {"payloadkit": pk, "raw": raw},
        }

    def small_put_note(self, pipe_s: float) -> str:
        """Why a small put costs more than a pipe, from its requests timed one by one."""
        store: Any = self.store
        absent = "blake3:" + "0" * 64
        lookup = statistics.median(_timed(lambda: store.exists(absent)) for _ in range(15))
        body = store.info(store.put(b"manifest-sized")).to_bytes()
        manifest = statistics.median(
            _timed(lambda: store.backend.write("bench/manifest-sized.json", body))
            for _ in range(15)
        )
        floor = (pipe_s + manifest) / pipe_s
        return (
            "a put is three requests where s3fs's pipe is one: the manifest lookup (a GET, "
            f"{1000 * lookup:.1f} ms here), the object's PUT and then, only once the object "
            f"is complete, the manifest's PUT ({1000 * manifest:.1f} ms here for its "
            f"{len(body)} bytes). For objects up to 4 MiB the lookup runs while the object "
            "is sent: on S3 that saves a round trip, on moto nothing, as moto answers one "
            "request at a time. The manifest's PUT cannot overlap the object's (a manifest "
            "never points at missing bytes), so even with the lookup hidden a 1 MB put "
            f"would take (pipe + manifest PUT) / pipe = {floor:.2f}x here; with it, "
            f"{(pipe_s + manifest + lookup) / pipe_s:.2f}x."
        )


def main() -> None:
    """Print the rows: payloadkit time, s3fs time, ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 MB and 8 MB only, 3 runs each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        rows = run_cases(quick=args.quick, workdir=workdir)
    print(f"{'case':<34} {'payloadkit':>11} {'s3fs':>10} {'ratio':>7}")
    for row in rows:
        if row.get("status") == "skipped":
            print(f"{row['title']:<34} skipped: {row['note']}")
            continue
        print(
            f"{row['title']:<34} {row['payloadkit']:10.4f}s {row['raw']:9.4f}s {row['ratio']:6.2f}x"
        )
    for row in rows:
        if row.get("note") and row.get("status") != "skipped":
            print(f"- {row['name']}: {row['note']}")


if __name__ == "__main__":
    main()
