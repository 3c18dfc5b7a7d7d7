"""Fixtures of the reliability suite: figures reported at the end of the run, helpers
to reach into a local store's files, and a signing key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit._digest import hash_buffers
from payloadkit._layout import digest_prefix, manifest_key
from payloadkit._manifest import now

_FIGURES: list[str] = []

#: The signing key of the ``signed`` fixture.
KEY_A = "reliability-key-a-0123456789abcdef"


@pytest.fixture
def report_figure() -> Callable[[str], None]:
    """Record a summary line (``"name: figures"``), printed in the terminal summary."""

    def report(line: str) -> None:
        print(line)
        _FIGURES.append(line)

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures the reliability tests measured."""
    if _FIGURES:
        terminalreporter.section("reliability figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def signed() -> Iterator[None]:
    """A signing key configured for the test."""
    pk.configure(secret=KEY_A)
    yield
    pk.configure(reset=True)


class OnDisk:
    """Reach into a local store's files, as someone with write access to them could."""

    @staticmethod
    def root(store: pk.Store) -> Path:
        """The directory of a local store."""
        return Path(store.url)

    def manifest(self, store: pk.Store, digest: str) -> Path:
        """Where a local store keeps the manifest of ``digest``."""
        prefix = self.root(store) / digest_prefix(digest)
        found = sorted(prefix.parent.glob(f"{prefix.name}*~*.json"))
        return found[0] if found else self.root(store) / store.info(digest).key

    def object(self, store: pk.Store, digest: str) -> Path:
        """Where a local store keeps the bytes of ``digest``."""
        return self.root(store) / store.info(digest).object_key

    def rewrite_manifest(self, store: pk.Store, digest: str, **changes: Any) -> None:
        """Edit fields of a stored manifest (None removes a field). A changed serializer or
        type moves it to the name those fields give, as someone planting it would."""
        path = self.manifest(store, digest)
        data = json.loads(path.read_bytes())
        for name, value in changes.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        target = self.root(store) / manifest_key(digest, data["serializer"], data["type"])
        if target != path:
            target.parent.mkdir(parents=True, exist_ok=True)
            path.unlink()
        target.write_text(json.dumps(data))

    def plant(
        self,
        store: pk.Store,
        data: bytes,
        serializer: str = "pickle",
        extension: str = ".pkl",
        *,
        type_name: str = "builtins.object",
        version: str = "1",
        signature: str | None = None,
    ) -> str:
        """Write ``data`` and a manifest for it straight into the store's files; its digest."""
        digest = hash_buffers([memoryview(data)])
        ref = pk.PayloadRef(digest, serializer, version, len(data), type_name)
        manifest = pk.Manifest(ref, extension, now(), "3.11.0", {}, None, signature)
        store.initialize()
        for key, content in (
            (manifest.object_key, data),
            (manifest.key, manifest.to_bytes()),
        ):
            path = self.root(store) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        return digest

    @staticmethod
    def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
        """Every path under ``directory`` with its size and modification time."""
        return {
            str(p.relative_to(directory)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(directory.rglob("*"))
        }


@pytest.fixture
def on_disk() -> OnDisk:
    """Helpers to read and alter a local store's files."""
    return OnDisk()


@pytest.fixture
def writer_totals() -> Callable[[list[Any]], dict[str, int]]:
    """Wait for writer processes (see _writer.py) and add up the counts each printed as JSON."""

    def gather(writers: list[Any]) -> dict[str, int]:
        totals = {"puts": 0, "reads": 0, "corrupt": 0, "missing": 0}
        for writer in writers:
            out, err = writer.communicate(timeout=600)
            assert writer.returncode == 0, err
            for key, value in json.loads(out).items():
                totals[key] += value
        return totals

    return gather
