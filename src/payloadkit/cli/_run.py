"""``payloadkit run APP.py`` and ``payloadkit demo``: run an App, or the bundled demo."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from payloadkit.app._signals import Interrupted

from payloadkit.cli._args import add_storage_options, seconds
from payloadkit.cli._output import format_size, print_table
from payloadkit.errors import ConfigurationError

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``run`` and ``demo``."""
    run: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run the App defined in a Python file",
        description="Import APP.py, find the App (or LightningApp) it defines at module level, "
        "and run its root Flow once. Exit code 0 on success, 1 when a Work fails or runs "
        "past its time limit, 128+N when signal N (SIGTERM, SIGINT) stopped the run; the run "
        "is recorded in every case.",
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
    add_work_timeout(run)
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
    demo.add_argument(
        "--serializer", help="serializer for the frame (default: frame, the format of hand-overs)"
    )
    demo.add_argument(
        "--executor",
        default="process",
        help="inline, process (default), or a Dask scheduler address tcp://HOST:PORT",
    )
    add_work_timeout(demo)
    demo.set_defaults(handler=_demo)


def add_work_timeout(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-timeout SECONDS``: the App-wide limit of each Work call."""
    parser.add_argument(
        "--work-timeout",
        metavar="SECONDS",
        type=seconds,
        help="stop any Work call running longer than this (Works' own timeout= wins); "
        "the call fails naming the Work and the limit",
    )


class _QuietStream(io.TextIOBase):
    """Our stdout, until its reader goes away: then writes are dropped, the run goes on."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream: IO[str] | None = stream
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        if self.stream is not None:
            try:
                self.stream.write(text)
            except (BrokenPipeError, ValueError):
                self._reader_gone()
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            try:
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                self._reader_gone()

    def _reader_gone(self) -> None:
        self.stream, self.closed_by_reader = None, True

    def fileno(self) -> int:
        return 1


@contextlib.contextmanager
def quiet_when_closed() -> Iterator[None]:
    """Within the block, a closed stdout (``payloadkit run app.py | head -1``) is not an error.

    Afterwards, a stdout whose reader went away points at the null device, so that the
    interpreter's last flush at exit does not fail either.
    """
    original = sys.stdout
    quiet = _QuietStream(original)
    sys.stdout = quiet
    try:
        yield
    finally:
        sys.stdout = original
        if quiet.closed_by_reader:
            _point_stdout_at_null()


def _point_stdout_at_null() -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)


def _run(args: argparse.Namespace) -> int:
    from payloadkit.app._loader import load_app
    from payloadkit.app._signals import Interrupted

    if args.storage_option and not args.storage:
        return _usage("run", "--storage-option needs --storage URL")
    app = load_app(args.app)
    if args.storage:
        app.storage, app.storage_options = args.storage, dict(args.storage_option) or None
    if args.executor:
        app.executor = args.executor
    if args.work_timeout is not None:
        app.work_timeout = args.work_timeout
    started = time.perf_counter()
    with quiet_when_closed():
        try:
            record = app.run()
        except Interrupted as exc:
            return _interrupted(app, exc)
    elapsed = time.perf_counter() - started
    print(
        f"payloadkit: run {record['run_id']} {record['outcome']} in {elapsed:.2f} s "
        f"({record['executor']} executor, store {app.store().url})",
        file=sys.stderr,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from payloadkit.app._demo import demo_app, demo_missing
    from payloadkit.app._signals import Interrupted

    if args.storage_option and not args.storage:
        return _usage("demo", "--storage-option needs --storage URL")
    missing = demo_missing(args.serializer)
    if missing is not None:
        raise ConfigurationError(missing)
    app = demo_app(args.rows, args.columns, args.serializer, args.executor, args.storage)
    app.storage_options = dict(args.storage_option) or None
    app.work_timeout = args.work_timeout
    started = time.perf_counter()
    try:
        record = app.run()
    except Interrupted as exc:
        return _interrupted(app, exc)
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


def _interrupted(app: Any, exc: Interrupted) -> int:
    """Say how the run ended; the exit code of a process ended by that signal."""
    record = app.last_record or {}
    print(
        f"payloadkit: run {record.get('run_id', '?')} {exc} and stopped its workers; "
        f"recorded as {record.get('outcome', 'interrupted')}",
        file=sys.stderr,
    )
    return 128 + exc.signum


def _usage(command: str, message: str) -> int:
    print(f"payloadkit {command}: error: {message}", file=sys.stderr)
    return 2
