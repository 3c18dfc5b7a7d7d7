"""Fixtures of the Lightning tests: the app tests' store and executors, and a clean cwd."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_app_conftest", Path(__file__).parent.parent / "app" / "conftest.py"
)
assert _spec is not None
assert _spec.loader is not None
_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_app)

# The app tests' fixtures, shared: a store every process reaches, and every executor.
dask_client = _app.dask_client
executor = _app.executor
store = _app.store
pytest_collection_modifyitems = _app.pytest_collection_modifyitems


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own working directory (Works write files there)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def call_threads_left() -> Callable[[], list[threading.Thread]]:
    """Inline call threads started during the test and still alive (threads that earlier
    tests abandoned at a time limit, stuck in a C call, do not count)."""
    before = set(threading.enumerate())

    def left() -> list[threading.Thread]:
        return [
            t
            for t in threading.enumerate()
            if t not in before and t.name.startswith("root.work-call-")
        ]

    return left
