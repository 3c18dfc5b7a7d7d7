"""Every shell command in the docs runs as written, in order, page by page.

Which lines are commands, in ``README.md`` and ``docs/**/*.md``:

- a block fenced ```` ```console ````: each line starting with ``$ `` is a command (a line
  ending in ``\\`` continues on the next); the other lines are its output and are not checked;
- a block fenced ```` ```bash ```` (or ``sh``/``shell``): every line is a command, except
  blank lines and lines that start with ``#``; a ``# ...`` after a command is a comment;
- a block right after the line ``<!-- docs-test: skip REASON -->`` is not run (it needs
  S3, a Dask cluster, the network or a long time; the reason says which).

The blocks of a page run in order with bash (``set -e -o pipefail``), in one fresh
directory per page that holds links to the checkout's ``examples/`` and ``plugins/``, as a
clone would; each must exit 0. The page's runnable ```` ```python ```` blocks (see
``tests/test_docs.py``) run in between, where they stand, so that a command finds what the
code before it created. ``payloadkit`` is the command of the environment running the tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from payloadkit._registry import registry

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(
    r"(?P<before>^[^\n]*\n)?^```(?P<lang>console|bash|sh|shell|python)[ \t]*\n(?P<body>.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b")


def _commands(lang: str, body: str) -> list[str]:
    """The commands of one block, by the rules above."""
    lines = body.splitlines()
    if lang == "console":
        commands, current = [], None
        for line in lines:
            if current is not None:
                current += "\n" + line
            elif line.startswith("$ "):
                current = line[2:]
            if current is not None and not current.endswith("\\"):
                commands.append(current)
                current = None
        return commands
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def page_blocks(page: Path) -> list[tuple[str, list[str]]]:
    """The page's runnable blocks in order: ("python", [code]) or ("shell", commands)."""
    blocks = []
    for match in BLOCK.finditer(page.read_text(encoding="utf-8")):
        if SKIP.search(match.group("before") or ""):
            continue
        if match.group("lang") == "python":
            blocks.append(("python", [match.group("body")]))
            continue
        commands = _commands(match.group("lang"), match.group("body"))
        if commands:
            blocks.append(("shell", commands))
    return blocks


def _pages_with_commands() -> list[Path]:
    return [page for page in PAGES if any(kind == "shell" for kind, _ in page_blocks(page))]


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Serializers registered by a page's code do not leak into other tests."""
    registry.reset()
    yield
    registry.reset()


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PAYLOADKIT_PROGRESS"] = "0"
    return env


def test_the_rules_find_the_commands() -> None:
    """console blocks give their $ lines, bash blocks every non-comment line."""
    assert _commands("console", "$ payloadkit ls s\ndigest  type\n$ echo a \\\n  b\n") == [
        "payloadkit ls s",
        "echo a \\\n  b",
    ]
    assert _commands("bash", "# setup\npayloadkit ls s   # list\n\n") == [
        "payloadkit ls s   # list"
    ]
    names = {p.relative_to(ROOT).as_posix() for p in _pages_with_commands()}
    assert {"README.md", "docs/index.md", "docs/guide/store-cli.md"} <= names


@pytest.mark.parametrize(
    "page", _pages_with_commands(), ids=lambda p: p.relative_to(ROOT).as_posix()
)
@pytest.mark.usefixtures("fresh_registry")
def test_shell_commands_run(page: Path, tmp_path: Path) -> None:
    """Each command of the page's shell blocks exits 0, run in order in a scratch directory
    (the current directory, see tests/conftest.py) after the page's code before it."""
    for name in ("examples", "plugins"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = _environment()
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, (kind, commands) in enumerate(page_blocks(page), 1):
        if kind == "python":
            exec(compile(commands[0], f"{page.name}[block {number}]", "exec"), namespace)
            continue
        for command in commands:
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", command],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env=env,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, (
                f"{page.name} block {number}: `{command}` exited {done.returncode}\n"
                f"stdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-2000:]}"
            )
