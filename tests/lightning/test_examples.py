"""The Lightning example apps in examples/lightning run with `payloadkit run` and exit.

The docs page on sharing objects is examples/lightning_payload.py, run by tests/app/test_cli_run.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import payloadkit as pk

ROOT = Path(__file__).resolve().parents[2]
APPS = {
    "payload.py": "Application End!",
    "drive.py": "[root.work_2] Hello World !",
    "dag.py": "DAG completed: ['LinearRegression', 'Mean']",
    "work_status.py": "stopped after: The provided value was 1",
    "parallel_works.py": "both done",
}


def test_every_app_is_tested() -> None:
    """Each app under examples/lightning has an expected line here."""
    assert {p.name for p in (ROOT / "examples" / "lightning").glob("*.py")} == set(APPS)


@pytest.mark.parametrize("name", sorted(APPS))
def test_app_runs_and_exits(name: str, tmp_path: Path) -> None:
    """The app runs to its end in a fresh directory and prints what it should."""
    src = str(Path(pk.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env.pop("PAYLOADKIT_STORAGE", None)
    script = ROOT / "examples" / "lightning" / name
    done = subprocess.run(
        [sys.executable, "-m", "payloadkit.cli", "run", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert APPS[name] in done.stdout
    assert "succeeded" in done.stderr + done.stdout
