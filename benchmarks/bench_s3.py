"""payloadkit's S3 transfers beside plain s3fs pipe/cat of the same bytes, on one moto server.

Run ``python benchmarks/bench_s3.py``. ``cases()`` returns the measurements as a list of
``Case(name, payloadkit_s, raw_s)`` so that a benchmark runner can collect them; the
ratio is what counts (moto bounds the absolute numbers).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SIZES = {"1MB": 1 << 20, "64MB": 64 << 20, "512MB": 512 << 20}


@dataclass
class Case:
    """One measurement: payloadkit's time and the raw library's time for the same bytes."""

    name: str
    payloadkit_s: float
    raw_s: float | None

    @property
    def ratio(self) -> float | None:
        """payloadkit time / raw time."""
        return self.payloadkit_s / self.raw_s if self.raw_s else None


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def cases(sizes: dict[str, int] | None = None) -> list[Case]:
    """Start a moto server, measure put/get of each size and a 64 MB cache hit, stop it."""
    from tests._s3server import MotoServer, S3Server

    import payloadkit as pk

    server = MotoServer()
    results: list[Case] = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PAYLOADKIT_CACHE"] = "0"
        try:
            info = S3Server(server.endpoint_url)
            info.create_bucket(info.bucket)
            store = pk.open_store(info.url("bench"), **info.options())
            fs = store.fs
            store.get(store.put(b"warm-up"))  # connection set-up is not a transfer
            fs.pipe_file(f"{info.bucket}/warm-up", b"x")
            for name, size in (sizes or SIZES).items():
                results += _measure(store, info, name, size, cache)
        finally:
            server.stop()
    return results


def _measure(store: Any, info: Any, name: str, size: int, cache: str) -> list[Case]:
    import numpy as np

    fs = store.fs
    array = np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8)
    raw = memoryview(array).cast("B")
    path = f"{info.bucket}/raw-{name}"
    refs: list[object] = []
    put = _timed(lambda: refs.append(store.put(array)))
    raw_put = _timed(lambda: fs.pipe_file(path, raw.tobytes()))
    get = _timed(lambda: store.get(refs[0]))
    raw_get = _timed(lambda: fs.cat_file(path))
    found = [Case(f"put {name}", put, raw_put), Case(f"get {name}", get, raw_get)]
    if name == "64MB":
        os.environ["PAYLOADKIT_CACHE"] = cache
        store.get(refs[0])  # fills the cache
        hit = _timed(lambda: store.get(refs[0]))
        found.append(Case("cache hit 64MB", hit, raw_get))
        os.environ["PAYLOADKIT_CACHE"] = "0"
    store.delete(refs[0])
    fs.rm_file(path)
    return found


def main() -> None:
    """Print each case: payloadkit time, raw s3fs time, ratio."""
    print(f"{'case':<16} {'payloadkit':>11} {'s3fs':>9} {'ratio':>7}")
    for case in cases():
        raw = f"{case.raw_s:8.3f}s" if case.raw_s else "-"
        ratio = f"{case.ratio:6.2f}x" if case.ratio else "-"
        print(f"{case.name:<16} {case.payloadkit_s:10.3f}s {raw:>9} {ratio:>7}")


if __name__ == "__main__":
    main()
