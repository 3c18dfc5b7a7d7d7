"""Payload semantics: identity before saving, lazy loads, pickling as a reference, equality."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import payloadkit as pk
from payloadkit.errors import ConfigurationError, PayloadNotFoundError


def test_value_is_the_object_before_saving() -> None:
    """Before saving, value is the very object passed in and there is no ref."""
    obj = {"a": [1, 2]}
    p = pk.Payload(obj)
    assert p.value is obj
    assert p.ref is None


def test_save_writes_to_the_configured_store(tmp_path: object) -> None:
    """save() with no argument writes to .payloadkit/ in the working directory."""
    ref = pk.Payload([1, 2, 3]).save()
    assert ref.store is not None
    assert ref.store.endswith(".payloadkit")
    assert pk.open_store(ref.store).get(ref) == [1, 2, 3]


def test_save_is_idempotent(memory_store: pk.Store) -> None:
    """Saving twice to the same store returns the same ref."""
    p = pk.Payload({"x": 1})
    assert p.save(memory_store) == p.save(memory_store)
    assert p.ref is not None


def test_from_ref_is_lazy(local_store: pk.Store) -> None:
    """from_ref reads nothing: a deleted payload fails only when value is read."""
    ref = local_store.put("lazy")
    q = pk.Payload.from_ref(ref)
    assert not q.is_loaded
    assert q.type_name == "builtins.str"
    local_store.delete(ref)
    with pytest.raises(PayloadNotFoundError):
        _ = q.value


def test_value_loads_once_and_caches(local_store: pk.Store) -> None:
    """After the first read, value no longer touches the store."""
    ref = local_store.put({"cached": True})
    q = pk.Payload.from_ref(ref)
    first = q.value
    local_store.delete(ref)
    assert q.value is first


def test_pickled_payload_travels_as_its_ref(local_store: pk.Store) -> None:
    """Pickling saves first and carries only the reference, not the array's bytes."""
    pk.configure(storage=local_store.url)
    array = np.arange(1_000_000, dtype=np.float64)
    p = pk.Payload(array)
    data = pickle.dumps(p)
    assert len(data) < 2_000
    q = pickle.loads(data)
    assert not q.is_loaded
    np.testing.assert_array_equal(q.value, array)
    assert q.value is not array


def test_dict_form_is_json_and_roundtrips(memory_store: pk.Store) -> None:
    """to_dict is JSON-serializable and from_dict gives an equal, lazy Payload."""
    p = pk.Payload({"k": "v"})
    p.save(memory_store)
    d = json.loads(json.dumps(p.to_dict()))
    assert pk.Payload.is_dict_form(d)
    q = pk.Payload.from_dict(d)
    assert q == p
    assert q.value == {"k": "v"}


def test_equality_and_hash_follow_the_digest(memory_store: pk.Store) -> None:
    """Two saved payloads of equal content are equal and hash alike; unsaved ones by identity."""
    a, b = pk.Payload([1, 2]), pk.Payload([1, 2])
    assert a != b
    a.save(memory_store)
    b.save(memory_store)
    assert a == b
    assert hash(a) == hash(b)
    assert a != pk.Payload.from_ref(pk.Payload([3]).save(memory_store))


def test_explicit_serializer_is_recorded(memory_store: pk.Store) -> None:
    """Payload(obj, serializer=...) uses and records that serializer."""
    ref = pk.Payload({"j": 1}, serializer="json").save(memory_store)
    assert ref.serializer == "json"


def test_payload_cannot_wrap_a_payload() -> None:
    """Wrapping a Payload in a Payload is refused with a clear error."""
    with pytest.raises(ConfigurationError):
        pk.Payload(pk.Payload(1))


def test_from_dict_refuses_other_dicts() -> None:
    """from_dict refuses a dict that is not a Payload's dict form."""
    with pytest.raises(ConfigurationError):
        pk.Payload.from_dict({"digest": "x"})


def test_repr_names_type_and_state(memory_store: pk.Store) -> None:
    """The repr shows the type and whether it is saved, never the value."""
    p = pk.Payload({"secret-value": 1})
    assert "not saved" in repr(p)
    p.save(memory_store)
    assert "builtins.dict" in repr(p)
    assert "secret-value" not in repr(p)


def test_ref_json_roundtrip_is_exact(memory_store: pk.Store) -> None:
    """A PayloadRef survives JSON exactly."""
    ref = memory_store.put(3.5)
    assert pk.PayloadRef.from_json(ref.to_json()) == ref
    assert pk.PayloadRef.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


def test_ref_is_immutable(memory_store: pk.Store) -> None:
    """Assigning to a ref's field fails."""
    ref = memory_store.put(1)
    with pytest.raises(AttributeError):
        ref.size = 3  # type: ignore[misc]


def test_ref_validates_its_fields() -> None:
    """A ref with a malformed digest or unknown fields is refused."""
    with pytest.raises(ConfigurationError):
        pk.PayloadRef("nope", "pickle", "1", 1, "builtins.int")
    with pytest.raises(ConfigurationError):
        pk.PayloadRef.from_dict({"digest": "blake3:" + "0" * 64, "extra": 1})


def test_dill_loads_leave_imported_modules_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_store: pk.Store
) -> None:
    """A dill payload referring to an imported module binds it by name, never overwrites it."""
    pytest.importorskip("dill")
    (tmp_path / "pk_dill_probe.py").write_text("STATE = ['original']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import pk_dill_probe  # type: ignore[import-not-found]

    namespace = {"__name__": "pk_not_importable", "probe": pk_dill_probe}
    exec("def read():\n    return probe.STATE\n", namespace)
    ref = local_store.put(namespace["read"], serializer="dill")
    state, lock = pk_dill_probe.STATE, pk._config._lock
    loaded = local_store.get(ref)
    assert loaded() is state
    assert pk_dill_probe.STATE is state
    assert pk._config._lock is lock
    monkeypatch.delitem(sys.modules, "pk_dill_probe")
