"""The store commands as a person meets them: real subprocesses, real pipes, 80 columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.cli._output import format_size

CLI = f"{sys.executable} -m payloadkit.cli"


def payloadkit(
    *args: object, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in ``cwd`` (with ``env`` added to the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "payloadkit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A store whose listings are larger than a pipe's buffer, and a file and run in it."""
    root = tmp_path_factory.mktemp("pipes")
    store = pk.open_store(root / "store")
    for i in range(700):
        store.put({"i": i}, "json")
    blob = root / "blob.bin"
    blob.write_bytes(os.urandom(1 << 20))
    done = payloadkit("put", root / "store", blob, "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    for i in range(300):
        run_id = f"20260101T{i // 60:04d}{i % 60:02d}Z-{i:06x}"
        store.put_record("runs", run_id, _record(run_id))
    return root, json.loads(done.stdout)


def _record(run_id: str) -> dict[str, Any]:
    """A run record as App.run writes it, without Works."""
    return {
        "kind": "payloadkit.run",
        "format": 1,
        "run_id": run_id,
        "app": "app:Main",
        "executor": "inline",
        "started": "2026-01-01T00:00:00+00:00",
        "ended": "2026-01-01T00:00:01+00:00",
        "outcome": "succeeded",
        "error": None,
        "works": {},
        "payloads": [],
    }


@pytest.mark.parametrize(
    "command",
    [
        "ls store",
        "ls store --full",
        "ls store --json",
        "show store {digest}",
        "get store {digest} -o -",
        "verify store",
        "runs store",
        "runs store --json",
        "gc store --dry-run",
        "rm store {digest}",
        "serializers",
        "serializers --json",
        "explain '[1, 2]'",
        "--help",
        "ls --help",
        "put store blob.bin",
    ],
)
def test_piping_into_head_ends_quietly(
    big_store: tuple[Path, dict[str, Any]], command: str
) -> None:
    """`payloadkit ... | head -1` prints one line, nothing on stderr, exit 0 or 141 (SIGPIPE)."""
    root, ref = big_store
    shell = (
        f'{CLI} {command.format(digest=ref["digest"])} | head -1; echo "exit=${{PIPESTATUS[0]}}"'
    )
    done = subprocess.run(
        ["bash", "-c", shell], capture_output=True, cwd=root, timeout=600, check=False
    )
    status = done.stdout.rsplit(b"\n", 2)[-2]
    assert status in (b"exit=0", b"exit=141"), done.stderr
    assert done.stderr == b""


def test_tables_fit_80_columns(big_store: tuple[Path, dict[str, Any]]) -> None:
    """`ls`, `runs` and `serializers` print rows of at most 80 characters by default."""
    root, _ = big_store
    for args in (["ls", "store"], ["runs", "store"], ["serializers"]):
        done = payloadkit(*args, cwd=root)
        assert done.returncode == 0, done.stderr
        widths = [len(line) for line in done.stdout.splitlines()]
        assert max(widths) <= 80, (args, max(widths))


def test_show_prints_sizes_as_ls_does(tmp_path: Path) -> None:
    """`show` gives the size and creation time in the form `ls` uses, and library versions
    as `name version`."""
    import pandas as pd

    store = pk.open_store(tmp_path / "store")
    ref = store.put(pd.DataFrame({"a": range(1000)}))
    listing = payloadkit("ls", "store", cwd=tmp_path).stdout.splitlines()[1]
    shown = payloadkit("show", "store", ref.digest[7:15], cwd=tmp_path).stdout
    size = format_size(ref.size)
    assert size in listing
    assert f"size:                {size} ({ref.size:,} bytes)" in shown
    assert listing.split()[-2] in shown  # the creation date
    libraries = next(line for line in shown.splitlines() if line.startswith("libraries:"))
    assert "pyarrow " in libraries
    assert "{" not in libraries


def test_store_commands_use_the_default_store(tmp_path: Path) -> None:
    """Without a URL, the store commands use $PAYLOADKIT_STORAGE, else ./.payloadkit."""
    (tmp_path / "f.txt").write_text("hello")
    done = payloadkit("put", "f.txt", cwd=tmp_path)
    assert done.returncode == 1
    assert "PAYLOADKIT_STORAGE" in done.stderr
    env = {"PAYLOADKIT_STORAGE": str(tmp_path / "envstore")}
    assert payloadkit("put", "f.txt", cwd=tmp_path, env=env).returncode == 0
    assert "file" in payloadkit("ls", cwd=tmp_path, env=env).stdout
    pk.open_store(tmp_path / ".payloadkit").put([1, 2])
    listing = payloadkit("ls", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "list" in listing.stdout
    assert "file" not in listing.stdout


def test_a_typo_in_a_command_gets_a_suggestion(tmp_path: Path) -> None:
    """A mistyped command exits 2 naming the closest commands."""
    done = payloadkit("verfy", "store", cwd=tmp_path)
    assert done.returncode == 2
    assert "Did you mean 'verify'?" in done.stderr
    done = payloadkit("zzz", cwd=tmp_path)
    assert done.returncode == 2
    assert "'zzz' is not a payloadkit command" in done.stderr


def test_rm_lists_first_and_removes_with_yes(tmp_path: Path) -> None:
    """`rm STORE DIGEST` only lists what it would remove; with --yes the payload is gone."""
    store = pk.open_store(tmp_path / "store")
    ref = store.put({"x": 1})
    done = payloadkit("rm", "store", ref.digest[7:17], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "would remove" in done.stdout
    assert store.exists(ref)
    done = payloadkit("rm", "store", ref.digest[7:17], "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not store.exists(ref)
    assert payloadkit("verify", "store", cwd=tmp_path).returncode == 0
    assert payloadkit("rm", "store", ref.digest, "--yes", cwd=tmp_path).returncode == 1


def test_runs_accepts_a_prefix_of_the_run_id(tmp_path: Path) -> None:
    """`runs STORE PREFIX` shows the one run whose id starts so; a bare prefix uses the
    default store."""
    store = pk.open_store(tmp_path / ".payloadkit")
    for run_id in ("20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"):
        store.put_record("runs", run_id, _record(run_id))
    done = payloadkit("runs", ".payloadkit", "20260102", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "20260102T000000Z-bbbbbb" in done.stdout
    done = payloadkit("runs", "20260101T", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "20260101T000000Z-aaaaaa" in done.stdout
    done = payloadkit("runs", ".payloadkit", "2026", cwd=tmp_path)
    assert done.returncode == 1
    assert "matches 2 runs" in done.stderr
