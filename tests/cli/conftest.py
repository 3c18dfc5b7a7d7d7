"""Fixtures for the store commands: a CLI runner and run records shaped as the App writes them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.cli import main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run `payloadkit ARGS...` in this process; returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse: usage errors and --help
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def cli_json(cli: Run) -> Callable[..., Any]:
    """Run a command with --json, check it succeeded, and parse its output."""

    def run(*argv: str) -> Any:
        code, out, err = cli(*argv, "--json")
        assert code == 0, err
        return json.loads(out)

    return run


def run_record(
    run_id: str,
    refs: dict[str, pk.PayloadRef],
    *,
    started: datetime | None = None,
    outcome: str = "succeeded",
) -> dict[str, Any]:
    """A run record as `App.run()` writes it: one Work per payload, holding it in its state."""
    started = started or datetime.now(UTC)
    works = {
        f"root.{name}": {
            "state": {name: {"kind": "payloadkit.Payload", "ref": ref.to_dict()}, "n": 1},
            "calls": 1,
            "status": "succeeded",
        }
        for name, ref in refs.items()
    }
    return {
        "kind": "payloadkit.run",
        "format": 1,
        "run_id": run_id,
        "app": "app:Main",
        "executor": "inline",
        "started": started.isoformat(),
        "ended": (started + timedelta(seconds=1)).isoformat(),
        "outcome": outcome,
        "error": None if outcome == "succeeded" else "ValueError: boom",
        "works": works,
        "payloads": sorted(ref.digest for ref in refs.values()),
    }


@pytest.fixture
def make_record() -> Callable[..., dict[str, Any]]:
    """The :func:`run_record` builder, for tests."""
    return run_record
