"""`ls`, `show`, `get`, `put` and `runs`, end to end through the command-line entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest

import payloadkit as pk
from payloadkit.cli import build_parser

COMMANDS = ["ls", "show", "get", "put", "verify", "runs", "gc"]


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest) -> pk.Store:
    """A local directory store and a memory store (the CLI runs in this process)."""
    fixture = "local_store" if request.param == "local" else "memory_store"
    store: pk.Store = request.getfixturevalue(fixture)
    store.initialize()  # an existing, empty store
    return store


@pytest.fixture
def filled(store: pk.Store) -> dict[str, pk.PayloadRef]:
    """A store holding a DataFrame, an array and a dict."""
    return {
        "df": store.put(pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})),
        "arr": store.put(np.arange(12, dtype="int32").reshape(3, 4)),
        "obj": store.put({"answer": 42}),
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli: Any, command: str) -> None:
    """`payloadkit COMMAND --help` describes the command and exits 0."""
    code, out, _ = cli(command, "--help")
    assert code == 0
    assert f"usage: payloadkit {command}" in out
    assert "URL" in out


def test_commands_are_registered() -> None:
    """Every store command is part of the one `payloadkit` parser."""
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(COMMANDS) <= set(subparsers.choices)  # type: ignore[arg-type]


def test_usage_errors_exit_2(cli: Any, store: pk.Store) -> None:
    """A missing argument or a malformed age is a usage error, exit code 2."""
    assert cli("get", store.url, "blake3:" + "0" * 64)[0] == 2  # no -o
    code, _, err = cli("ls", store.url, "--since", "yesterday")
    assert code == 2
    assert "not an age" in err


def test_ls_table_and_json(
    cli: Any, cli_json: Any, store: pk.Store, filled: dict[str, Any]
) -> None:
    """`ls` lists short digest, short type, serializer, size and creation time of every payload
    in lines that fit 80 columns; `--full` and `--json` give whole digests and type names."""
    code, out, _ = cli("ls", store.url)
    assert code == 0
    assert out.splitlines()[0].split() == [
        "digest",
        "type",
        "serializer",
        "size",
        "created",
        "(UTC)",
    ]
    assert max(len(line) for line in out.splitlines()) <= 80
    for ref in filled.values():
        assert ref.digest.split(":")[1][:12] in out
        assert ref.digest not in out
    assert "pandas.DataFrame" in out
    code, full, _ = cli("ls", store.url, "--full")
    for ref in filled.values():
        assert ref.digest in full
        assert ref.type in full
    listed = cli_json("ls", store.url)
    assert {m["digest"] for m in listed} == {r.digest for r in filled.values()}
    assert {m["serializer"] for m in listed} == {"parquet", "numpy", "pickle"}


def test_ls_filters(cli_json: Any, store: pk.Store, filled: dict[str, Any]) -> None:
    """`--type`, `--serializer` and `--since` narrow the listing."""
    assert [m["digest"] for m in cli_json("ls", store.url, "--type", "DataFrame")] == [
        filled["df"].digest
    ]
    assert [m["digest"] for m in cli_json("ls", store.url, "--serializer", "numpy")] == [
        filled["arr"].digest
    ]
    assert len(cli_json("ls", store.url, "--since", "1h")) == 3
    assert cli_json("ls", store.url, "--since", "0") == []


def test_show_previews_dataframe_and_array(
    cli: Any, store: pk.Store, filled: dict[str, Any]
) -> None:
    """`show` prints the manifest and a preview for serializers that run no code on load."""
    code, out, _ = cli("show", store.url, filled["df"].digest)
    assert code == 0
    assert "extension:           .parquet" in out
    assert "3 rows x 2 columns" in out
    assert "z" in out.split("columns", 1)[1]
    code, out, _ = cli("show", store.url, filled["arr"].digest)
    assert code == 0
    assert "shape=(3, 4) dtype=int32" in out
    assert "[ 8  9 10 11]]" in out


def test_show_refuses_to_load_unsigned_pickle(
    cli_json: Any, store: pk.Store, filled: dict[str, Any]
) -> None:
    """A pickle payload is not loaded for a preview without a signing key: loading runs code."""
    shown = cli_json("show", store.url, filled["obj"].digest)
    assert shown["manifest"]["serializer"] == "pickle"
    assert shown["preview"].startswith("(no preview: pickle can run code on load")


def test_show_previews_signed_pickle_with_key(cli_json: Any, store: pk.Store) -> None:
    """With a signing key configured, a payload signed with it is previewed."""
    pk.configure(secret="k" * 32)
    ref = store.put({"signed": True})
    assert cli_json("show", store.url, ref.digest)["preview"] == "{'signed': True}"
    pk.configure(secret="another-key-" * 3)
    assert "not among the configured keys" in cli_json("show", store.url, ref.digest)["preview"]


def test_show_unknown_digest_exits_1(cli: Any, store: pk.Store) -> None:
    """An absent digest is a failure, exit 1, with a message saying what to do."""
    code, _, err = cli("show", store.url, "blake3:" + "ab" * 32)
    assert code == 1
    assert "payloadkit ls" in err


def test_get_writes_a_plain_parquet_file(
    cli: Any, tmp_path: Path, store: pk.Store, filled: dict[str, Any]
) -> None:
    """`get` writes the stored bytes as a .parquet file that pandas reads on its own."""
    code, out, _ = cli("get", store.url, filled["df"].digest, "-o", tmp_path / "frame")
    assert code == 0
    assert "verified" in out
    frame = pd.read_parquet(tmp_path / "frame.parquet")
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))


def test_get_into_a_directory(
    cli: Any, tmp_path: Path, store: pk.Store, filled: dict[str, Any]
) -> None:
    """`-o DIR` names the file after the digest, with the stored extension."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert cli("get", store.url, filled["arr"].digest, "-o", out_dir)[0] == 0
    (written,) = out_dir.iterdir()
    assert written.name == filled["arr"].digest.split(":")[1] + ".npy"
    np.testing.assert_array_equal(np.load(written), np.arange(12, dtype="int32").reshape(3, 4))


