"""`payloadkit put` and `get` of files, as a user runs them: real CLI subprocesses."""

from __future__ import annotations

import filecmp
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import payloadkit as pk

MiB = 1 << 20
#: What put and get may use beyond a CLI process that moves nothing, whatever the file size.
MEMORY_BOUND = 32 * MiB


def payloadkit(
    *args: object, cwd: Path | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run the real `payloadkit` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "payloadkit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
        **kwargs,
    )


def put(store: Path, path: Path) -> dict[str, Any]:
    """`put --json`, checked; the ref it printed."""
    import json

    done = payloadkit("put", store, path, "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize(
    "name", ["notes.txt", "frame.parquet", "matrix.npy", "no-suffix", "a.tar.gz"]
)
def test_put_get_round_trips_any_file_byte_for_byte(tmp_path: Path, name: str) -> None:
    """A file of any suffix comes back from put/get identical, with its own suffix."""
    source = tmp_path / name
    if name.endswith(".parquet"):
        pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]}).to_parquet(source)
    elif name.endswith(".npy"):
        np.save(source, np.arange(1000, dtype="<i4").reshape(10, 100))
    else:
        source.write_bytes(os.urandom(5000) + b"\x00end")
    ref = put(tmp_path / "store", source)
    assert ref["serializer"] == "file"
    assert ref["digest"] == pk.open_store(tmp_path / "store").info(ref["digest"]).ref.digest
    done = payloadkit("get", tmp_path / "store", ref["digest"][7:19], "-o", tmp_path / "back")
    assert done.returncode == 0, done.stderr
    suffix = {"no-suffix": "", "a.tar.gz": ".tar.gz"}.get(name, Path(name).suffix)
    assert filecmp.cmp(source, tmp_path / f"back{suffix}", shallow=False)


def test_digest_is_the_files_own(tmp_path: Path) -> None:
    """The payload's digest is the blake3 digest of the file's bytes (b3sum would agree)."""
    import blake3

    source = tmp_path / "data.bin"
    source.write_bytes(b"payloadkit" * 1000)
    ref = put(tmp_path / "store", source)
    assert ref["digest"] == "blake3:" + blake3.blake3(source.read_bytes()).hexdigest()


def test_get_to_stdout_streams_the_bytes(tmp_path: Path) -> None:
    """`get -o -` writes the bytes to standard output and no file named '-'."""
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")
    ref = put(tmp_path / "store", source)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "payloadkit.cli",
            "get",
            str(tmp_path / "store"),
            ref["digest"],
            "-o",
            "-",
        ],
        capture_output=True,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == source.read_bytes()
    assert not list(tmp_path.glob("-*"))


def test_get_into_a_new_directory_and_a_missing_one(tmp_path: Path) -> None:
    """`-o newdir/` creates the directory; `-o missing/file` is a clear error, nothing written."""
    source = tmp_path / "data.csv"
    source.write_text("a\n1\n")
    ref = put(tmp_path / "store", source)
    done = payloadkit("get", tmp_path / "store", ref["digest"], "-o", f"{tmp_path}/new/")
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "new").iterdir()] == [ref["digest"][7:] + ".csv"]
    done = payloadkit(
        "get", tmp_path / "store", ref["digest"], "-o", tmp_path / "missing" / "x.csv"
    )
    assert done.returncode == 1
    assert "does not exist" in done.stderr
    assert not (tmp_path / "missing").exists()


def test_get_leaves_nothing_when_the_bytes_are_corrupt(tmp_path: Path) -> None:
    """Altered stored bytes fail the digest check and no file (or temporary file) is left."""
    source = tmp_path / "data.bin"
    source.write_bytes(b"x" * (3 * MiB))
    ref = put(tmp_path / "store", source)
    store = pk.open_store(tmp_path / "store")
    stored = tmp_path / "store" / store.info(ref["digest"]).object_key
    stored.write_bytes(b"y" * (3 * MiB))
    out = tmp_path / "out"
    out.mkdir()
    done = payloadkit("get", tmp_path / "store", ref["digest"], "-o", out / "copy.bin")
    assert done.returncode == 1
    assert "do not match their digest" in done.stderr
    assert list(out.iterdir()) == []


def test_put_as_object_parses_the_file(tmp_path: Path) -> None:
    """`--as-object` stores the DataFrame a CSV holds, as parquet."""
    import json

    source = tmp_path / "t.csv"
    source.write_text("a,b\n1,x\n2,y\n")
    done = payloadkit("put", tmp_path / "store", source, "--as-object", "--json")
    assert done.returncode == 0, done.stderr
    ref = json.loads(done.stdout)
    assert ref["serializer"] == "parquet"
    frame = pk.open_store(tmp_path / "store").get(ref["digest"])
    assert frame.equals(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))


def test_a_file_payload_loads_in_python_as_a_file(tmp_path: Path) -> None:
    """A file stored by the CLI loads in Python as a File holding its bytes."""
    source = tmp_path / "data.bin"
    source.write_bytes(b"\x00\x01raw")
    ref = put(tmp_path / "store", source)
    loaded = pk.open_store(tmp_path / "store").get(ref["digest"])
    assert type(loaded).__name__ == "File"
    assert bytes(loaded) == b"\x00\x01raw"


