"""S3 tests keep their payload cache in the test's own directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def payload_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each S3 test gets an empty payload cache of its own."""
    cache = tmp_path / "payload-cache"
    monkeypatch.setenv("PAYLOADKIT_CACHE", str(cache))
    monkeypatch.delenv("PAYLOADKIT_CACHE_SIZE", raising=False)
    return cache
