"""The Work/Flow/App runtime: overhead of a tiny run, wide fan-ins, the payload cache.

``run_cases(quick, workdir)`` is what ``run.py`` calls; ``python benchmarks/runtime.py
[--quick]`` prints the rows alone. Rows:

* a tiny ``App.run()`` on the process executor (one Work, one call) against calling the
  same Flow's ``run()`` by hand, in this process: the difference is the runtime's overhead;
* 100 parallel Works each setting a 1 MiB payload, then one Work reading all 100 (the
  fan-in), on the process executor over a local store;
* the same fan-in on a 4-worker Dask ``LocalCluster`` over S3 (moto's server on loopback,
  started as the tests start it, ``tests/_s3server.py``);
* 5,000 tiny payloads put to S3 (moto) and read back, with the verified local cache on
  (each read puts an entry, under a cap small enough that eviction runs) and off.

Each App row times ``App.run()`` whole, after one untimed run has started what a process
starts once (the executor's worker template, the Dask cluster, the S3 connection); the
first run's time is in the note. moto answers one request at a time, so the S3 rows
measure moto as much as payloadkit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # benchmarks/ and the repository (tests/)

import harness  # noqa: E402

import payloadkit as pk  # noqa: E402

MIB = 1 << 20
TINY_TARGET = 0.15
FAN_IN_PROCESS_TARGET = 3.0
FAN_IN_DASK_TARGET = 2.0
CACHE_LIMIT = 1.5


class Tiny(pk.Work):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.x = 0

    def run(self, x: int) -> None:
        self.x = x


class TinyFlow(pk.Flow):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.tiny = Tiny()

    def run(self) -> None:
        self.tiny.run(1)


class Produces(pk.Work):  # type: ignore[misc]
    def __init__(self, i: int, size: int) -> None:
        super().__init__(parallel=True)
        self.i, self.size = i, size
        self.out: Any = None

    def run(self) -> None:
        self.out = pk.Payload(bytes([self.i % 251]) * (self.size - 8) + self.i.to_bytes(8, "big"))


class Consumes(pk.Work):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def run(self, payloads: list[Any]) -> None:
        self.total = sum(len(p.value) for p in payloads)


class FanIn(pk.Flow):  # type: ignore[misc]
    def __init__(self, works: int, size: int) -> None:
        super().__init__()
        self.producers = [Produces(i, size) for i in range(works)]
        self.consumer = Consumes()

    def run(self) -> None:
        for producer in self.producers:
            producer.run()
        self.consumer.run([producer.out for producer in self.producers])


def _app_times(make: Any, storage: Any, executor: Any, repeat: int) -> tuple[float, list[float]]:
    """The first run's time and the next ``repeat`` runs' times of ``make()``'s App."""
    times = []
    for _ in range(repeat + 1):
        app = pk.App(make(), storage=storage, executor=executor)
        start = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - start)
    return times[0], times[1:]


def _floor(store: Any, works: int, size: int) -> float:
    """The fan-in's bytes saved and loaded back by hand in this process, one after another."""
    blobs = [bytes([i % 251]) * (size - 8) + i.to_bytes(8, "big") for i in range(works)]
    start = time.perf_counter()
    refs = [store.put(blob) for blob in blobs]
    total = sum(len(store.get(ref)) for ref in refs)
    assert total == works * size
    return time.perf_counter() - start


def tiny_case(workdir: str, quick: bool) -> dict[str, Any]:
    repeat = 5 if quick else 20
    first, times = _app_times(TinyFlow, os.path.join(workdir, "tiny"), "process", repeat)
    bare = []
    for _ in range(repeat):
        flow = TinyFlow()
        start = time.perf_counter()
        flow.run()
        bare.append(time.perf_counter() - start)
    run, raw = statistics.median(times), statistics.median(bare)
    return {
        "ratio": run / raw,
        "name": "app_tiny",
        "title": "tiny App.run() (process executor), overhead over the bare call",
        "target": f"<= {TINY_TARGET} s of overhead",
        "payloadkit": run,
        "raw": raw,
        "raw_label": "Flow.run() called in this process",
        "met": run - raw <= TINY_TARGET,
        "note": f"overhead {run - raw:.3f} s; first run in this process {first:.3f} s",
        "samples": {"payloadkit": times, "raw": bare},
    }


def fan_in_process_case(workdir: str, quick: bool) -> dict[str, Any]:
    works, size, repeat = (10, 64 * 1024, 2) if quick else (100, MIB, 3)
    store = os.path.join(workdir, "fan-in")
    first, times = _app_times(lambda: FanIn(works, size), store, "process", repeat)
    floor = _floor(pk.open_store(os.path.join(workdir, "fan-in-floor")), works, size)
    run = statistics.median(times)
    return {
        "name": "app_fan_in_process",
        "title": f"{works} parallel Works x {size // 1024} KiB, then one reading all "
        "(process executor, local store)",
        "target": f"<= {FAN_IN_PROCESS_TARGET} s",
        "payloadkit": run,
        "raw": floor,
        "raw_label": "the same puts and gets by hand, in this process",
        "ratio": run / floor,
        "met": run <= FAN_IN_PROCESS_TARGET,
        "note": f"first run in this process {first:.2f} s",
        "samples": {"payloadkit": times},
    }


