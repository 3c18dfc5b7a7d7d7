"""First checks of the core: round trips through each kind of store."""

from __future__ import annotations

import payloadkit as pk


def test_roundtrip_local(local_store: pk.Store) -> None:
    """A dict put into a local store comes back equal, and the ref names the store."""
    ref = local_store.put({"a": 1})
    assert local_store.get(ref) == {"a": 1}
    assert ref.store == local_store.url


def test_roundtrip_memory(memory_store: pk.Store) -> None:
    """A list put into a memory store comes back equal."""
    assert memory_store.get(memory_store.put([1, 2])) == [1, 2]


def test_python_dash_m_runs_the_command_line() -> None:
    """`python -m payloadkit` is the payloadkit command line."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "payloadkit", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("payloadkit ")
