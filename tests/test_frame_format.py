"""The ``frame`` format: DataFrames as aligned blocks, loaded as views, hostile bytes refused."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest

import payloadkit as pk
from payloadkit._encode import candidates, encode, handing_over
from payloadkit._registry import registry
from payloadkit._serializers._frame import MAGIC
from payloadkit._serializers._pickle import SerializerFallbackWarning
from payloadkit.errors import DeserializationError, SerializationError

FRAME = registry.get("frame")


def _bytes(df: pd.DataFrame) -> bytearray:
    return bytearray(b"".join(bytes(f) for f in FRAME.dump_frames(df)))


def _wide(n: int = 1000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f8": np.arange(n, dtype=float),
            "i8": np.arange(n),
            "s": [f"row {i}" for i in range(n)],
            "t": pd.date_range("2020", periods=n, freq="s"),
            "tz": pd.date_range("2020", periods=n, freq="h", tz="Europe/Paris"),
            "f4": np.arange(n, dtype="f4"),
            "cat": pd.Categorical(["x", "y"] * (n // 2)),
            "nullable": pd.array([1, None] * (n // 2), dtype="Int64"),
            "obj": [b"x"] * n,
            "flag": np.ones(n, bool),
            "td": pd.to_timedelta(np.arange(n), unit="s"),
        }
    )


FRAMES = {
    "wide": _wide(),
    "index": _wide().set_index("i8"),
    "multiindex": _wide().set_index(["i8", "s"]),
    "range columns": pd.DataFrame(np.zeros((3, 4))),
    "tuple columns": pd.DataFrame({("a", 1): [1, 2], ("b", 2): [3, 4]}),
    "empty": pd.DataFrame(),
    "no rows": pd.DataFrame({"x": pd.Series([], dtype=float)}),
    "named range index": pd.DataFrame({"a": [1.0]}, index=pd.RangeIndex(5, 6, name="r")),
    "mixed labels": pd.DataFrame({1: [1], 2.5: [2], None: [3], "s": [4]}),
    "duplicate labels": pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "nan label": pd.DataFrame({float("nan"): [1.0]}),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_roundtrip_is_exact(name: str) -> None:
    df = FRAMES[name]
    out = FRAME.loads(memoryview(_bytes(df)))
    pd.testing.assert_frame_equal(out, df, check_exact=True)
    assert type(out.index) is type(df.index)
    assert type(out.columns) is type(df.columns)


def test_numeric_blocks_are_views_of_the_loaded_bytes_and_writable() -> None:
    df = pd.DataFrame(np.random.default_rng(0).random((10_000, 10)), columns=list("abcdefghij"))
    data = _bytes(df)
    out = FRAME.loads(memoryview(data))
    backing = np.frombuffer(data, np.uint8)
    assert all(np.shares_memory(out[c].to_numpy(), backing) for c in out.columns)
    out.iloc[0, 0] = -1.0
    assert out.iloc[0, 0] == -1.0


def test_large_blocks_are_aligned_for_parallel_hashing() -> None:
    df = pd.DataFrame(np.ones((200_000, 3)))
    frames = FRAME.dump_frames(df)
    assert memoryview(frames[0]).nbytes % 1024 == 0


def test_attrs_travel_as_json() -> None:
    df = pd.DataFrame({"a": [1, 2]})
    df.attrs = {"source": "sensor", "n": 2}
    assert FRAME.loads(memoryview(_bytes(df))).attrs == {"source": "sensor", "n": 2}


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: pd.DataFrame({pd.Timestamp("2020-01-01"): [1]}), "label"),
        (lambda: _with_attrs({"when": pd.Timestamp("2020")}), "attrs"),
        (lambda: pd.DataFrame({"a": [1]}).set_flags(allows_duplicate_labels=False), "duplicate"),
        (lambda: type("Sub", (pd.DataFrame,), {})({"a": [1]}), "plain pandas"),
        (lambda: pd.DataFrame({"mixed": [1, "a", 2.5]}), "Arrow"),
    ],
)
def test_what_it_cannot_keep_is_refused(make: Any, why: str) -> None:
    with pytest.raises(SerializationError, match=why):
        FRAME.dump_frames(make())


def _with_attrs(attrs: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame({"a": [1]})
    df.attrs = attrs
    return df


def _rewrite_header(data: bytearray, change: Any) -> bytearray:
    """The same payload with its JSON header changed (small frames: 64-byte alignment)."""
    length = struct.unpack_from("<I", data, 8)[0]
    header = json.loads(bytes(data[12 : 12 + length]))
    base = 12 + length + (-(12 + length) % 64)
    change(header)
    text = json.dumps(header).encode()
    head = MAGIC + struct.pack("<I", len(text)) + text
    return bytearray(head + b" " * (-len(head) % 64) + data[base:])


def _set(key: str, value: Any) -> Any:
    def change(header: dict[str, Any]) -> None:
        block = header["blocks"][0]
        block[key] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        _set("offset", 10**9),
        _set("nbytes", 10**9),
        _set("dtype", "O"),
        _set("dtype", "|V8"),
        _set("shape", [1, 10**6]),
        _set("placement", [0, 0]),
        _set("kind", "pickle"),
        lambda h: h.update(rows=-1),
        lambda h: h.update(columns={"kind": "labels", "labels": [["x", 1]], "names": []}),
        lambda h: h.update(index={"kind": "range", "start": 0, "stop": 9, "step": 0}),
    ],
)
def test_hostile_headers_are_refused(change: Any) -> None:
    data = _bytes(pd.DataFrame({"a": np.arange(4.0), "b": np.arange(4.0)}))
    with pytest.raises(DeserializationError):
        FRAME.loads(memoryview(_rewrite_header(data, change)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"PKFRAME1",
        MAGIC + struct.pack("<I", 10**8),
        b"NOTFRAME" + bytes(8),
        MAGIC + b"\0\0\0\0",
    ],
)
def test_truncated_or_foreign_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(DeserializationError):
        FRAME.loads(memoryview(data))


def test_store_put_keeps_parquet_and_hand_overs_use_frame(tmp_path: Any) -> None:
    store = pk.open_store(tmp_path / "store")
    df = _wide()
    assert store.put(df).serializer == "parquet"
    with handing_over():
        ref = store.put(df)
    assert ref.serializer == "frame"
    assert ref.type == "pandas.DataFrame"
    pd.testing.assert_frame_equal(store.get(ref), df)
    assert not registry.get("frame").runs_code_on_load


def test_hand_over_falls_back_when_frame_refuses() -> None:
    with handing_over(), pytest.warns(SerializerFallbackWarning, match="pickle"):
        encoded = encode(pd.DataFrame({"mixed": [1, "a", 2.5]}))
    assert encoded.serializer.name == "pickle"
    encoded.release()


def test_a_configured_choice_beats_the_hand_over_default() -> None:
    pk.configure(serializers={pd.DataFrame: "arrow"})
    try:
        with handing_over():
            assert [s.name for s, _ in candidates(pd.DataFrame())] == ["arrow"]
    finally:
        pk.configure(serializers={})


def test_work_state_hands_dataframes_over_as_frame(tmp_path: Any) -> None:
    class Make(pk.Work):
        def __init__(self) -> None:
            super().__init__()
            self.df: Any = None

        def run(self) -> None:
            self.df = pk.Payload(pd.DataFrame({"a": np.arange(3.0)}))

    class Root(pk.Flow):
        def __init__(self) -> None:
            super().__init__()
            self.make = Make()

        def run(self) -> None:
            self.make.run()

    app = pk.App(Root(), storage=tmp_path / "store", executor="inline")
    app.run()
    ref = app.root.make.df.ref
    assert ref.serializer == "frame"
    pd.testing.assert_frame_equal(app.root.make.df.value, pd.DataFrame({"a": np.arange(3.0)}))
