"""payloadkit beside Ray and Dask, handing the same objects between processes on one host.

``python benchmarks/peers.py [--quick] [--repeat N]`` (``tox -e bench-peers``) times, in
one run and interleaved round by round:

* **payloadkit**: a source Work sets the object as a Payload; a destination Work in
  another worker process receives the ref and reads ``.value`` (process executor, local
  directory store). The bytes go through the store; every byte is hashed when written and
  verified before it is decoded, and the payload outlives both workers.
* **Ray**: actor A returns the object; the driver hands the ObjectRef to actor B, which
  receives the value. Ray keeps large buffers in its shared-memory object store and gives
  B read-only views; nothing is hashed, and the object lives as long as a reference does.
* **Dask**: a task pinned to worker A returns the object; a task pinned to worker B takes
  it as its argument, so B fetches it from A over a loopback TCP connection (pickled,
  buffers out of band). Nothing is hashed; the result lives in A's memory.
* **floor**: what any design that writes the bytes once to the page cache and verifies
  them must pay: hash the bytes (their name), write a new file of the stored size, map
  it and hash it again (blake3, all cores). Measured beside the others, same sizes.

Each row's time runs from the source having the object to the destination holding it;
the medians over the rounds are printed with the ratios and the targets. Results go to
``benchmarks/results/peers.json`` and ``docs/peers.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402  (benchmarks/ is put on sys.path just above)
import harness  # noqa: E402
import peer_works  # noqa: E402


@dataclass
class Row:
    """One case: the medians of each system, in seconds, and the verdicts."""

    name: str
    title: str
    targets: dict[str, float] = field(default_factory=dict)  # "ray" -> max ratio
    samples: dict[str, list[float]] = field(default_factory=dict)

    def median(self, system: str) -> float | None:
        values = self.samples.get(system)
        return statistics.median(values) if values else None

    def ratio(self, system: str) -> float | None:
        ours, theirs = self.median("payloadkit"), self.median(system)
        return None if ours is None or not theirs else ours / theirs

    def verdicts(self) -> dict[str, bool]:
        found = {}
        for system, limit in self.targets.items():
            ratio = self.ratio(system)
            if ratio is not None:
                found[system] = ratio <= limit
        return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--repeat", type=int, help="rounds per case")
    parser.add_argument("--rows", type=int, help="rows of the 10-column float64 DataFrame")
    parser.add_argument("--array-mib", type=int, help="MiB of the float64 array")
    parser.add_argument("--small", type=int, default=200, help="1 KB hand-overs per round")
    parser.add_argument("--only", action="append", help="cases to run (repeatable)")
    parser.add_argument(
        "--output-dir", default=os.path.dirname(HERE), help="where results and docs are written"
    )
    return parser.parse_args(argv)


# -- floor -------------------------------------------------------------------------------------


def floor_seconds(nbytes: int, workdir: str) -> float:
    """The least a verified hand-over through files costs: hash the bytes (their name),
    write them to a new file in the page cache, map that file and hash it again (the
    check before decoding). No serialization, no control messages, no second process."""
    import mmap

    from payloadkit._digest import DEFAULT_ALGORITHM, hash_buffers

    source = memoryview(bytearray(os.urandom(1 << 20)) * max(1, nbytes >> 20))
    path = os.path.join(workdir, "floor.bin")
    harness.touch(nbytes)
    start = time.perf_counter()
    hash_buffers([source], DEFAULT_ALGORITHM, source.nbytes)
    with open(path, "wb") as f:
        f.write(source)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        hash_buffers([view], DEFAULT_ALGORITHM, view.nbytes)
        view.release()
    elapsed = time.perf_counter() - start
    os.unlink(path)
    return elapsed


# -- systems -----------------------------------------------------------------------------------


class Ray:
    """Two actors on this host and the driver between them."""

    def __init__(self) -> None:
        import ray

        self.ray = ray
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": {"PYTHONPATH": HERE}},
        )
        actor = ray.remote(num_cpus=0)(peer_works.RayActor)
        self.a, self.b = actor.remote(), actor.remote()
        ray.get([self.a.ping.remote(), self.b.ping.remote()])

    def hand_over(self, kind: str, size: int) -> float:
        made = self.a.make.remote(kind, size)
        t_set = self.ray.get(self.a.last_set.remote())
        t_held = self.ray.get(self.b.hold.remote(made))
        del made
        return float(t_held - t_set)

    def close(self) -> None:
        self.ray.shutdown()


class Dask:
    """A LocalCluster of two single-threaded worker processes on loopback."""

    def __init__(self) -> None:
        import distributed

        self.cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        self.client = distributed.Client(self.cluster)
        self.client.run(sys.path.insert, 0, HERE)
        self.workers = sorted(self.client.scheduler_info()["workers"])

    def hand_over(self, kind: str, size: int) -> float:
        a, b = self.workers
        made = self.client.submit(
            peer_works.dask_make, kind, size, workers=[a], pure=False, allow_other_workers=False
        )
        held = self.client.submit(
            peer_works.dask_hold, made, workers=[b], pure=False, allow_other_workers=False
        )
        t_set, t_held = held.result()
        del made, held
        return float(t_held - t_set)

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


class Payloadkit:
    """An App on the process executor and a local directory store, per round."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.round = 0
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (HERE, *sys.path, os.environ.get("PYTHONPATH")) if p
        )

    def hand_over(self, kind: str, size: int, count: int = 1) -> list[float]:
        import payloadkit as pk

        self.round += 1
        storage = os.path.join(self.workdir, f"pk-{kind}-{self.round}")
        flow = peer_works.Handover(kind, size, count)
        pk.App(flow, storage=storage, executor="process").run()
        return flow.times


