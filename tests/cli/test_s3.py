"""The store commands against S3 (moto and s3rver on loopback), credentials from the environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests._s3server import on_every_server

import payloadkit as pk
from payloadkit._gc import collect_garbage
from payloadkit._maintenance import verify_store

pytestmark = [pytest.mark.s3, on_every_server]

Target = tuple[pk.Store, list[str]]


def test_ls_show_get_put_on_s3(
    cli: Any, cli_json: Any, tmp_path: Path, s3_cli_store: Target
) -> None:
    """Listing, showing, getting and putting work on an S3 store through --storage-option."""
    store, target = s3_cli_store
    ref = store.put(pd.DataFrame({"a": [1, 2]}))
    listed = cli_json("ls", *target)
    assert [m["digest"] for m in listed] == [ref.digest]
    code, out, err = cli("show", *target[:1], ref.digest, *target[1:])
    assert code == 0, err
    assert "2 rows x 1 columns" in out
    assert cli("get", target[0], ref.digest, "-o", tmp_path / "df", *target[1:])[0] == 0
    assert pd.read_parquet(tmp_path / "df.parquet").equals(pd.DataFrame({"a": [1, 2]}))
    np.save(tmp_path / "arr.npy", np.eye(2))
    put = cli_json("put", target[0], tmp_path / "arr.npy", *target[1:], "--as-object")
    assert put["serializer"] == "numpy"
    assert put["store"] == store.url
    assert "testing" not in json.dumps(put)
    raw = cli_json("put", target[0], tmp_path / "arr.npy", *target[1:])
    assert raw["serializer"] == "file"
    code, _, err = cli("get", target[0], raw["digest"], "-o", tmp_path / "back.npy", *target[1:])
    assert code == 0, err
    assert (tmp_path / "back.npy").read_bytes() == (tmp_path / "arr.npy").read_bytes()


def test_verify_on_s3_finds_corruption(cli: Any, s3_cli_store: Target) -> None:
    """verify re-hashes S3 objects and exits 1 on altered bytes."""
    store, target = s3_cli_store
    ref = store.put(b"x" * 100)
    assert cli("verify", *target)[0] == 0
    fs = store.fs  # type: ignore[attr-defined]
    fs.pipe_file(f"{store.root}/{store.info(ref).object_key}", b"y" * ref.size)  # type: ignore[attr-defined]
    code, out, _ = cli("verify", *target)
    assert code == 1
    assert "corrupt" in out


def test_runs_and_gc_on_s3(
    cli: Any, cli_json: Any, s3_cli_store: Target, make_record: Any, backdate: Any
) -> None:
    """gc on S3 keeps what the kept run references and removes the rest."""
    store, target = s3_cli_store
    kept, dropped = store.put("kept"), store.put("dropped")
    backdate(store)
    store.put_record("runs", "r1", make_record("r1", {"x": kept}))
    assert [r["run_id"] for r in cli_json("runs", *target)] == ["r1"]
    report = cli_json("gc", *target, "--older-than", "0", "--keep-runs", "1")
    assert [f["digest"] for f in report["removed"]] == [dropped.digest]
    assert store.get(kept) == "kept"
    assert not store.exists(dropped)
    assert verify_store(store).ok


def test_gc_on_s3_removes_old_leftovers_only(s3_cli_store: Target) -> None:
    """Crash leftovers on S3 are aged by the server's modification time."""
    store, _ = s3_cli_store
    store.initialize()
    leftover = f"tmp/1-{'d' * 32}.part"
    fs = store.fs  # type: ignore[attr-defined]
    fs.pipe_file(f"{store.root}/{leftover}", b"partial")  # type: ignore[attr-defined]
    young = collect_garbage(store, keep_runs=0, older_than=timedelta(hours=1), dry_run=False)
    assert young.removed == []
    later = datetime.now(UTC) + timedelta(days=2)
    old = collect_garbage(
        store, keep_runs=0, older_than=timedelta(days=1), dry_run=False, now=later
    )
    assert [f.key for f in old.removed] == [leftover]


def test_gc_on_s3_restores_a_payload_saved_meanwhile(s3_cli_store: Target, backdate: Any) -> None:
    """On S3 too, a payload saved again while gc removes it is put back intact."""
    from tests._hooked import Hooked

    store, _ = s3_cli_store
    ref = store.put("saved again")
    backdate(store)
    backend = Hooked(store.backend)

    def write() -> None:  # the bytes were copied aside and deleted, the manifest is gone
        assert store.put("saved again") == ref

    backend.when("move", lambda key: key.startswith("objects/"), write)
    report = collect_garbage(pk.Store(backend), keep_runs=0, older_than=timedelta(0), dry_run=False)
    assert backend.fired
    assert [f.digest for f in report.spared] == [ref.digest]
    assert store.get(ref) == "saved again"
    assert verify_store(store).ok


def test_a_server_that_cannot_list_uploads_is_said_so(
    cli: Any, cli_json: Any, s3_cli_store: Target, s3_server: Any
) -> None:
    """Where the server cannot list multipart uploads (s3rver: 501), verify and gc do the rest
    and say in one line that open uploads were not checked."""
    store, target = s3_cli_store
    ref = store.put("kept")
    code, out, _ = cli("verify", *target)
    listed = "could not be checked" not in out
    assert code == 0
    assert listed == (s3_server.name == "moto")
    report = cli_json("gc", *target, "--older-than", "0")
    assert any("could not be checked" in note for note in report["notes"]) != listed
    assert store.get(ref) == "kept"


def test_verify_and_gc_handle_interrupted_multipart_uploads(
    cli: Any, cli_json: Any, s3_cli_store: Target, s3_server: Any
) -> None:
    """An upload a killed writer left is a problem for verify, listed by a dry run, aborted by gc."""
    from payloadkit.stores import S3Store

    if s3_server.name != "moto":
        pytest.skip(f"{s3_server.name} can neither list nor abort multipart uploads")
    store, target = s3_cli_store
    assert isinstance(store, S3Store)
    ref = store.put("kept")
    key = "objects/blake3/ab/" + "ab" * 32 + ".pkl"
    store.fs.call_s3("create_multipart_upload", Bucket=store.bucket, Key=store.backend.prefix + key)
    # moto reports a start time years ago: older than any grace period.
    code, out, _ = cli("verify", *target)
    assert code == 1
    assert "upload" in out
    assert "never completed" in out
    dry = cli_json("gc", *target, "--dry-run")
    assert [(f["kind"], f["key"]) for f in dry["removed"]] == [("upload", key)]
    assert store.backend.incomplete_uploads() != []
    report = cli_json("gc", *target)
    assert [f["kind"] for f in report["removed"]] == ["upload"]
    assert store.backend.incomplete_uploads() == []
    assert store.get(ref) == "kept"