def test_get_refuses_corrupt_bytes(cli: Any, tmp_path: Path, local_store: pk.Store) -> None:
    """`get` verifies the digest: altered bytes are an error and no file is written."""
    ref = local_store.put(b"x" * 1000)
    obj = next((tmp_path / "store" / "objects").rglob("*.pkl"))
    obj.write_bytes(b"y" * 1000)
    code, _, err = cli("get", local_store.url, ref.digest, "-o", tmp_path / "copy.pkl")
    assert code == 1
    assert "do not match their digest" in err
    assert not (tmp_path / "copy.pkl").exists()


@pytest.mark.parametrize(
    ("suffix", "serializer", "write", "check"),
    [
        (
            ".parquet",
            "parquet",
            lambda p: pd.DataFrame({"a": [1.5]}).to_parquet(p),
            lambda v: v.equals(pd.DataFrame({"a": [1.5]})),
        ),
        (".npy", "numpy", lambda p: np.save(p, np.ones(3)), lambda v: v.tolist() == [1, 1, 1]),
        (
            ".feather",
            "arrow",
            lambda p: feather.write_feather(pa.table({"c": [1]}), p),
            lambda v: v.column("c").to_pylist() == [1],
        ),
        (".json", "json", lambda p: p.write_text('{"k": [1]}'), lambda v: v == {"k": [1]}),
        (".csv", "parquet", lambda p: p.write_text("a,b\n1,x\n"), lambda v: v.shape == (1, 2)),
    ],
)
def test_put_reads_files_by_suffix(
    cli_json: Any,
    tmp_path: Path,
    store: pk.Store,
    suffix: str,
    serializer: str,
    write: Callable[[Path], object],
    check: Callable[[Any], bool],
) -> None:
    """`put --as-object` stores a file's object under the serializer that keeps its format."""
    path = tmp_path / f"input{suffix}"
    write(path)
    ref = pk.PayloadRef.from_dict(cli_json("put", store.url, path, "--as-object"))
    assert ref.serializer == serializer
    assert check(store.get(ref.digest))


def test_put_with_explicit_serializer(cli_json: Any, tmp_path: Path, store: pk.Store) -> None:
    """`--serializer` overrides the choice made from the suffix."""
    path = tmp_path / "data.json"
    path.write_text("[1, 2]")
    ref = cli_json("put", store.url, path, "--serializer", "pickle")
    assert ref["serializer"] == "pickle"
    assert store.get(ref["digest"]) == [1, 2]


def test_put_bad_file_exits_1(cli: Any, tmp_path: Path, store: pk.Store) -> None:
    """A file that is not what its suffix says is a failure with a clear message."""
    path = tmp_path / "broken.npy"
    path.write_bytes(b"not an array")
    code, _, err = cli("put", store.url, path, "--as-object")
    assert code == 1
    assert "broken.npy is not a valid .npy file" in err


def test_put_as_object_refuses_unknown_suffix(cli: Any, tmp_path: Path, store: pk.Store) -> None:
    """`put --as-object` of a file it has no reader for says to store the bytes instead."""
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    code, _, err = cli("put", store.url, path, "--as-object")
    assert code == 1
    assert "without --as-object" in err


