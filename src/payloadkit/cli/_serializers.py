"""``payloadkit serializers``: what is registered, and where it came from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from payloadkit.cli._output import print_table

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``serializers``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serializers",
        help="list the serializers payloadkit knows",
        description="List every serializer: name, version, types, origin and status.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_serializers)


def _serializers(args: argparse.Namespace) -> int:
    import payloadkit as pk

    infos = pk.serializers()
    if args.json:
        print(json.dumps([info.__dict__ for info in infos], indent=1))
        return 0
    rows = [
        [
            i.name,
            i.version,
            ", ".join(i.types) or "-",
            i.origin + (f" ({i.distribution})" if i.origin == "plugin" else ""),
            i.status if i.status == "ok" else f"{i.status}: {i.error or ''}",
        ]
        for i in infos
    ]
    print_table(["name", "version", "types", "origin", "status"], rows)
    return 0
