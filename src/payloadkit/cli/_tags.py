"""Tag commands: ``tag``, ``tags`` and ``history``: payloads found by name.

``payloadkit get`` and ``show`` accept a tag's name wherever they take a digest.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from payloadkit.cli._args import add_storage_options
from payloadkit.cli._common import add_full, short_digest, short_type
from payloadkit.cli._output import print_table, safe

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``tag``, ``tags`` and ``history``."""
    parser = _command(
        commands,
        "tag",
        "point a name at a payload",
        "Point NAME at a payload; the change is added to the name's history. Fails without "
        "changing anything when another writer moves the name at the same time.",
    )
    parser.add_argument("name", metavar="NAME", help="letters, digits and '._-/'")
    parser.add_argument("digest", metavar="DIGEST", help="the payload's digest, a unique prefix")
    parser.add_argument(
        "--expect", metavar="DIGEST", help="move the name only if it points at this payload now"
    )
    parser.set_defaults(handler=_tag)
    parser = _command(commands, "tags", "list the names in a store", "List names and payloads.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_full(parser)
    parser.set_defaults(handler=_tags)
    parser = _command(
        commands,
        "history",
        "list every payload a name pointed at",
        "List every change of NAME, oldest first, with the time it was made.",
    )
    parser.add_argument("name", metavar="NAME", help="the tag's name")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_full(parser)
    parser.set_defaults(handler=_history)


def _command(commands: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    parser.add_argument("url", metavar="URL", help="the store: a directory, memory://, s3://...")
    add_storage_options(parser)
    return parser


def _open(args: argparse.Namespace) -> Any:
    import payloadkit as pk

    store = pk.open_store(args.url, **dict(args.storage_option))
    store.require_store()
    return store


def _tag(args: argparse.Namespace) -> int:
    from payloadkit._maintenance import resolve_digest
    from payloadkit.stores._tags import UNSET

    store = _open(args)
    digest = resolve_digest(store, args.digest)
    expect = UNSET if args.expect is None else resolve_digest(store, args.expect)
    entry = store.tag(args.name, digest, expect=expect)
    print(f"{safe(args.name)} -> {digest}")
    del entry
    return 0


def _tags(args: argparse.Namespace) -> int:
    tags = _open(args).tags()
    if args.json:
        print(json.dumps({n: r.to_dict() for n, r in tags.items()}, indent=1, sort_keys=True))
        return 0
    if not tags:
        print(f"No tags in {safe(args.url)}.")
        return 0
    rows = [
        [n, short_digest(r.digest, args.full), short_type(r.type, args.full)]
        for n, r in tags.items()
    ]
    print_table(["name", "digest", "type"], rows)
    return 0


def _history(args: argparse.Namespace) -> int:
    changes = _open(args).history(args.name)
    rows = [
        {
            "time": c.time.isoformat(timespec="seconds"),
            "digest": c.ref.digest if c.ref else None,
            "type": c.ref.type if c.ref else None,
        }
        for c in changes
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    table = [
        [
            r["time"],
            short_digest(r["digest"], args.full) if r["digest"] else "(removed)",
            short_type(r["type"] or "", args.full),
        ]
        for r in rows
    ]
    print_table(["time (UTC)", "digest", "type"], table)
    return 0
