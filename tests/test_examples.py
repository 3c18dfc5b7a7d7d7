"""The scripts in examples/ run to completion, each in a fresh process and directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk

ROOT = Path(__file__).resolve().parents[1]
#: Examples run elsewhere: the Lightning app by `payloadkit run`, the Dask one against S3 below.
SPECIAL = {"lightning_payload.py", "dask_s3_flow.py"}
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name not in SPECIAL)


def test_examples_exist() -> None:
    """The examples this suite runs are there."""
    assert {p.name for p in EXAMPLES} >= {"serializers_per_type.py", "custom_serializer.py"}
    assert all((ROOT / "examples" / name).is_file() for name in SPECIAL)


def _run_example(
    script: Path, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an example in a fresh interpreter, using this checkout's payloadkit."""
    src = str(Path(pk.__file__).resolve().parents[1])
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    full.pop("PAYLOADKIT_STORAGE", None)
    full.pop("PAYLOADKIT_SECRET", None)
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env={**full, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    """The example exits 0 in a fresh interpreter and writes its store."""
    done = _run_example(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "example-store" / "manifests").is_dir()


@pytest.mark.s3
@pytest.mark.dask
def test_dask_s3_example(tmp_path: Path, s3_server: Any) -> None:
    """The Dask + S3 flow runs on a LocalCluster against the test S3 server, secret kept out."""
    bucket = s3_server.create_bucket(f"example-{uuid.uuid4().hex[:8]}")
    script = ROOT / "examples" / "dask_s3_flow.py"
    url = f"s3://{bucket}/flow"
    args = ("--endpoint-url", s3_server.endpoint_url, "--rows", "20000")
    done = _run_example(script, tmp_path, url, *args, env=s3_server.aws_env())
    assert done.returncode == 0, done.stderr
    assert "[root.north] sensor 0: 20000 readings" in done.stdout
    assert "[root.summarize] summarized 40000 readings" in done.stdout
    assert " succeeded in " in done.stdout
    store = pk.open_store(url, **s3_server.options())
    kinds = sorted(m.ref.serializer for m in store.manifests())
    assert kinds == ["arrow", "frame", "frame"]
    (record,) = [store.get_record("runs", name) for name in store.list_records("runs")]
    assert s3_server.secret not in json.dumps(record)
    assert s3_server.secret not in done.stdout + done.stderr