def test_runs_lists_and_shows(
    cli: Any, cli_json: Any, store: pk.Store, filled: dict[str, Any], make_record: Any
) -> None:
    """`runs` lists run records most recent first; `runs URL ID` shows each Work's final state."""
    store.put_record("runs", "r1", make_record("r1", {"df": filled["df"]}))
    store.put_record("runs", "r2", make_record("r2", {"arr": filled["arr"]}, outcome="failed"))
    code, out, _ = cli("runs", store.url)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("r2")
    assert "failed" in lines[1]
    assert lines[2].startswith("r1")
    code, out, _ = cli("runs", store.url, "r1")
    assert code == 0
    assert "root.df" in out
    assert "df=<pandas.DataFrame " + filled["df"].digest[7:19] in out
    assert cli_json("runs", store.url, "r2")["error"] == "ValueError: boom"
    assert [r["run_id"] for r in cli_json("runs", store.url)] == ["r2", "r1"]


def test_runs_none_recorded(cli: Any, store: pk.Store) -> None:
    """A store without run records says so."""
    assert cli("runs", store.url) == (0, f"No runs recorded in {store.url}.\n", "")


def test_runs_unknown_id_exits_1(cli: Any, store: pk.Store) -> None:
    """Asking for a run that is not recorded fails with exit code 1."""
    code, _, err = cli("runs", store.url, "nope")
    assert code == 1
    assert "No run in" in err
    assert "'nope'" in err


def test_storage_option_reaches_the_backend(cli: Any, tmp_path: Path) -> None:
    """`--storage-option` is passed to the store; a local store refuses options it cannot use."""
    code, _, err = cli("ls", tmp_path / "s", "--storage-option", "anon=true")
    assert code == 1
    assert "takes no storage options (got anon)" in err
    (tmp_path / "s").mkdir()
    assert "is not a payloadkit store" in cli("ls", tmp_path / "s", "--json")[2]
    pk.open_store(tmp_path / "s").initialize()
    assert json.loads(cli("ls", tmp_path / "s", "--json")[1]) == []


def test_a_missing_directory_is_not_an_empty_store(cli: Any, tmp_path: Path) -> None:
    """A mistyped local path is an error naming it, not an empty listing; put creates it."""
    code, _, err = cli("ls", tmp_path / "typo")
    assert code == 1
    assert f"{tmp_path / 'typo'} is not a payloadkit store" in err
    assert not (tmp_path / "typo").exists()
    (tmp_path / "f.json").write_text("[1]")
    assert cli("put", tmp_path / "new", tmp_path / "f.json")[0] == 0
    assert cli("verify", tmp_path / "new")[0] == 0


def test_ls_empty_store_says_so(cli: Any, store: pk.Store) -> None:
    """Listing an empty store, or filtering everything out, says so in words."""
    assert cli("ls", store.url)[1] == f"No payloads in {store.url}.\n"
    store.put([1])
    assert cli("ls", store.url, "--type", "nothing")[1] == f"No payloads in {store.url} match.\n"


def test_digest_prefixes(cli: Any, store: pk.Store, filled: dict[str, Any]) -> None:
    """`show` and `get` accept a unique prefix of a digest, with or without the algorithm."""
    hexdigest = filled["df"].digest.split(":")[1]
    for prefix in (hexdigest[:10], f"blake3:{hexdigest[:10]}"):
        code, out, _ = cli("show", store.url, prefix, "--no-preview")
        assert code == 0
        assert filled["df"].digest in out
    code, _, err = cli("show", store.url, "blake3:")
    assert code == 1
    assert "matches 3 payloads" in err
    code, _, err = cli("show", store.url, "zz")
    assert code == 1
    assert "has a digest starting with 'zz'" in err


def test_progress_bar_follows_the_transfer(memory_store: pk.Store) -> None:
    """A forced bar is an fsspec callback that the store's read advances to the full size."""
    from payloadkit.cli._progress import progress_callback

    data = b"z" * 100_000
    ref = memory_store.put(data)
    with progress_callback(ref.size, "get", force=True) as callback:
        assert memory_store.get(ref, callback=callback) == data
        assert callback.size == ref.size
        assert callback.value == ref.size
    with progress_callback(ref.size, "get") as callback:
        assert callback is None  # small, and not a terminal: no bar


def test_get_to_an_unwritable_place_exits_1(
    cli: Any, tmp_path: Path, store: pk.Store, filled: dict[str, Any]
) -> None:
    """A destination that cannot be written is a failure naming it, leaving no partial file."""
    target = tmp_path / "missing-dir" / "frame.parquet"
    code, _, err = cli("get", store.url, filled["df"].digest, "-o", target)
    assert code == 1
    assert "Cannot write" in err
    assert not target.parent.exists()
