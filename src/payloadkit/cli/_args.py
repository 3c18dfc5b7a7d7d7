"""Arguments several commands share: fsspec storage options given on the command line."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_storage_options", "storage_option"]


def storage_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as a pair; VALUE is decoded as JSON when it parses, else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


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
