"""Arguments several commands share: fsspec storage options given on the command line."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_storage_options", "seconds", "storage_option"]


def storage_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as a pair; VALUE is decoded as JSON when it parses, else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        # The text may be a credential: say what is wrong with it, never what it is.
        what = "has no '='" if not sep else "has no KEY before '='"
        raise argparse.ArgumentTypeError(
            f"the value given {what}; write KEY=VALUE (the value is not shown here)"
        )
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def seconds(text: str) -> float:
    """A positive number of seconds (``--work-timeout 30``, ``--work-timeout 0.5``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("give a positive number of seconds, e.g. 30 or 0.5")
    return value


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--storage-option KEY=VALUE`` (collected as ``storage_option``)."""
    parser.add_argument(
        "--storage-option",
        metavar="KEY=VALUE",
        type=storage_option,
        action="append",
        default=[],
        help="an fsspec storage option (repeatable; VALUE is JSON when it parses); "
        "keep credentials in the environment",
    )
