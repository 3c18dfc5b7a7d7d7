"""The ``payloadkit`` command line.

Each command lives in its own module with an ``add_commands(subparsers)`` function that
adds its parsers and sets ``handler`` on them; this module only assembles them and maps
errors to exit codes: 0 success, 1 failure (a `PayloadkitError`, message printed),
2 usage.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Sequence

from payloadkit.cli._output import safe
from payloadkit.errors import PayloadkitError

__all__ = ["build_parser", "main"]

#: Modules that contribute commands, in the order they appear in ``--help``.
COMMAND_MODULES = (
    "payloadkit.cli._run",
    "payloadkit.cli._store",
    "payloadkit.cli._transfer",
    "payloadkit.cli._tags",
    "payloadkit.cli._serializers",
    "payloadkit.cli._ui",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to generate the CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="payloadkit",
        description="Move Python objects between units of work through storage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    unknown = _unknown_command(parser, argv)
    if unknown is not None:
        parser.print_usage(sys.stderr)
        print(f"payloadkit: error: {unknown}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()
    except PayloadkitError as exc:
        print(f"payloadkit: error: {safe(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`payloadkit ls | head`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("payloadkit: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def _unknown_command(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """A message naming the closest commands when the first word is not one, else None."""
    words = [a for a in argv if not a.startswith("-")]
    if not words or argv[0].startswith("-"):
        return None
    names = _command_names(parser)
    if words[0] in names:
        return None
    close = difflib.get_close_matches(words[0], names, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{words[0]!r} is not a payloadkit command.{hint} `payloadkit --help` lists them."


def _command_names(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:  # argparse offers no public view of the subcommands
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _version() -> str:
    from payloadkit import __version__

    return __version__