@pytest.mark.parametrize(("option", "suffix"), [("zstd", ".npy.zst"), ("none", ".npy")])
def test_put_compression_option(tmp_path: Path, option: str, suffix: str) -> None:
    """`--compression` stores the object the file holds with that codec (or none)."""
    import json

    source = tmp_path / "m.npy"
    np.save(source, np.zeros(50_000))
    done = payloadkit("put", tmp_path / "store", source, "--compression", option, "--json")
    assert done.returncode == 0, done.stderr
    digest = json.loads(done.stdout)["digest"]
    store = pk.open_store(tmp_path / "store")
    assert store.info(digest).extension == suffix
    assert np.array_equal(store.get(digest), np.zeros(50_000))


def test_put_compression_on_parquet_is_refused(tmp_path: Path) -> None:
    """A codec on top of parquet is refused with a message saying what to do."""
    source = tmp_path / "t.csv"
    source.write_text("a,b\n1,x\n")
    done = payloadkit("put", tmp_path / "store", source, "--compression", "lz4")
    assert done.returncode != 0
    assert "compresses its column chunks itself" in done.stderr


def test_get_plain_writes_a_pickle_that_pickle_load_reads(tmp_path: Path) -> None:
    """A pickle payload with out-of-band buffers is written as .pkf; --plain gives a .pkl
    that the standard pickle module loads."""
    store = pk.open_store(tmp_path / "store")
    value = {"array": np.arange(100_000), "name": "x"}
    ref = store.put(value, "pickle", compression=None)
    done = payloadkit("get", tmp_path / "store", ref.digest, "-o", tmp_path / "raw")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "raw.pkf").read_bytes()[:4] == b"PKF1"
    done = payloadkit("get", tmp_path / "store", ref.digest, "-o", tmp_path / "plain", "--plain")
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "plain.pkl", "rb") as f:
        loaded = pickle.load(f)
    assert loaded["name"] == "x"
    assert np.array_equal(loaded["array"], value["array"])


@pytest.mark.parametrize("value", [{"array": np.arange(100_000)}, ["text " * 10_000]])
def test_get_plain_decompresses(tmp_path: Path, value: Any) -> None:
    """A compressed pickle payload (a PKF2 container or a .pkl.zst) comes out of --plain as a
    pickle that the standard pickle module loads."""
    store = pk.open_store(tmp_path / "store")
    ref = store.put(value, "pickle")
    assert store.info(ref).compression is not None
    done = payloadkit("get", tmp_path / "store", ref.digest, "-o", tmp_path / "plain", "--plain")
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "plain.pkl", "rb") as f:
        loaded = pickle.load(f)
    assert pickle.dumps(loaded, protocol=5) == pickle.dumps(value, protocol=5)


def _big_npy(path: Path, size: int) -> None:
    """A valid .npy file of ``size`` bytes: a header, sparse zeros, a few random bytes."""
    count = (size - 128) // 8
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (count,)}
        )
        f.truncate(128 + count * 8)
        for offset in (128, size // 2, size - 4096):
            f.seek(offset)
            f.write(os.urandom(4096))


#: The CLI, reporting its peak resident set size (VmHWM: of this process since exec) at exit.
_MEASURED_CLI = """
import sys
from payloadkit.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as f:
    peak = [line.split()[1] for line in f if line.startswith("VmHWM:")][0]
print(peak, file=sys.stderr)
sys.exit(code)
"""


def _peak_rss(*args: object) -> int:
    """Run the CLI in a subprocess; its peak resident set size in bytes."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED_CLI, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stderr.split()[-1]) * 1024  # kB


def _round_trip_in_bounded_memory(tmp_path: Path, size: int) -> None:
    source = tmp_path / "big.npy"
    _big_npy(source, size)
    store = tmp_path / "store"
    baseline = _peak_rss("serializers")
    put_peak = _peak_rss("put", store, source)
    listed = pk.open_store(store).manifests()
    digest = next(iter(listed)).ref.digest
    get_peak = _peak_rss("get", store, digest, "-o", tmp_path / "back.npy")
    assert filecmp.cmp(source, tmp_path / "back.npy", shallow=False)
    limit = baseline + MEMORY_BOUND
    print(
        f"peak RSS: baseline {baseline >> 20} MiB, put {put_peak >> 20} MiB, get {get_peak >> 20} MiB"
    )
    assert put_peak < limit
    assert get_peak < limit


def test_64_mib_file_round_trips_in_bounded_memory(tmp_path: Path) -> None:
    """A 64 MiB .npy goes through put/get unchanged, neither process holding it in memory."""
    _round_trip_in_bounded_memory(tmp_path, 64 * MiB)


@pytest.mark.slow
def test_1_gib_file_round_trips_in_bounded_memory(tmp_path: Path) -> None:
    """A 1 GiB .npy goes through put/get byte for byte; peak RSS stays far below 1 GiB."""
    _round_trip_in_bounded_memory(tmp_path, 1024 * MiB)
