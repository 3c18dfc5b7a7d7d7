"""Shared fixtures: isolated configuration and stores of every kind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import payloadkit as pk
from payloadkit import _config


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from default settings with its own default store directory."""
    monkeypatch.delenv("PAYLOADKIT_STORAGE", raising=False)
    monkeypatch.delenv("PAYLOADKIT_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    pk.configure(reset=True)
    yield
    pk.configure(reset=True)
    _config.forget_stores()


@pytest.fixture
def local_store(tmp_path: Path) -> pk.Store:
    """A fresh local directory store."""
    return pk.open_store(tmp_path / "store")


@pytest.fixture
def memory_store() -> pk.Store:
    """A fresh memory store with a unique name."""
    return pk.open_store(f"memory://test-{uuid.uuid4().hex}")
