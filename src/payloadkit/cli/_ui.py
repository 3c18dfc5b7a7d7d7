"""``payloadkit ui [STORE]``: serve the read-only web UI of a store (``payloadkit[ui]``)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

from payloadkit.cli._args import add_storage_options
from payloadkit.cli._output import safe
from payloadkit.errors import ConfigurationError

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``ui``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "ui",
        help="browse a store in a web browser: runs, payloads, health",
        description="Serve a read-only web UI of a store: runs drawn as graphs of Works and "
        "the payloads between them, payloads with previews, and the store's health. It "
        "listens on the loopback interface unless told otherwise.",
    )
    parser.add_argument(
        "url",
        metavar="STORE",
        nargs="?",
        help="the store: a directory, s3://... (default: $PAYLOADKIT_STORAGE, else .payloadkit)",
    )
    add_storage_options(parser)
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests naming this host (repeatable; loopback names always are)",
    )
    parser.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    try:
        from payloadkit.ui import serve
    except ImportError as exc:
        raise ConfigurationError(
            f"payloadkit ui needs {exc.name}: pip install 'payloadkit[ui]'."
        ) from None
    store = _store(args)
    store.require_store()
    allowed = list(args.allow_host)
    if not _loopback(args.host):
        allowed.append(args.host)
        print(
            f"payloadkit ui: listening on {safe(args.host)}, not only this machine: anyone who "
            "can reach it can read the store",
            file=sys.stderr,
        )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"payloadkit ui: {safe(store.url)} at http://{safe(shown)}:{args.port}/ (Ctrl-C stops)")
    sys.stdout.flush()
    serve(store, host=args.host, port=args.port, allowed_hosts=allowed)
    return 0


def _store(args: argparse.Namespace) -> Any:
    import payloadkit as pk
    from payloadkit._config import settings

    url = args.url or settings().storage
    return pk.open_store(url, **dict(args.storage_option))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
