"""The scripts in examples/ run to completion, each in a fresh process and directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import payloadkit

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name != "lightning_payload.py")


def test_examples_exist() -> None:
    """The examples this suite runs are there."""
    assert {p.name for p in EXAMPLES} >= {"serializers_per_type.py", "custom_serializer.py"}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    """The example exits 0 in a fresh interpreter, using this checkout's payloadkit."""
    src = str(Path(payloadkit.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env.pop("PAYLOADKIT_STORAGE", None)
    env.pop("PAYLOADKIT_SECRET", None)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "example-store" / "manifests").is_dir()
