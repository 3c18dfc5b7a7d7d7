"""Progress of long put/get transfers: a bar with bytes and rate on a terminal (a real pty),
nothing when standard error is not a terminal."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tqdm") is None, reason="progress bars need tqdm"
)
SIZE = 40 << 20  # above payloadkit._progress.PROGRESS_FROM


def _on_a_terminal(*args: object, cwd: Path) -> tuple[int, str]:
    """Run the CLI with standard error on a pseudo-terminal; exit code and what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80x24
    env = {k: v for k, v in os.environ.items() if k != "PAYLOADKIT_PROGRESS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "payloadkit.cli", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        cwd=cwd,
        env=env,
    )
    os.close(slave)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.wait(timeout=600), shown.decode(errors="replace")


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    """A file large enough to get a progress bar."""
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(SIZE)
        f.write(os.urandom(1 << 20))
    return path


def _percentages(shown: str) -> list[int]:
    return [int(p) for p in re.findall(r"(\d+)%", shown)]


def test_put_and_get_show_named_bars_with_bytes_and_rate(tmp_path: Path, big_file: Path) -> None:
    """On a terminal, put and get draw bars naming the file that advance past 0 % with a rate."""
    code, shown = _on_a_terminal("put", "store", big_file, cwd=tmp_path)
    assert code == 0, shown
    assert "put big.bin" in shown
    assert max(_percentages(shown)) > 0
    assert re.search(r"[\d.]+[KMG]i?B/s", shown), shown
    digest = next((tmp_path / "store" / "objects").rglob("*.bin")).stem
    code, shown = _on_a_terminal("get", "store", digest[:12], "-o", "back.bin", cwd=tmp_path)
    assert code == 0, shown
    assert "get back.bin" in shown
    assert max(_percentages(shown)) > 0
    assert re.search(r"[\d.]+[KMG]i?B/s", shown), shown


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path: Path, big_file: Path) -> None:
    """Without a terminal, put and get print no progress at all."""
    env = {k: v for k, v in os.environ.items() if k != "PAYLOADKIT_PROGRESS"}
    done = subprocess.run(
        [sys.executable, "-m", "payloadkit.cli", "put", "store", str(big_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
