"""What the store commands share: the optional store URL, opening it, digests and types as
shown in tables, JSON output."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from payloadkit.cli._args import add_storage_options
from payloadkit.errors import ConfigurationError

__all__ = [
    "add_store_command",
    "default_url",
    "manifests_named",
    "open_store",
    "print_json",
    "resolve",
    "short_digest",
    "short_type",
]

#: Hex digits of a digest shown in tables (as git and docker do); ``--full`` shows all.
SHORT_HEX = 12
_DEFAULT_DIRECTORY = ".payloadkit"


def add_store_command(
    commands: Any, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    """A store command's parser: optional URL first, ``--storage-option``, ``--json``."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help, description=description)
    parser.add_argument(
        "url",
        metavar="URL",
        nargs="?",
        help="the store: a directory, memory://, s3://... (default: $PAYLOADKIT_STORAGE, "
        "else ./.payloadkit when it exists)",
    )
    add_storage_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def default_url() -> str | None:
    """``$PAYLOADKIT_STORAGE``, else ``.payloadkit`` when that directory exists here."""
    env = os.environ.get("PAYLOADKIT_STORAGE", "").strip()
    if env:
        return env
    return _DEFAULT_DIRECTORY if os.path.isdir(_DEFAULT_DIRECTORY) else None


def store_url(args: argparse.Namespace) -> str:
    """The URL the command names, or the default store; a clear error when there is none."""
    if args.url:
        return str(args.url)
    found = default_url()
    if found is None:
        raise ConfigurationError(
            f"No store given: name one (payloadkit {args.command} URL ...), set "
            "PAYLOADKIT_STORAGE, or run in a directory holding .payloadkit/."
        )
    args.url = found
    return found


def open_store(args: argparse.Namespace, *, create: bool = False) -> Any:
    """The store the command names; it must already be a store unless ``create``.

    A location that is not a payloadkit store (no marker) is refused before anything is
    read or changed there.
    """
    import payloadkit as pk

    store = pk.open_store(store_url(args), **dict(args.storage_option))
    if not create:
        store.require_store()
    return store


def resolve(store: Any, text: str) -> str:
    """The full digest a digest or unique prefix names."""
    from payloadkit._maintenance import resolve_digest

    return resolve_digest(store, text)


def manifests_named(store: Any, text: str) -> list[Any]:
    """Every payload a digest or unique prefix names (several share bytes when saved as
    several types), the one stored as a plain file first; PayloadNotFoundError if none."""
    digest = resolve(store, text)
    found = store.manifests_of(digest)
    if not found:
        store.info(digest)  # raises PayloadNotFoundError naming the digest and the store
    return sorted(found, key=lambda m: (m.ref.serializer != "file", m.ref.serializer, m.ref.type))


def print_json(data: Any) -> None:
    """Indented JSON on stdout (for ``--json``)."""
    print(json.dumps(data, indent=1, sort_keys=True, default=str))


def short_digest(digest: str, full: bool = False) -> str:
    """``blake3:9f2c...`` as the first hex digits shown in tables (all of it with ``full``)."""
    return digest if full else digest.partition(":")[2][:SHORT_HEX]


def short_type(type_name: str, full: bool = False) -> str:
    """A type as tables show it: ``pandas.core.frame.DataFrame`` -> ``pandas.DataFrame``,
    ``builtins.dict`` -> ``dict``; the qualified name with ``full``."""
    if full or "." not in type_name:
        return type_name
    module, _, name = type_name.partition(".")
    qualname = type_name.rsplit(".", 1)[1]
    if module == "builtins":
        return name
    return f"{module}.{qualname}"


def add_full(parser: argparse.ArgumentParser) -> None:
    """Add ``--full``: whole digests and qualified type names in tables."""
    parser.add_argument(
        "--full", action="store_true", help="show whole digests and qualified type names"
    )
