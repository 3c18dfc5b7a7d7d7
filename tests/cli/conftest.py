"""Fixtures for the store commands: a CLI runner and run records shaped as the App writes them."""

from __future__ import annotations

import json
import uuid
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


@pytest.fixture
def s3_cli_store(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[pk.Store, list[str]]:
    """A fresh bucket on the test S3 server: the store, and the CLI arguments that reach it.

    Credentials come from the environment, as a user would pass them; only the endpoint
    is given on the command line.
    """
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.create_bucket(f"cli-{uuid.uuid4().hex[:12]}")
    url = f"s3://{bucket}/store"
    endpoint = s3_server.endpoint_url
    store = pk.open_store(url, client_kwargs={"endpoint_url": endpoint})
    return store, [url, "--storage-option", f'client_kwargs={{"endpoint_url": "{endpoint}"}}']


@pytest.fixture
def backdate() -> Callable[..., None]:
    """Make every manifest of a store say it was written ``days`` ago (bypassing the store)."""

    def run(store: pk.Store, days: float = 10) -> None:
        when = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")
        for key in [i.key for i in store.backend.list("manifests/")]:
            manifest = json.loads(store.backend.read(key, 1 << 20))
            manifest["created"] = when
            store.backend.write(key, json.dumps(manifest).encode())

    return run
