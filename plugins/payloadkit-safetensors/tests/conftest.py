"""Isolated payloadkit settings per test; the serializer registered when run from a checkout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import payloadkit as pk
from payloadkit_safetensors import SafetensorsSerializer


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test runs in its own directory with default settings.

    Installed, the plugin is found through its entry point; run from a source checkout
    without installing, it is registered by hand so that stores can load what it wrote.
    """
    monkeypatch.delenv("PAYLOADKIT_STORAGE", raising=False)
    monkeypatch.chdir(tmp_path)
    pk.configure(reset=True)
    if "safetensors" not in [info.name for info in pk.serializers() if info.status == "ok"]:
        pk.register_serializer(SafetensorsSerializer)
    yield
    pk.configure(reset=True)
