"""The benchmark script runs end to end on tiny sizes and reports every case (no timings checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import payloadkit

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("numpy")

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
CASES = {
    "array_numpy",
    "array_pickle",
    "frame_parquet",
    "frame_arrow",
    "dedup_hit",
    "small_dict",
    "memory_save",
    "memory_load",
    "import_time",
    "handover_parquet",
    "handover_arrow",
}
TINY = ["--quick", "--array-mib", "2", "--rows", "3000", "--repeat", "1", "--handover-rows", "2000"]


def _run(tmp_path: Path, *extra: str) -> dict[str, object]:
    src = str(Path(payloadkit.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
    }
    out = tmp_path / "out"
    subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--output-dir", str(out), *extra],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, object] = json.loads(
        (out / "benchmarks" / "results" / "latest.json").read_text()
    )
    return result


def test_quick_run_reports_every_case(tmp_path: Path) -> None:
    """A --quick run writes a results file listing every case, each measured or marked skipped."""
    document = _run(tmp_path, "--no-chart")
    found = document["cases"]
    assert isinstance(found, list)
    names = {case["name"] for case in found}
    assert names >= CASES
    assert any(name.startswith("s3") for name in names)
    for case in found:
        assert case["status"] in ("ok", "skipped")
        if case["status"] == "ok":
            assert case["payloadkit"] is not None
            assert case["raw"] is not None
            assert isinstance(case["met"], bool)
        else:
            assert case["note"]
    for name in ("array_numpy", "frame_parquet"):
        (case,) = (c for c in found if c["name"] == name)
        assert set(case["peak_mib"]) == {"payloadkit", "raw"}
    page = (tmp_path / "out" / "docs" / "benchmarks.md").read_text()
    assert page.count("\n| ") == len(found) + 1  # the header row and one row per case


def test_quick_run_draws_the_chart(tmp_path: Path) -> None:
    """With matplotlib installed, the run writes the PNG chart the docs page shows."""
    pytest.importorskip("matplotlib")
    _run(tmp_path, "--only", "small_dict", "--only", "import_time")
    chart = tmp_path / "out" / "docs" / "assets" / "benchmarks.png"
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "assets/benchmarks.png" in (tmp_path / "out" / "docs" / "benchmarks.md").read_text()


PEERS = SCRIPT.parent / "peers.py"
TINY_PEERS = ["--quick", "--repeat", "1", "--rows", "2000", "--array-mib", "1", "--small", "3"]


@pytest.mark.dask
def test_peer_benchmark_runs_and_reports_each_case(tmp_path: Path) -> None:
    """peers.py runs every case on tiny sizes; a peer that is not installed has no column."""
    src = str(Path(payloadkit.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, str(PEERS), *TINY_PEERS, "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "benchmarks" / "results" / "peers.json").read_text())
    rows = {row["name"]: row for row in result["rows"]}
    assert set(rows) == {"frame", "array", "small"}
    for row in rows.values():
        assert row["samples"]["payloadkit"], row
        assert row["samples"]["dask"], row
        assert row["ratios"]["dask"] > 0
    assert (tmp_path / "docs" / "peers.md").read_text().startswith("# Against Ray and Dask")
