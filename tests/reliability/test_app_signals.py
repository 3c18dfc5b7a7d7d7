"""Apps killed by signals: no process of theirs is left, and the run record says what happened.

Each test starts ``payloadkit run`` on an app of two parallel Works (tests/reliability/
_hanging_app.py) in a real process, waits until both Works run and have started a child
process each, sends a real signal to the App's process, and counts what is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk

APP = Path(__file__).with_name("_hanging_app.py")
SRC = Path(pk.__file__).resolve().parents[1]
#: How long the test waits for things to happen at all: a hang, not a speed, fails it.
PATIENCE = 120.0


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    env.update(PIDS_DIR=str(pids), PYTHONPATH=str(SRC))
    app = subprocess.Popen(
        [sys.executable, "-m", "payloadkit.cli", "run", str(APP)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: len(list(pids.iterdir())) == 4 or app.poll() is not None)
    assert app.poll() is None, app.communicate()
    return app, pids


def _wait_for(condition: Any) -> bool:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _left(pids: Path) -> list[str]:
    """The recorded processes still running once they had every chance to end."""
    recorded = {p.name: int(p.name.rsplit("-", 1)[1]) for p in pids.iterdir()}
    _wait_for(lambda: not any(_alive(pid) for pid in recorded.values()))
    left = [name for name, pid in recorded.items() if _alive(pid)]
    for name in left:  # do not leave them to the next test
        os.kill(recorded[name], signal.SIGKILL)
    return left


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    runs = tmp_path / ".payloadkit" / "records" / "runs"
    return [json.loads(p.read_text()) for p in runs.glob("*.json")] if runs.is_dir() else []


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name
)
def test_signalled_app_leaves_no_process(
    signum: signal.Signals, tmp_path: Path, report_figure: Any
) -> None:
    """SIGTERM, SIGINT or SIGKILL of the App ends its workers and their children; the first
    two also record the run as interrupted, with the Works that were running."""
    app, pids = _start(tmp_path)
    app.send_signal(signum)
    try:
        _, err = app.communicate(timeout=PATIENCE)
        hung = False
    except subprocess.TimeoutExpired:
        app.kill()
        _, err = app.communicate()
        hung = True
    left = _left(pids)
    records = _records(tmp_path)
    report_figure(
        f"App killed by {signum.name} (process executor, 2 Works, 2 children): signals sent 1, "
        f"processes left {len(left)} of 4, records written {len(records)}, "
        f"hangs {int(hung)}, exit code {app.returncode}"
    )
    assert not hung
    assert left == []
    if signum == signal.SIGKILL:
        assert app.returncode == -signal.SIGKILL
        assert records == []  # nothing can write a record for a process killed outright
        return
    assert app.returncode == 128 + signum, err
    (record,) = records
    assert record["outcome"] == "interrupted"
    assert signum.name in record["error"]
    statuses = {name: work["status"] for name, work in record["works"].items()}
    assert statuses == {"root.first": "interrupted", "root.second": "interrupted"}
    for work in record["works"].values():
        (call,) = work["history"]
        assert call["status"] == "interrupted"
        assert call["inputs"] == {}
    assert "recorded as interrupted" in err


def test_workers_stop_with_a_killed_parent_without_the_cli(
    tmp_path: Path, report_figure: Any
) -> None:
    """A plain Python program running App.run() and killed by SIGKILL takes its workers along."""
    pids = tmp_path / "pids"
    pids.mkdir()
    code = (
        f"import runpy, sys; sys.argv = ['app']; ns = runpy.run_path({str(APP)!r}); ns['app'].run()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    env.update(PIDS_DIR=str(pids), PYTHONPATH=str(SRC))
    app = subprocess.Popen(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL
    )
    assert _wait_for(lambda: len(list(pids.iterdir())) == 4 or app.poll() is not None)
    assert app.poll() is None
    app.kill()
    app.wait(timeout=PATIENCE)
    left = _left(pids)
    report_figure(
        f"App.run() in a script killed by SIGKILL: signals sent 1, processes left {len(left)} "
        "of 4, records written 0 (none possible), hangs 0"
    )
    assert left == []


INLINE_APP = """
import pathlib, time
import payloadkit as pk

class Sleeps(pk.Work):
    def run(self):
        pathlib.Path("started").write_text("")
        time.sleep(600)

class Main(pk.Flow):
    def __init__(self):
        super().__init__()
        self.sleeps = Sleeps()

    def run(self):
        self.sleeps.run()

app = pk.App(Main(), executor="inline")
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_inline_work_stopped_by_a_signal_is_recorded_interrupted(
    signum: signal.Signals, tmp_path: Path, report_figure: Any
) -> None:
    """A Work running inline when Ctrl-C or SIGTERM arrives is recorded as interrupted, not as
    "not run"."""
    (tmp_path / "inline_app.py").write_text(INLINE_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLOADKIT_")}
    env["PYTHONPATH"] = str(SRC)
    app = subprocess.Popen(
        [sys.executable, "-m", "payloadkit.cli", "run", "inline_app.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert _wait_for(lambda: (tmp_path / "started").exists() or app.poll() is not None)
    app.send_signal(signum)
    _, err = app.communicate(timeout=PATIENCE)
    records = _records(tmp_path)
    report_figure(
        f"inline App stopped by {signum.name}: signals sent 1, records written {len(records)}, "
        f"hangs 0, exit code {app.returncode}"
    )
    assert app.returncode == 128 + signum, err
    (record,) = records
    assert record["outcome"] == "interrupted"
    assert record["works"]["root.sleeps"]["status"] == "interrupted"
