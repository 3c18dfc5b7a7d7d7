"""Fuzzing the parsers of untrusted input: refs, manifests, container headers, serializers.

Random and mutated bytes must produce a value or a PayloadkitError, never another
exception. Each property runs a few hundred examples by default and 10,000 under the
``slow`` marker (``tox -e slow``). Pickle-family ``loads`` runs code by design, so those
serializers are fuzzed through the store: mutated stored bytes must fail the digest check.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import payloadkit as pk
from payloadkit import _container
from payloadkit._registry import registry
from payloadkit.errors import IntegrityError, PayloadkitError

EXAMPLES = [
    pytest.param(300, id="300"),
    pytest.param(10_000, id="10000", marks=pytest.mark.slow),
]
_COUNTS: dict[str, int] = {}


def _run(examples: int, strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> int:
    """Run ``check`` on ``examples`` values drawn from ``strategy``; how many ran."""
    ran = [0]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def prop(value: Any) -> None:
        ran[0] += 1
        check(value)

    prop()
    return ran[0]


def _safe(call: Callable[[], Any]) -> None:
    """Call; only PayloadkitError may escape (and is swallowed)."""
    with contextlib.suppress(PayloadkitError):
        call()


@st.composite
def _mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with a few flips, insertions, deletions or a truncation."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "digit"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
        elif op == "digit" and data:
            data[at] = ord(draw(st.sampled_from('0123456789-e.[]{}",:')))
    return bytes(data)


def _bytes_around(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=512), st.sampled_from(valid).flatmap(_mutated))


def _report(report_figure: Any, name: str, ran: int) -> None:
    _COUNTS[name] = ran
    report_figure(f"fuzz {name}: {ran} examples, 0 exceptions other than PayloadkitError")


# -- refs ---------------------------------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
_FIELDS = ["digest", "serializer", "serializer_version", "size", "type", "store"]


@pytest.mark.parametrize("examples", EXAMPLES)
def test_fuzz_refs(examples: int, report_figure: Any) -> None:
    """PayloadRef.from_dict/from_json on random dicts and mutated JSON raise only ConfigurationError."""
    valid = pk.PayloadRef("blake3:" + "ab" * 32, "json", "1", 10, "builtins.dict", "memory://x")
    dicts = st.dictionaries(
        st.sampled_from(_FIELDS) | st.text(max_size=8) | st.integers(), _json_values, max_size=8
    )
    partial = st.fixed_dictionaries(
        {}, optional={f: _json_values | st.just(getattr(valid, f)) for f in _FIELDS}
    )

    def check(value: Any) -> None:
        if isinstance(value, bytes):
            _safe(lambda: pk.PayloadRef.from_json(value))
            _safe(lambda: pk.PayloadRef.from_json(value.decode("utf-8", "replace")))
        else:
            _safe(lambda: pk.PayloadRef.from_dict(value))
            _safe(lambda: pk.Payload.from_dict({"kind": "payloadkit.Payload", "ref": value}))

    strategy = st.one_of(dicts, partial, _bytes_around([valid.to_json().encode()]))
    _report(report_figure, "refs", _run(examples, strategy, check))


# -- manifests ----------------------------------------------------------------------
def _valid_manifests() -> list[bytes]:
    store: Any = pk.open_store(f"memory://fuzz-{uuid.uuid4().hex}")
    pk.configure(secret="fuzzing-key-0123456789abcdef")
    refs = [store.put({"a": 1}, serializer="json"), store.put([1, 2], serializer="pickle")]
    return [store.info(ref).to_bytes() for ref in refs]


@pytest.mark.parametrize("examples", EXAMPLES)
def test_fuzz_manifests(examples: int, report_figure: Any) -> None:
    """Manifest.parse on random, mutated and deeply nested bytes raises only IntegrityError."""
    valid = _valid_manifests()
    digest = json.loads(valid[0])["digest"]
    structured = st.fixed_dictionaries(
        {k: st.just(v) for k, v in json.loads(valid[1]).items()},
    ).flatmap(
        lambda base: st.dictionaries(st.sampled_from(sorted(base)), _json_values, max_size=3).map(
            lambda changes: json.dumps({**base, **changes}).encode()
        )
    )
    nested = st.integers(1, 40_000).map(lambda n: b"[" * n + b"]" * n)

    def check(raw: bytes) -> None:
        for expected in (None, digest):
            try:
                manifest = pk.Manifest.parse(raw, "memory://fuzz", expected)
            except IntegrityError:
                continue
            manifest.to_bytes()
            _ = manifest.object_key, manifest.signed_fields, manifest.created_at

    strategy = st.one_of(_bytes_around(valid), structured, nested)
    _report(report_figure, "manifests", _run(examples, strategy, check))


# -- container headers ----------------------------------------------------------------
def _valid_containers() -> list[bytes]:
    pieces = _container.pack([b"stream", b"x" * 100, b""], {"protocol": 5, "python": "3.11.0"})
    return [b"".join(bytes(p) for p in pieces)]


@pytest.mark.parametrize("examples", EXAMPLES)
def test_fuzz_container_headers(examples: int, report_figure: Any) -> None:
    """_container.unpack on random and mutated containers raises only IntegrityError."""
    valid = _valid_containers()
    headers = st.builds(
        lambda length, body: _container.MAGIC + length.to_bytes(4, "little") + body,
        st.integers(0, 2**32 - 1),
        st.binary(max_size=64) | _json_values.map(lambda v: json.dumps(v).encode()),
    )

    def check(raw: bytes) -> None:
        try:
            _header, frames = _container.unpack(memoryview(raw))
        except IntegrityError:
            return
        assert frames
        assert sum(f.nbytes for f in frames) <= len(raw)

    strategy = st.one_of(_bytes_around(valid), headers)
    _report(report_figure, "container headers", _run(examples, strategy, check))


# -- serializers that run no code -----------------------------------------------------
def _samples(name: str) -> list[bytes]:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    serializer = registry.get(name)
    objects = {
        "json": [{"a": [1, 2.5, None, "é"]}, [], "x"],
        "numpy": [np.arange(12).reshape(3, 4), np.array(["ab", "c"]), np.zeros((2, 0))],
        "parquet": [pd.DataFrame({"x": [1, 2], "s": ["a", None]})],
        "arrow": [pd.DataFrame({"x": [1, 2], "s": ["a", "bcd"], "l": [[1], [2, 3]]})],
    }[name]
    return [b"".join(bytes(f) for f in serializer.dump_frames(obj)) for obj in objects]


NON_CODE = ["json", "numpy", "parquet", "arrow"]


@pytest.mark.parametrize("name", NON_CODE)
@pytest.mark.parametrize("examples", EXAMPLES)
def test_fuzz_non_code_serializers(name: str, examples: int, report_figure: Any) -> None:
    """loads/load of each non-code built-in on random and mutated bytes raises only PayloadkitError."""
    serializer = registry.get(name)
    assert not serializer.runs_code_on_load

    def check(raw: bytes) -> None:
        _safe(lambda: serializer.loads(memoryview(raw)))
        _safe(lambda: serializer.load(memoryview(bytearray(raw)), "pandas.DataFrame"))

    _report(report_figure, f"{name} loads", _run(examples, _bytes_around(_samples(name)), check))


# -- pickle family: through the store ---------------------------------------------------
@pytest.mark.parametrize("name", ["pickle", "cloudpickle", "dill"])
@pytest.mark.parametrize("examples", EXAMPLES)
def test_fuzz_pickle_family_through_store(name: str, examples: int, report_figure: Any) -> None:
    """Mutated stored bytes of pickle-family payloads fail the digest check: IntegrityError, nothing decoded."""
    pytest.importorskip("dill")
    store: Any = pk.open_store(f"memory://fuzz-{uuid.uuid4().hex}")
    refs = [
        store.put({"a": [1, 2, 3]}, serializer=name),
        store.put({"blob": bytearray(b"y" * 70_000)}, serializer=name),
    ]
    originals = {
        ref.digest: bytes(store.fs.cat_file(store.backend.path(store.info(ref).object_key)))
        for ref in refs
    }

    @st.composite
    def case(draw: st.DrawFn) -> tuple[Any, bytes]:
        ref = draw(st.sampled_from(refs))
        return ref, draw(_mutated(originals[ref.digest]))

    def check(value: tuple[Any, bytes]) -> None:
        ref, raw = value
        path = store.backend.path(store.info(ref).object_key)
        store.fs.pipe_file(path, raw)
        try:
            if raw == originals[ref.digest]:
                store.get(ref)
            else:
                with pytest.raises(IntegrityError):
                    store.get(ref)
        finally:
            store.fs.pipe_file(path, originals[ref.digest])

    _report(report_figure, f"{name} via store", _run(examples, case(), check))
