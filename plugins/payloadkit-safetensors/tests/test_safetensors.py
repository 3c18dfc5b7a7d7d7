"""The safetensors plugin: conformance, validation, no code on load, torch where installed."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

import payloadkit as pk
from payloadkit.errors import SerializationError, SignatureError
from payloadkit.testing import SerializerTests
from payloadkit_safetensors import SafetensorsSerializer, TensorDict

INSTALLED = any(
    ep.value == "payloadkit_safetensors:SafetensorsSerializer"
    for ep in importlib.metadata.entry_points(group="payloadkit.serializers", name="safetensors")
)
needs_install = pytest.mark.skipif(
    not INSTALLED,
    reason="payloadkit-safetensors is not installed (run `tox -e plugin-safetensors`)",
)
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed; the torch path is optional",
)


def _weights() -> dict[str, np.ndarray]:
    return {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "transposed": np.arange(6.0).reshape(2, 3).T,
        "scalar": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 5), dtype=np.float16),
        "mask": np.array([True, False]),
        "big": np.arange(300_000, dtype=np.uint8),
    }


class TestSafetensorsSerializer(SerializerTests):
    """The plugin passes the conformance suite every serializer passes."""

    @pytest.fixture
    def serializer(self) -> pk.Serializer:
        return SafetensorsSerializer()

    @pytest.fixture
    def samples(self) -> list[Any]:
        return [_weights(), TensorDict(a=np.ones(3)), {}]

    def assert_same(self, expected: Any, actual: Any) -> None:
        assert type(actual) is type(expected)
        assert list(actual) == list(expected)
        for key, array in expected.items():
            assert type(actual[key]) is np.ndarray
            assert actual[key].dtype == array.dtype
            np.testing.assert_array_equal(actual[key], array)


@pytest.fixture
def store(tmp_path: Path) -> pk.Store:
    """A fresh local store."""
    return pk.open_store(tmp_path / "store")


def test_plain_dicts_are_not_claimed(store: pk.Store) -> None:
    """A plain dict still goes to pickle unless safetensors is chosen by name or configuration."""
    weights = _weights()
    assert store.put(weights).serializer == "pickle"
    assert store.put(weights, serializer="safetensors").serializer == "safetensors"
    pk.configure(serializers={dict: "safetensors"})
    assert store.put({"x": np.ones(2)}).serializer == "safetensors"


def test_tensor_dict_is_chosen_by_type(store: pk.Store) -> None:
    """A TensorDict goes to safetensors by default and loads as a TensorDict."""
    ref = store.put(TensorDict(a=np.ones(2)))
    assert ref.serializer == "safetensors"
    loaded = store.get(ref)
    assert type(loaded) is TensorDict


def test_loaded_arrays_are_writable_copies(store: pk.Store) -> None:
    """Loaded arrays are C-contiguous, writable and independent of the store."""
    ref = store.put({"a": np.arange(4.0)}, serializer="safetensors")
    loaded = store.get(ref)
    assert loaded["a"].flags.writeable
    assert loaded["a"].flags.c_contiguous
    loaded["a"][0] = 99
    assert store.get(ref)["a"][0] == 0


def test_big_endian_arrays_load_in_native_order() -> None:
    """Arrays of another byte order load with the same values in native byte order."""
    serializer = SafetensorsSerializer()
    data = serializer.dumps({"be": np.arange(3, dtype=">i4")})
    loaded = serializer.loads(memoryview(data))["be"]
    assert loaded.dtype == np.dtype("int32")
    np.testing.assert_array_equal(loaded, [0, 1, 2])


def test_stored_object_is_a_plain_safetensors_file(store: pk.Store) -> None:
    """The stored object is a .safetensors file that the safetensors library reads directly."""
    weights = _weights()
    ref = store.put(weights, serializer="safetensors")
    path = os.path.join(store.root, *store.info(ref).object_key.split("/"))  # type: ignore[attr-defined]
    assert path.endswith(".safetensors")
    loaded = load_file(path)
    np.testing.assert_array_equal(loaded["transposed"], weights["transposed"])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([np.ones(2)], "dicts of arrays, not list"),
        ({1: np.ones(2)}, "keys must be str; got int"),
        ({"a": [1, 2]}, "the value of 'a' is a builtins.list"),
        ({"a": np.ma.masked_array([1, 2])}, "MaskedArray"),
        ({"a": np.array(["text"])}, "cannot store this dict"),
        ({"a": np.array([object()])}, "cannot store this dict"),
        ({"__metadata__": np.ones(1)}, "reserved"),
    ],
)
def test_invalid_input_is_a_serialization_error(bad: Any, message: str) -> None:
    """Non-dicts, non-str keys and values that are not numeric arrays raise SerializationError."""
    with pytest.raises(SerializationError, match=message):
        SafetensorsSerializer().dumps(bad)


def test_invalid_input_through_a_store(store: pk.Store) -> None:
    """Chosen by name, a dict that is not all arrays fails to save and nothing is stored."""
    with pytest.raises(SerializationError, match="safetensors"):
        store.put({"a": "not an array"}, serializer="safetensors")
    assert list(store) == []


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 7, (10**9).to_bytes(8, "little") + b"{}", (4).to_bytes(8, "little") + b"nope"],
)
def test_malformed_bytes_are_refused(data: bytes) -> None:
    """Truncated or inconsistent headers raise instead of producing an object."""
    with pytest.raises(ValueError):  # noqa: PT011 - json and the header check raise ValueError
        SafetensorsSerializer().loads(memoryview(data))


def test_loads_without_a_signature_where_pickles_are_refused(store: pk.Store) -> None:
    """With a signing key, an unsigned safetensors payload loads; an unsigned pickle does not."""
    weights_ref = store.put({"a": np.ones(2)}, serializer="safetensors")
    pickle_ref = store.put({"a": 1})
    pk.configure(secret="a-signing-key-for-tests", trusted_serializers=["safetensors", "pickle"])
    assert store.get(weights_ref)["a"].tolist() == [1.0, 1.0]
    with pytest.raises(SignatureError):
        store.get(pickle_ref)


def test_load_policy_without_pickles(store: pk.Store) -> None:
    """A store whose load policy trusts only safetensors loads these payloads."""
    ref = store.put({"a": np.ones(2)}, serializer="safetensors")
    strict = pk.open_store(store.url, trusted_serializers=["safetensors"])
    assert strict.get(ref)["a"].shape == (2,)


@needs_install
def test_installed_plugin_is_discovered() -> None:
    """Installed, the plugin is listed as a plugin from its distribution, safe to load."""
    (info,) = [i for i in pk.serializers() if i.name == "safetensors"]
    assert (info.origin, info.distribution, info.status) == (
        "plugin",
        "payloadkit-safetensors",
        "ok",
    )
    assert info.runs_code_on_load is False


@needs_torch
def test_torch_tensors_roundtrip(store: pk.Store) -> None:
    """Where torch is installed, dicts of tensors round-trip as tensors."""
    import torch

    tensors = {"w": torch.arange(6.0).reshape(2, 3).T, "b": torch.zeros(2, dtype=torch.int16)}
    loaded = store.get(store.put(tensors, serializer="safetensors"))
    assert list(loaded) == ["w", "b"]
    assert all(isinstance(v, torch.Tensor) for v in loaded.values())
    assert torch.equal(loaded["w"], tensors["w"])


@needs_torch
def test_mixed_numpy_and_torch_is_refused() -> None:
    """A dict mixing numpy arrays and torch tensors is a SerializationError."""
    import torch

    with pytest.raises(SerializationError, match="not both"):
        SafetensorsSerializer().dumps({"a": np.ones(1), "b": torch.ones(1)})


@needs_install
def test_discovery_imports_no_array_library() -> None:
    """Listing serializers imports the plugin but neither safetensors, numpy nor torch."""
    import subprocess
    import sys

    code = (
        "import sys, payloadkit as pk; "
        "assert 'safetensors' in [i.name for i in pk.serializers() if i.status == 'ok']; "
        "assert 'payloadkit_safetensors' in sys.modules; "
        "print(sorted(m for m in ('safetensors', 'numpy', 'torch') if m in sys.modules))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