# -- cases -------------------------------------------------------------------------------------


def run_case(
    row: Row,
    kind: str,
    size: int,
    stored_bytes: int,
    systems: dict[str, Any],
    repeat: int,
    workdir: str,
    count: int = 1,
) -> None:
    """Rounds of every system in turn (the order rotating), and the floor beside them."""
    order = ["payloadkit", *[s for s in ("ray", "dask") if s in systems]]
    for system in order:  # a round of each, not counted: first imports, first allocations
        if system == "payloadkit":
            systems[system].hand_over(kind, size, min(count, 2))
        else:
            systems[system].hand_over(kind, size)
    for i in range(repeat):
        rotated = order[i % len(order) :] + order[: i % len(order)]
        for system in rotated:
            if system == "payloadkit":
                times = systems[system].hand_over(kind, size, count)
                # The first hand-over of a round includes the destination's first load.
                row.samples.setdefault(system, []).extend(times[1:] if count > 1 else times)
            else:
                values = [systems[system].hand_over(kind, size) for _ in range(count)]
                row.samples.setdefault(system, []).extend(values[1:] if count > 1 else values)
        if stored_bytes:
            row.samples.setdefault("floor", []).append(floor_seconds(stored_bytes, workdir))


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:,.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:,.0f} us"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| case | payloadkit | Ray | Dask | floor | vs Ray | vs Dask | vs floor | targets |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratios = {s: row.ratio(s) for s in ("ray", "dask", "floor")}
        verdicts = row.verdicts()
        targets = ", ".join(
            f"{'met' if verdicts.get(s) else 'NOT met' if s in verdicts else 'n/a'}: "
            f"<= {limit:g}x {s}"
            for s, limit in row.targets.items()
        )
        lines.append(
            f"| {row.title} | {_fmt(row.median('payloadkit'))} | {_fmt(row.median('ray'))} | "
            f"{_fmt(row.median('dask'))} | {_fmt(row.median('floor'))} | "
            + " | ".join(f"{r:.2f}x" if r is not None else "-" for r in ratios.values())
            + f" | {targets or '-'} |"
        )
    return lines


