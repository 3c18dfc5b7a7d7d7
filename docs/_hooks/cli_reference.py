"""mkdocs hook: the CLI reference page is generated from ``payloadkit.cli.build_parser()``.

A page containing the line ``<!-- payloadkit-cli-reference -->`` gets it replaced by the
``--help`` text of ``payloadkit`` and of every command, so the reference can never drift
from the commands themselves.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- payloadkit-cli-reference -->"
WIDTH = "100"


def cli_reference() -> str:
    """Markdown for the whole command line: the top-level help, then one section per command."""
    from payloadkit.cli import build_parser

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
