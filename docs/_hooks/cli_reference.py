"""mkdocs hook: the CLI reference page is generated from ``payloadkit.cli.build_parser()``.

A page containing the line ``<!-- payloadkit-cli-reference -->`` gets it replaced by the
``--help`` text of ``payloadkit`` and of every command, so the reference can never drift
from the commands themselves. The text is generated 80 columns wide, the width of the
page's code box. ``mkdocs build`` works from a checkout without payloadkit installed: the
hook imports it from ``src/`` (its dependencies, ``pip install -e '.[docs]'`` or the
``docs`` tox environment, must be importable).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- payloadkit-cli-reference -->"
WIDTH = "80"
SRC = Path(__file__).resolve().parents[2] / "src"


def cli_reference() -> str:
    """Markdown for the whole command line: the top-level help, then one section per command."""
    saved = list(sys.path)
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))  # the checkout's own payloadkit, installed or not
    try:
        from payloadkit.cli import build_parser
    except ImportError as exc:
        raise SystemExit(
            f"The docs hook imports payloadkit from {SRC} to generate the CLI reference, but "
            f"{exc.name} is missing: pip install -e . (or run `tox -e docs`)."
        ) from None
    finally:
        sys.path[:] = saved  # what the build (or a test) imports next is not changed

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal; keep the page stable
    try:
        parser = build_parser()
        parts = [_block(parser.format_help())]
        for name, command in _commands(parser).items():
            parts.append(f"## `payloadkit {name}`\n\n{_block(command.format_help())}")
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n\n".join(parts) + "\n"


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _block(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the marker with the generated reference."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
