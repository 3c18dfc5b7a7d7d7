"""Shared fixtures: isolated configuration and stores of every kind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import payloadkit as pk
from payloadkit.stores._opened import forget_stores


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from default settings with its own default store directory."""
    monkeypatch.delenv("PAYLOADKIT_STORAGE", raising=False)
    monkeypatch.delenv("PAYLOADKIT_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    pk.configure(reset=True)
    yield
    pk.configure(reset=True)
    forget_stores()
    _clear_memory_filesystem()


def _clear_memory_filesystem() -> None:
    """memory:// lives as long as the process: a test's memory stores do not outlive it."""
    from fsspec.implementations.memory import MemoryFileSystem

    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs[:] = [""]


@pytest.fixture
def local_store(tmp_path: Path) -> pk.Store:
    """A fresh local directory store."""
    return pk.open_store(tmp_path / "store")


@pytest.fixture
def memory_store() -> pk.Store:
    """A fresh memory store with a unique name."""
    return pk.open_store(f"memory://test-{uuid.uuid4().hex}")


class FakeDistributions:
    """Writes distributions (a module and a ``*.dist-info``) into a directory on ``sys.path``.

    This is what an installed plugin looks like to ``importlib.metadata``; the registry is
    reset before and after the test, so discovery sees exactly these distributions.
    """

    def __init__(self, site: Path) -> None:
        self.site = site
        self.modules: list[str] = []

    def add(
        self,
        dist: str,
        module: str,
        source: str,
        *,
        serializers: dict[str, str] | None = None,
        stores: dict[str, str] | None = None,
    ) -> None:
        """Install ``module`` (with ``source``) as distribution ``dist`` with these entry points."""
        (self.site / f"{module}.py").write_text(source)
        info = self.site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines: list[str] = []
        for group, entries in (
            ("payloadkit.serializers", serializers),
            ("payloadkit.stores", stores),
        ):
            if entries:
                lines += [f"[{group}]", *(f"{k} = {v}" for k, v in entries.items()), ""]
        (info / "entry_points.txt").write_text("\n".join(lines))
        self.modules.append(module)


@pytest.fixture
def fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDistributions]:
    """A directory of fake installed plugin distributions, first on ``sys.path``."""
    import sys

    from payloadkit._registry import registry

    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    for name in ("PAYLOADKIT_DISABLE_PLUGINS", "PAYLOADKIT_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(name, raising=False)
    registry.reset()
    fakes = FakeDistributions(site)
    yield fakes
    registry.reset()
    for module in fakes.modules:
        sys.modules.pop(module, None)


# The S3 server fixtures (moto and s3rver on loopback): s3_server, s3_store, moto_server,
# s3rver_server.
pytest_plugins = ["tests._s3server"]
