"""payloadkit against the raw libraries, in one run: ``python benchmarks/run.py [--quick]``.

Each case times payloadkit and the same job done by hand (pickle, pandas' parquet and
Feather writers, blake3, ``import fsspec``), interleaved, and prints the medians, their
ratio, the target and the extra peak memory of each side. It writes
``benchmarks/results/latest.json``, ``docs/assets/benchmarks.png`` and
``docs/benchmarks.md`` (under ``--output-dir``, the repository by default).

Why the timings look the way they do (see ``harness.py`` for details):

* Before every timed phase a buffer as large as what the phase allocates is written to
  and freed. On the virtual machines these benchmarks run on, memory freed by a process
  returns to the host within about a second, and touching fresh memory afterwards runs
  at ~0.43 GB/s instead of ~7.4 GB/s; without the warm-up a load into new memory mostly
  measures the hypervisor.
* payloadkit and by-hand runs alternate (and alternate which goes first), and medians
  are compared, because other processes share the cores.
* Peak memory is measured once per side in a fresh subprocess: the kernel's high-water
  mark of resident memory (``VmHWM``) is reset after the data is built, and the extra
  resident memory of one operation is reported, including mapped file pages.

The default run takes one to three minutes on 2 cores; ``--quick`` is a smoke run on
small sizes that still produces every case.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cases  # noqa: E402  (benchmarks/ is put on sys.path just above)
import handover  # noqa: E402
import report  # noqa: E402
from cases import Config, Result  # noqa: E402

PEAK_OPS = {
    "array_numpy": "array_rt_numpy",
    "array_pickle": "array_rt_pickle",
    "frame_parquet": "frame_parquet",
    "frame_arrow": "frame_arrow",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    parser.add_argument("--array-mib", type=int, help="size of the array cases (MiB)")
    parser.add_argument("--rows", type=int, help="rows of the DataFrame cases")
    parser.add_argument("--repeat", type=int, help="timed runs per side")
    parser.add_argument("--handover-rows", type=int, help="rows of the Work hand-over frame")
    parser.add_argument("--only", action="append", help="run only these cases (repeatable)")
    parser.add_argument("--workdir", help="scratch directory (default: a fresh temp dir)")
    parser.add_argument(
        "--output-dir", default=os.path.dirname(HERE), help="where results and docs are written"
    )
    parser.add_argument("--no-chart", action="store_true", help="skip the matplotlib chart")
    parser.add_argument(
        "--conditions", default="", help="what else the machine was doing, for the results page"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def config(args: argparse.Namespace, workdir: str) -> Config:
    sizes = {
        key: value
        for key, value in {
            "array_mib": args.array_mib,
            "rows": args.rows,
            "repeat": args.repeat,
            "handover_rows": args.handover_rows,
        }.items()
        if value is not None
    }
    extra = {"workdir": workdir, "script": os.path.abspath(__file__)}
    return Config.smoke(**sizes, **extra) if args.quick else Config(**sizes, **extra)


def handover_case(cfg: Config, serializer: str) -> Result:
    """Work-to-Work hand-over of a 1e6 x 10 float64 frame between worker processes."""
    by_hand = "to_parquet+read_parquet" if serializer == "parquet" else "to_feather+read_feather"
    target = (
        "<= 1.3x the same round trip by hand"
        if serializer == "parquet"
        else f"<= {cases.LIGHTNING_HANDOVER_S / 10:.2f} s (10x faster than Lightning's 3.1 s)"
    )
    result = Result(
        f"handover_{serializer}",
        f"Work-to-Work hand-over, {cfg.handover_rows:,} x 10 float64 ({serializer})",
        target,
        raw_label=by_hand,
    )
    if not handover.app_available():
        result.status = "skipped"
        result.note = "payloadkit.app (the Work/Flow/App layer) is not in this installation"
        return result
    repeat = max(2, cfg.repeat // 2)
    pk_times, raw_times = handover.measure(cfg.handover_rows, serializer, cfg.workdir, repeat)
    result.payloadkit, result.raw = (
        cases.statistics.median(pk_times),
        cases.statistics.median(raw_times),
    )
    result.ratio = result.payloadkit / result.raw
    result.samples = {"payloadkit": pk_times, "raw": raw_times}
    if serializer == "parquet":
        result.met = result.ratio <= 1.3
    else:
        result.met = result.payloadkit <= cases.LIGHTNING_HANDOVER_S / 10
        result.note = (
            f"{cases.LIGHTNING_HANDOVER_S / result.payloadkit:.0f}x faster than Lightning's 3.1 s"
        )
    return result


def s3_cases(cfg: Config) -> list[Result]:
    """The S3 cases of ``benchmarks/bench_s3.py`` (moto on loopback), when it is present.

    The contract: ``bench_s3.run_cases(quick: bool, workdir: str) -> list[dict]``, each
    dict holding :class:`cases.Result` fields (at least name, title, target; seconds in
    payloadkit/raw; ratio and met when measured; status "skipped" with a note otherwise).
    """
    skipped = Result(
        "s3",
        "S3 put/get against plain s3fs",
        "<= 1.2x s3fs put/get of the same bytes",
        status="skipped",
        note="benchmarks/bench_s3.py is not in this checkout",
    )
    if importlib.util.find_spec("bench_s3") is None:
        return [skipped]
    import bench_s3

    run_cases = getattr(bench_s3, "run_cases", None)
    if run_cases is None:
        skipped.note = "benchmarks/bench_s3.py has no run_cases(quick, workdir)"
        return [skipped]
    found = run_cases(quick=cfg.quick, workdir=cases.fresh_dir(cfg, "s3"))
    return [Result(**case) for case in found]


def compression_cases(cfg: Config) -> list[Result]:
    """The cases of ``benchmarks/bench_compression.py``: auto's savings on text, its cost
    on noise."""
    import bench_compression

    return bench_compression.run_cases(cfg)


def partial_cases(cfg: Config) -> list[Result]:
    """Reading 1 of 10 columns of a parquet payload on S3 against a full get
    (``benchmarks/partial.py``; size from ``PAYLOADKIT_BENCH_PARTIAL_MIB``)."""
    import partial

    found = partial.run_cases(quick=cfg.quick, workdir=cases.fresh_dir(cfg, "partial"))
    return [Result(**case) for case in found]


def runtime_cases(cfg: Config) -> list[Result]:
    """The Work/Flow/App runtime rows of ``benchmarks/runtime.py`` (same contract as S3's)."""
    import runtime

    found = runtime.run_cases(quick=cfg.quick, workdir=cases.fresh_dir(cfg, "runtime"))
    return [Result(**case) for case in found]


def all_cases(cfg: Config) -> dict[str, Callable[[], Result | list[Result]]]:
    """Every case by name, in the order they run and are reported."""
    return {
        "array_numpy": lambda: cases.case_array(cfg, "numpy"),
        "array_pickle": lambda: cases.case_array(cfg, "pickle"),
        "frame_parquet": lambda: cases.case_frame(cfg, "parquet"),
        "frame_arrow": lambda: cases.case_frame(cfg, "arrow"),
        "dedup_hit": lambda: cases.case_dedup(cfg),
        "small_dict": lambda: cases.case_small(cfg),
        "memory_save": lambda: cases.case_memory(cfg, "save"),
        "memory_load": lambda: cases.case_memory(cfg, "load"),
        "import_time": lambda: cases.case_import(cfg),
        "handover_parquet": lambda: handover_case(cfg, "parquet"),
        "handover_arrow": lambda: handover_case(cfg, "arrow"),
        "s3": lambda: s3_cases(cfg),
        "compression": lambda: compression_cases(cfg),
        "partial": lambda: partial_cases(cfg),
        "runtime": lambda: runtime_cases(cfg),
    }


def run_case(name: str, make: Callable[[], Result | list[Result]], cfg: Config) -> list[Result]:
    print(f"... {name}", file=sys.stderr, flush=True)
    made = make()
    found = made if isinstance(made, list) else [made]
    if name in PEAK_OPS:
        op = PEAK_OPS[name]
        for result in found:
            result.peak_mib = {
                side: cases.peak(cfg, f"{op}:{side}") for side in ("payloadkit", "raw")
            }
    return found


def meta(cfg: Config, load_before: str, started: float) -> dict[str, Any]:
    import numpy
    import pandas
    import pyarrow

    import payloadkit

    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "versions": (
            f"payloadkit {payloadkit.__version__}, numpy {numpy.__version__}, "
            f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}"
        ),
        "config": {k: v for k, v in vars(cfg).items() if k not in ("workdir", "script")},
        "quick": cfg.quick,
        "load_before": load_before,
        "load_after": _load(),
        "duration_s": time.time() - started,
    }


def _load() -> str:
    with contextlib.suppress(OSError), open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
    return "unknown"


def child(args: argparse.Namespace) -> int:
    """Measure the extra peak memory of one operation (run in a fresh interpreter)."""
    import harness

    cfg = config(args, args.workdir)
    operation = cases.child_operation(args.child, cfg)
    peak_mib, method = harness.peak_during(operation)
    print(json.dumps({"peak_mib": peak_mib, "method": method}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    started, load_before = time.time(), _load()
    workdir = args.workdir or tempfile.mkdtemp(prefix="payloadkit-bench-")
    cfg = config(args, workdir)
    try:
        results: list[Result] = []
        for name, make in all_cases(cfg).items():
            if not args.only or name in args.only:
                results += run_case(name, make, cfg)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    info = meta(cfg, load_before, started)
    info["conditions"] = args.conditions
    out = args.output_dir
    report.print_table(results)
    report.write_json(results, info, os.path.join(out, "benchmarks", "results", "latest.json"))
    chart = not args.no_chart and report.write_chart(
        results, os.path.join(out, "docs", "assets", "benchmarks.png")
    )
    report.write_markdown(results, info, os.path.join(out, "docs", "benchmarks.md"), chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