def write_outputs(rows: list[Row], out_dir: str, args: argparse.Namespace) -> None:
    load = os.getloadavg()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_at_start": args.load_at_start,
        "load_average_at_end": list(load),
        "quick": bool(args.quick),
        "versions": _versions(),
        "rows": [
            {
                "name": row.name,
                "title": row.title,
                "medians": {s: row.median(s) for s in row.samples},
                "ratios": {s: row.ratio(s) for s in ("ray", "dask", "floor")},
                "targets": row.targets,
                "met": row.verdicts(),
                "samples": row.samples,
            }
            for row in rows
        ],
    }
    os.makedirs(os.path.join(out_dir, "benchmarks", "results"), exist_ok=True)
    with open(os.path.join(out_dir, "benchmarks", "results", "peers.json"), "w") as f:
        json.dump(result, f, indent=1)
    page = [
        "# Against Ray and Dask",
        "",
        "Written by `tox -e bench-peers` (`python benchmarks/peers.py`); do not edit by hand.",
        "",
        f"Machine: {result['machine']}; load average "
        f"{' / '.join(f'{x:.2f}' for x in args.load_at_start)} at the start and "
        f"{' / '.join(f'{x:.2f}' for x in load)} at the end"
        + (" (a `--quick` smoke run: small sizes)" if args.quick else "")
        + ". Versions: "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
        + ".",
        "",
        *table(rows),
        "",
        "Each time runs from the source holding the object to the destination holding it,",
        "as the median over interleaved rounds; the floor is hashing the stored bytes, writing",
        "them once to a new file in the page cache, mapping it and hashing it again (blake3 on",
        "every core): no serialization, no control messages, one process.",
        "",
        "## What each system does and does not guarantee",
        "",
        "- **payloadkit** writes the object to the store, hashes it as it is written and",
        "  verifies it before decoding; the receiving Work gets writable objects, and the",
        "  payload outlives both workers (another process, or a later run, loads it by ref).",
        "  DataFrames travel in the `frame` format (a JSON header and the blocks' memory,",
        "  loaded as views); arrays as `.npy`; small objects as pickles.",
        "- **Ray** keeps the object in its shared-memory object store: the receiver gets",
        "  read-only views of large buffers, nothing is hashed, and the object disappears",
        "  with the last reference (or spills to disk under memory pressure).",
        "- **Dask** sends the object from worker to worker over TCP (pickle 5, buffers out of",
        "  band): nothing is hashed, and the result lives in the producing worker's memory.",
        "",
    ]
    os.makedirs(os.path.join(out_dir, "docs"), exist_ok=True)
    with open(os.path.join(out_dir, "docs", "peers.md"), "w") as f:
        f.write("\n".join(page))


def _versions() -> dict[str, str]:
    import importlib.metadata

    found = {}
    for name in ("payloadkit", "ray", "distributed", "pandas", "numpy", "pyarrow"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_at_start = list(os.getloadavg())
    repeat = args.repeat or (2 if args.quick else 5)
    rows_n = args.rows or (20_000 if args.quick else 1_000_000)
    mib = args.array_mib or (8 if args.quick else 256)
    small = 20 if args.quick else args.small
    workdir = tempfile.mkdtemp(prefix="payloadkit-peers-")
    systems: dict[str, Any] = {"payloadkit": Payloadkit(workdir)}
    started: list[Callable[[], None]] = []
    for name, make in (("ray", Ray), ("dask", Dask)):
        try:
            system = make()
        except ImportError as exc:
            print(f"{name}: not installed ({exc}); its column stays empty", file=sys.stderr)
            continue
        systems[name] = system
        started.append(system.close)
    frame_bytes = data.frame_nbytes(data.make_wide_frame(rows_n))
    cases = {
        "frame": (
            Row(
                "frame",
                f"DataFrame {rows_n:,} x 10 float64 ({frame_bytes / 1e6:.0f} MB), Work to Work",
                {"ray": 3.0, "floor": 1.3},
            ),
            "frame",
            rows_n,
            frame_bytes,
            1,
        ),
        "array": (
            Row("array", f"float64 array, {mib} MiB, Work to Work", {"ray": 4.0, "floor": 1.15}),
            "array",
            mib,
            mib << 20,
            1,
        ),
        "small": (
            Row("small", "1 KB dict, per hand-over", {"ray": 1.0}),
            "small",
            1024,
            0,
            small,
        ),
    }
    rows = []
    try:
        for name, (row, kind, size, stored, count) in cases.items():
            if args.only and name not in args.only:
                continue
            run_case(row, kind, size, stored, systems, repeat, workdir, count)
            rows.append(row)
            print("\n".join(table([row])[2:]), flush=True)
    finally:
        for close in started:
            close()
    print("\n".join(table(rows)))
    write_outputs(rows, args.output_dir, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
