"""The files `payloadkit get` writes open in the tools the serializers guide names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

import payloadkit as pk

FRAME = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})


def _get(store: pk.Store, ref: pk.PayloadRef, target: Path) -> Path:
    """`payloadkit get` to ``target`` (suffix added by get); the path written."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "payloadkit.cli",
            "get",
            store.url,
            ref.digest,
            "-o",
            str(target),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["path"])


@pytest.mark.parametrize(
    ("serializer", "value", "suffix", "readers"),
    [
        ("parquet", FRAME, ".parquet", [pd.read_parquet, lambda p: pq.read_table(p).to_pandas()]),
        (
            "arrow",
            FRAME,
            ".arrow",
            [
                pd.read_feather,
                lambda p: feather.read_table(p).to_pandas(),
                lambda p: ipc.open_file(p).read_pandas(),
            ],
        ),
        (
            "numpy",
            np.arange(12.0).reshape(3, 4),
            ".npy",
            [lambda p: np.load(p, allow_pickle=False)],
        ),
        ("json", {"k": [1, 2]}, ".json", [lambda p: json.loads(Path(p).read_text())]),
    ],
)
def test_files_get_writes_open_in_other_tools(
    tmp_path: Path, serializer: str, value: Any, suffix: str, readers: list[Any]
) -> None:
    """pandas, pyarrow, numpy and json read the file of each standard-format payload."""
    store = pk.open_store(tmp_path / "store")
    ref = store.put(value, serializer)
    path = _get(store, ref, tmp_path / "out")
    assert path.suffix == suffix
    for read in readers:
        loaded = read(str(path))
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(loaded, value)
        elif isinstance(value, np.ndarray):
            assert np.array_equal(loaded, value)
        else:
            assert loaded == value


def test_plain_pickle_without_out_of_band_buffers_is_a_pkl(tmp_path: Path) -> None:
    """A pickle payload without large buffers is written as a .pkl that pickle.load reads."""
    import pickle

    store = pk.open_store(tmp_path / "store")
    ref = store.put({"small": [1, 2]}, "pickle")
    path = _get(store, ref, tmp_path / "out")
    assert path.suffix == ".pkl"
    with open(path, "rb") as f:
        assert pickle.load(f) == {"small": [1, 2]}
