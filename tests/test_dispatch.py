"""Choosing a serializer: explicit, per-type configuration, registry by MRO, pickle, cloudpickle."""

from __future__ import annotations

import decimal
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

import payloadkit as pk
from payloadkit.errors import ConfigurationError, SerializationError, UnknownSerializerError


class DecimalText(pk.Serializer):
    name = "decimal-text"
    version = "1"
    types = (decimal.Decimal,)

    def dumps(self, obj: Any) -> bytes:
        return str(obj).encode()

    def loads(self, data: memoryview) -> Any:
        return decimal.Decimal(bytes(data).decode())


@pytest.fixture
def decimal_text() -> pk.Serializer:
    return pk.register_serializer(DecimalText(), clobber=True)


def test_defaults_by_type(memory_store: pk.Store) -> None:
    """DataFrames go to parquet, arrays to numpy, anything else to pickle."""
    assert memory_store.put(pd.DataFrame({"a": [1]})).serializer == "parquet"
    assert memory_store.put(np.zeros(3)).serializer == "numpy"
    assert memory_store.put({"a": 1}).serializer == "pickle"


def test_the_minimal_plugin_example_works(
    decimal_text: pk.Serializer, memory_store: pk.Store
) -> None:
    """The contract's minimal serializer is chosen by type and round-trips."""
    ref = memory_store.put(decimal.Decimal("2.50"))
    assert ref.serializer == "decimal-text"
    assert memory_store.get(ref) == decimal.Decimal("2.50")


def test_explicit_argument_wins(memory_store: pk.Store) -> None:
    """serializer= beats every default."""
    assert memory_store.put(pd.DataFrame({"a": [1]}), serializer="pickle").serializer == "pickle"


def test_user_choice_by_type_and_dotted_name(memory_store: pk.Store) -> None:
    """configure(serializers=...) accepts types and dotted names, and beats the registry."""
    pk.configure(serializers={pd.DataFrame: "arrow"})
    assert memory_store.put(pd.DataFrame({"a": [1]})).serializer == "arrow"
    pk.configure(serializers={"numpy.ndarray": "pickle"})
    assert memory_store.put(np.zeros(2)).serializer == "pickle"


def test_most_specific_class_in_the_mro(memory_store: pk.Store) -> None:
    """A user choice for a subclass beats the registry's choice for its base class."""

    class Frame(pd.DataFrame):
        pass

    pk.configure(serializers={Frame: "cloudpickle", "builtins.dict": "json"})
    assert pk.explain(Frame({"a": [1]})).serializer == "cloudpickle"
    assert pk.explain(pd.DataFrame({"a": [1]})).serializer == "parquet"
    assert memory_store.put({"a": 1}).serializer == "json"


def test_default_that_refuses_falls_back_to_pickle(memory_store: pk.Store) -> None:
    """A masked array is not plain .npy material: it goes to pickle and keeps its mask."""
    masked = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    ref = memory_store.put(masked)
    assert ref.serializer == "pickle"
    assert memory_store.get(ref).mask.tolist() == [False, True, False]


def test_cloudpickle_for_what_pickle_refuses(memory_store: pk.Store) -> None:
    """Lambdas and local functions go to cloudpickle, and explain says why."""
    offset = 3
    ref = memory_store.put(lambda x: x + offset)
    assert ref.serializer == "cloudpickle"
    assert memory_store.get(ref)(1) == 4
    explanation = pk.explain(lambda: None)
    assert explanation.serializer == "cloudpickle"
    assert explanation.tried[0][0] == "pickle"
    assert "cloudpickle" in str(explanation)


def test_unserializable_object_names_its_type_and_attempts(memory_store: pk.Store) -> None:
    """A lock cannot be stored; the error names the type and each serializer tried."""
    with pytest.raises(SerializationError) as info:
        memory_store.put(threading.Lock())
    message = str(info.value)
    assert "_thread.lock" in message
    assert "pickle:" in message
    assert "cloudpickle:" in message
    assert "serializer=" in message


def test_generator_cannot_be_stored(memory_store: pk.Store) -> None:
    """A generator raises SerializationError naming its type."""
    with pytest.raises(SerializationError, match="generator"):
        memory_store.put(x for x in range(3))


def test_unknown_serializer_lists_the_available_ones(memory_store: pk.Store) -> None:
    """An unknown name lists what is available and says plugins may add more."""
    with pytest.raises(UnknownSerializerError) as info:
        memory_store.put(1, serializer="yaml")
    message = str(info.value)
    assert "'yaml'" in message
    assert "parquet" in message
    assert "Plugins" in message


def test_explicit_choice_does_not_fall_back(memory_store: pk.Store) -> None:
    """json asked for explicitly fails on a set instead of silently pickling it."""
    with pytest.raises(SerializationError, match="json"):
        memory_store.put({1, 2}, serializer="json")


def test_registering_a_taken_name_needs_clobber() -> None:
    """Registering a second serializer under a taken name is refused."""

    class Impostor(pk.Serializer):
        name = "pickle"

    with pytest.raises(ConfigurationError, match="already registered"):
        pk.register_serializer(Impostor())


def test_serializers_lists_builtins_with_origin() -> None:
    """serializers() lists every built-in with its origin and status."""
    infos = {info.name: info for info in pk.serializers()}
    for name in ("pickle", "cloudpickle", "dill", "parquet", "arrow", "numpy", "json"):
        assert infos[name].origin == "builtin"
        assert infos[name].status == "ok"
    assert infos["pickle"].runs_code_on_load
    assert not infos["parquet"].runs_code_on_load
    assert "pandas.DataFrame" in infos["parquet"].types


def test_bad_per_type_key_is_refused() -> None:
    """A per-type key that is neither a class nor a dotted name is refused."""
    with pytest.raises(ConfigurationError):
        pk.configure(serializers={"DataFrame": "pickle"})
