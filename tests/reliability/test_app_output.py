"""A run's output never blocks it: a reader that goes away, or a very large output, and the
run still finishes with its own exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk

SRC = Path(pk.__file__).resolve().parents[1]
PATIENCE = 300

CHATTY_APP = """
import sys
import payloadkit as pk

class Chatty(pk.Work):
    def __init__(self):
        super().__init__()
        self.lines = 0

    def run(self, lines):
        for i in range(lines):
            print(f"line {i}")
        self.lines = lines
        print("done", file=sys.stderr)

class Main(pk.Flow):
    def __init__(self):
        super().__init__()
        self.chatty = Chatty()

    def run(self):
        self.chatty.run(200_000)

app = pk.App(Main(), executor="{executor}")
"""

HUGE_LINE_APP = """
import sys
import payloadkit as pk

class Huge(pk.Work):
    def run(self, size):
        sys.stdout.write("x" * size)
        sys.stdout.write("\\nend\\n")

class Main(pk.Flow):
    def __init__(self):
        super().__init__()
        self.huge = Huge()

    def run(self):
        self.huge.run(20_000_000)

app = pk.App(Main(), executor="process")
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    env["PYTHONPATH"] = str(SRC)
    return env


@pytest.mark.parametrize("executor", ["process", "inline"])
def test_run_piped_into_head_finishes(executor: str, tmp_path: Path, report_figure: Any) -> None:
    """`payloadkit run app.py | head -1` ends: the closed pipe stops the relay quietly, the run
    completes and records itself, and `payloadkit run` exits 0."""
    (tmp_path / "chatty.py").write_text(textwrap.dedent(CHATTY_APP).replace("{executor}", executor))
    command = f"{sys.executable} -m payloadkit.cli run chatty.py | head -1; echo ${{PIPESTATUS[0]}}"
    try:
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=PATIENCE,
            check=False,
        )
        hung = False
    except subprocess.TimeoutExpired:
        hung = True
    records = list((tmp_path / ".payloadkit" / "records" / "runs").glob("*.json"))
    report_figure(
        f"payloadkit run ({executor}) | head -1: hangs {int(hung)}, records written "
        f"{len(records)}, exit code {'-' if hung else result.stdout.splitlines()[-1]}"
    )
    assert not hung
    first, code = result.stdout.splitlines()
    assert first.endswith("line 0")
    assert code == "0", result.stderr
    assert "succeeded" in result.stderr
    assert "BrokenPipe" not in result.stderr
    assert len(records) == 1


def test_huge_output_line_is_streamed(tmp_path: Path, report_figure: Any) -> None:
    """A 20 MB line without a newline reaches the terminal whole, in pieces, prefixed once."""
    (tmp_path / "huge.py").write_text(textwrap.dedent(HUGE_LINE_APP))
    result = subprocess.run(
        [sys.executable, "-m", "payloadkit.cli", "run", "huge.py"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        timeout=PATIENCE,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split(b"\n")
    report_figure(f"20 MB output line relayed: {len(lines[0]):,} bytes in one prefixed line")
    assert lines[0] == b"[root.huge] " + b"x" * 20_000_000
    assert lines[1] == b"[root.huge] end"