@contextlib.contextmanager
def _moto() -> Iterator[Any]:
    from tests._s3server import MotoServer, S3Server

    server = MotoServer()
    try:
        info = S3Server(server.endpoint_url)
        info.create_bucket(info.bucket)
        yield info
    finally:
        server.stop()


def fan_in_dask_case(workdir: str, quick: bool, info: Any) -> dict[str, Any]:
    import dask
    import distributed

    works, size, repeat = (10, 64 * 1024, 2) if quick else (100, MIB, 3)
    store = pk.open_store(info.url("fan-in"), **info.options())
    cache = tempfile.mkdtemp(prefix="dask-cache-", dir=workdir)
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "120s"}),
        distributed.LocalCluster(
            n_workers=4,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env={"PAYLOADKIT_CACHE": cache},
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        first, times = _app_times(lambda: FanIn(works, size), store, client, repeat)
    with harness.environ(PAYLOADKIT_CACHE="0"):
        floor = _floor(pk.open_store(info.url("fan-in-floor"), **info.options()), works, size)
    run = statistics.median(times)
    return {
        "name": "app_fan_in_dask",
        "title": f"{works} parallel Works x {size // 1024} KiB, then one reading all "
        "(Dask LocalCluster, 4 workers, S3 on moto)",
        "target": f"<= {FAN_IN_DASK_TARGET} s",
        "payloadkit": run,
        "raw": floor,
        "raw_label": "the same puts and gets by hand, in this process, one at a time",
        "ratio": run / floor,
        "met": run <= FAN_IN_DASK_TARGET,
        "note": f"first run on the cluster {first:.2f} s",
        "samples": {"payloadkit": times},
    }


def cache_case(workdir: str, quick: bool, info: Any) -> dict[str, Any]:
    count = 200 if quick else 5000
    cache_dir = tempfile.mkdtemp(prefix="cache-", dir=workdir)
    store = pk.open_store(info.url("tiny-puts"), **info.options())
    store.get(store.put(b"warm-up"))
    sides: dict[str, float] = {}
    for side, setting in (("raw", "0"), ("payloadkit", cache_dir)):
        # A cap of a few hundred entries: eviction runs many times during the run.
        with harness.environ(PAYLOADKIT_CACHE=setting, PAYLOADKIT_CACHE_SIZE="40000"):
            start = time.perf_counter()
            for i in range(count):
                store.get(store.put(f"{side}-{i}".encode() * 4))
            sides[side] = time.perf_counter() - start
    ratio = sides["payloadkit"] / sides["raw"]
    return {
        "name": "cache_tiny_puts",
        "title": f"{count:,} tiny payloads put to S3 (moto) and read back, cache on "
        "(capped at 40 kB: it evicts) vs off",
        "target": f"<= {CACHE_LIMIT}x the same with the cache off",
        "payloadkit": sides["payloadkit"],
        "raw": sides["raw"],
        "raw_label": "cache off",
        "ratio": ratio,
        "limit": CACHE_LIMIT,
        "met": ratio <= CACHE_LIMIT,
    }


def _skipped(name: str, title: str, target: str, note: str) -> dict[str, Any]:
    return {"name": name, "title": title, "target": target, "status": "skipped", "note": note}


def run_cases(quick: bool, workdir: str) -> list[dict[str, Any]]:
    """Every runtime row (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    with harness.environ(PAYLOADKIT_PROGRESS="0"):
        rows.append(tiny_case(workdir, quick))
        rows.append(fan_in_process_case(workdir, quick))
        try:
            moto = _moto()
            info = moto.__enter__()
        except Exception as exc:  # moto[server] missing or unable to start here
            note = f"the S3 test server cannot start here ({type(exc).__name__}: {exc})"
            rows.append(_skipped("app_fan_in_dask", "fan-in on Dask over S3", "", note))
            rows.append(_skipped("cache_tiny_puts", "tiny puts, cache on/off", "", note))
            return rows
        try:
            try:
                rows.append(fan_in_dask_case(workdir, quick, info))
            except ImportError as exc:
                note = f"Dask is not installed ({exc})"
                rows.append(_skipped("app_fan_in_dask", "fan-in on Dask over S3", "", note))
            rows.append(cache_case(workdir, quick, info))
        finally:
            moto.__exit__(None, None, None)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="payloadkit-runtime-") as workdir:
        for row in run_cases(args.quick, workdir):
            measured = row.get("payloadkit")
            shown = f"{measured:.3f} s" if measured is not None else row.get("status", "")
            raw = row.get("raw")
            against = f" vs {raw:.4f} s ({row.get('raw_label')})" if raw is not None else ""
            met = {True: "met", False: "NOT met", None: "-"}[row.get("met")]
            print(f"{row['title']}: {shown}{against}; target {row['target']}: {met}")
            if row.get("note"):
                print(f"    {row['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
