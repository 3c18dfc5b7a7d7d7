"""``payloadkit run APP.py`` and ``payloadkit demo``: run an App, or the bundled demo."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from payloadkit.cli._args import add_storage_options
from payloadkit.cli._output import format_size, print_table

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``run`` and ``demo``."""
    run: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run the App defined in a Python file",
        description="Import APP.py, find the App (or LightningApp) it defines at module level, "
        "and run its root Flow once. Exit code 0 on success, 1 when a Work fails.",
    )
    run.add_argument("app", metavar="APP.py", help="the Python file defining the App")
    run.add_argument("--storage", metavar="URL", help="the store to use instead of the App's own")
    add_storage_options(run)
    run.add_argument(
        "--executor",
        metavar="EXECUTOR",
        help="inline, process, or a Dask scheduler address tcp://HOST:PORT "
        "(default: the App's own)",
    )
    run.set_defaults(handler=_run)
    demo: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="run the demo: a DataFrame handed from one worker process to another",
        description="A source Work builds a DataFrame; a destination Work in another process "
        "receives its copy through the store (by default .payloadkit/ here) and prints it.",
    )
    demo.add_argument(
        "--storage",
        metavar="URL",
        help="the store: a directory, s3://... (default: $PAYLOADKIT_STORAGE, else .payloadkit)",
    )
    add_storage_options(demo)
    demo.add_argument("--rows", type=int, default=100_000, help="rows of the DataFrame")
    demo.add_argument("--columns", type=int, default=10, help="float64 columns of the DataFrame")
    demo.add_argument("--serializer", help="serializer for the frame (default: parquet)")
    demo.add_argument(
        "--executor",
        default="process",
        help="inline, process (default), or a Dask scheduler address tcp://HOST:PORT",
    )
    demo.set_defaults(handler=_demo)


def _run(args: argparse.Namespace) -> int:
    from payloadkit.app._loader import load_app

    if args.storage_option and not args.storage:
        return _usage("run", "--storage-option needs --storage URL")
    app = load_app(args.app)
    if args.storage:
        app.storage, app.storage_options = args.storage, dict(args.storage_option) or None
    if args.executor:
        app.executor = args.executor
    started = time.perf_counter()
    record = app.run()
    elapsed = time.perf_counter() - started
    print(
        f"payloadkit: run {record['run_id']} {record['outcome']} in {elapsed:.2f} s "
        f"({record['executor']} executor, store {app.store().url})",
        file=sys.stderr,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from payloadkit.app._demo import demo_app

    if args.storage_option and not args.storage:
        return _usage("demo", "--storage-option needs --storage URL")
    app = demo_app(args.rows, args.columns, args.serializer, args.executor, args.storage)
    app.storage_options = dict(args.storage_option) or None
    started = time.perf_counter()
    record = app.run()
    elapsed = time.perf_counter() - started
    src, dst = app.root.src, app.root.dst  # type: ignore[attr-defined]
    ref = src.frame.ref
    print()
    print_table(
        ["figure", "value"],
        [
            ["store", app.store().url],
            ["run record", f"records/runs/{record['run_id']}.json"],
            ["DataFrame", f"{dst.shape[0]:,} rows x {dst.shape[1]} columns"],
            ["payload", f"{ref.short} ({ref.serializer}, {format_size(ref.size)} stored)"],
            ["processes", f"source pid {src.pid}, destination pid {dst.pid}"],
            [
                "hand-over",
                f"{dst.held_at - src.handed_at:.3f} s (source has it -> destination holds it)",
            ],
            ["whole run", f"{elapsed:.2f} s (starting and stopping both workers included)"],
        ],
    )
    return 0


def _usage(command: str, message: str) -> int:
    print(f"payloadkit {command}: error: {message}", file=sys.stderr)
    return 2
