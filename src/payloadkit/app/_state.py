"""A Work's state and a run's arguments as JSON, with Payloads in their dict form.

State is a Work's public attributes whose values are JSON values (None, bool, int, float,
str, lists and str-keyed dicts of them) or Payloads, nested freely. Payloads travel as
``{"kind": "payloadkit.Payload", "ref": {...}}``: saving them writes their bytes to the
App's store, and reading them back builds lazy Payloads, so a process that only passes
state along never reads payload bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import sys
import threading
from collections.abc import Collection, Iterator
from typing import Any

import cloudpickle

from payloadkit._encode import handing_over
from payloadkit._payload import Payload
from payloadkit.app._travel import dumps
from payloadkit.errors import PayloadkitError, WorkError
from payloadkit.stores import Store

__all__ = [
    "NOT_STATE",
    "EncodedArgs",
    "Uncarriable",
    "apply_state",
    "call_key",
    "carriable",
    "decode_args",
    "decode_value",
    "digests_in",
    "encode_args",
    "encode_value",
    "state_of",
    "takes_files",
    "taking_files",
    "work_state",
]


class _NotState:
    """Marks a value that is neither a JSON value nor a Payload."""

    def __repr__(self) -> str:
        return "NOT_STATE"


NOT_STATE: Any = _NotState()

#: ("json", value) or ("pickle", cloudpickle bytes) per positional and keyword argument.
EncodedArgs = tuple[list[tuple[str, Any]], dict[str, tuple[str, Any]]]


class Uncarriable(ValueError):
    """A JSON-looking value that JSON cannot carry; ``where`` is its place inside the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.where: list[str] = []

    def inside(self, attribute: str) -> str:
        """``attribute`` followed by the place of the value in it: ``frames[2]['n']``."""
        return attribute + "".join(self.where)


#: State kinds beyond JSON and Payloads, by their ``kind`` marker: where their decoder lives.
#: An object of such a kind encodes itself through a ``_pk_state(store)`` method.
_KINDS = {
    "payloadkit.lightning.Path": "payloadkit.lightning._path:path_from_state",
    "payloadkit.lightning.Drive": "payloadkit.lightning._drive:drive_from_state",
}
#: The key of a Payload's dict form naming the Lightning Payload class that made it.
LIGHTNING_PAYLOAD = "lightning"


_where = threading.local()


@contextlib.contextmanager
def taking_files() -> Iterator[None]:
    """Within: state taken where the Work ran, so file-backed state reads its files again."""
    before = getattr(_where, "files", False)
    _where.files = True
    try:
        yield
    finally:
        _where.files = before


def takes_files() -> bool:
    """True inside `taking_files` (in this thread)."""
    return bool(getattr(_where, "files", False))


def carriable(value: Any) -> bool:
    """True when ``value`` can be state: JSON values, Payloads and state kinds, nested."""
    if value is None or isinstance(value, bool | int | float | str | Payload):
        return True
    if hasattr(value, "_pk_state"):
        return True
    if isinstance(value, list | tuple):
        return all(carriable(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and carriable(item) for key, item in value.items())
    return False


def encode_value(value: Any, store: Store) -> Any:
    """``value`` as JSON with Payloads saved to ``store`` in dict form, else NOT_STATE.

    Raises `Uncarriable` for an int too long to become text, wherever it is nested.
    """
    if value is None or isinstance(value, bool | float | str):
        return value
    if isinstance(value, int):
        return _carriable_int(value)
    hook = getattr(value, "_pk_state", None)
    if hook is not None and not isinstance(value, type):
        with handing_over():
            return hook(store)
    if isinstance(value, Payload):
        with handing_over():
            return {"kind": "payloadkit.Payload", "ref": value.save(store).to_dict()}
    if isinstance(value, list | tuple):
        items = [_encode_at(f"[{i}]", item, store) for i, item in enumerate(value)]
        return NOT_STATE if any(item is NOT_STATE for item in items) else items
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        encoded = {key: _encode_at(f"[{key!r}]", item, store) for key, item in value.items()}
        return NOT_STATE if any(item is NOT_STATE for item in encoded.values()) else encoded
    return NOT_STATE


def _encode_at(where: str, value: Any, store: Store) -> Any:
    try:
        return encode_value(value, store)
    except Uncarriable as exc:
        exc.where.insert(0, where)
        raise


def _carriable_int(value: int) -> int:
    """``value``, unless it has more digits than Python converts to text (JSON is text)."""
    limit = sys.get_int_max_str_digits()
    if limit and value.bit_length() > 3 * limit:  # 3 bits a digit: a cheap, safe lower bound
        try:
            int.__repr__(value)
        except ValueError:
            raise Uncarriable(
                f"an int of more than {limit} digits, past Python's limit for turning ints "
                "into text (sys.set_int_max_str_digits)"
            ) from None
    return value


def decode_value(data: Any) -> Any:
    """The value `encode_value` encoded, Payloads rebuilt lazily from their refs."""
    if Payload.is_dict_form(data):
        if LIGHTNING_PAYLOAD in data:
            return _decoder("payloadkit.lightning._payload:payload_from_state")(data)
        return Payload.from_dict(data)
    if isinstance(data, dict) and data.get("kind") in _KINDS:
        return _decoder(_KINDS[data["kind"]])(data)
    if isinstance(data, list):
        return [decode_value(item) for item in data]
    if isinstance(data, dict):
        return {key: decode_value(item) for key, item in data.items()}
    return data


def _decoder(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def state_of(obj: object, store: Store) -> dict[str, Any]:
    """The JSON state of ``obj``: its public attributes that are JSON values or Payloads."""
    state: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if name.startswith("_"):
            continue
        encoded = encode_value(value, store)
        if encoded is not NOT_STATE:
            state[name] = encoded
    return state


def work_state(name: str, work: object, store: Store) -> dict[str, Any]:
    """`state_of` for the Work ``name``; a WorkError naming the attribute it cannot carry."""
    state: dict[str, Any] = {}
    for attribute, value in vars(work).items():
        if attribute.startswith("_"):
            continue
        try:
            encoded = encode_value(value, store)
        except Uncarriable as exc:
            raise WorkError(
                f"Work {name} cannot carry its state attribute {exc.inside(attribute)}: it "
                f"holds {exc}. Keep such a value in a Payload (pk.Payload(value)) or a "
                f"private attribute (self._{attribute}).",
                work=name,
            ) from None
        except PayloadkitError as exc:
            raise WorkError(
                f"Work {name} could not save the payload in its state attribute {attribute}: {exc}",
                work=name,
            ) from exc
        if encoded is not NOT_STATE:
            state[attribute] = encoded
    return state


def apply_state(
    obj: object, state: dict[str, Any], previous: Collection[str] | None = None
) -> None:
    """Set ``obj``'s attributes from JSON ``state``; names in ``previous`` now gone are deleted.

    A Payload attribute that already names the same digest is kept, with what it has loaded.
    """
    attributes = vars(obj)
    for name, data in state.items():
        current = attributes.get(name)
        if (
            isinstance(current, Payload)
            and Payload.is_dict_form(data)
            and current.ref is not None
            and current.ref.digest == data["ref"]["digest"]
        ):
            continue
        attributes[name] = decode_value(data)
    for name in set(previous or ()) - set(state):
        attributes.pop(name, None)


def digests_in(data: Any) -> set[str]:
    """Every payload digest referenced in a JSON structure."""
    if Payload.is_dict_form(data):
        ref = data["ref"]
        digest = ref.get("digest") if isinstance(ref, dict) else None
        return {digest} if isinstance(digest, str) else set()
    if isinstance(data, list):
        return set().union(*(digests_in(item) for item in data)) if data else set()
    if isinstance(data, dict):
        return set().union(*(digests_in(item) for item in data.values())) if data else set()
    return set()


def _encode_arg(value: Any, store: Store) -> tuple[str, Any]:
    encoded = encode_value(value, store)
    if encoded is not NOT_STATE:
        return ("json", encoded)
    # Anything else goes by value; Payloads inside it pickle as their refs.
    return ("pickle", dumps(value))


def encode_args(args: tuple[Any, ...], kwargs: dict[str, Any], store: Store) -> EncodedArgs:
    """A run's arguments, ready to travel: JSON with payload dict forms, or pickled."""
    return (
        [_encode_arg(value, store) for value in args],
        {name: _encode_arg(value, store) for name, value in kwargs.items()},
    )


def decode_args(encoded: EncodedArgs) -> tuple[list[Any], dict[str, Any]]:
    """The arguments `encode_args` encoded; payloads are fresh lazy copies."""
    positional, named = encoded
    return (
        [_decode_arg(item) for item in positional],
        {name: _decode_arg(item) for name, item in named.items()},
    )


def _decode_arg(item: tuple[str, Any]) -> Any:
    kind, data = item
    return decode_value(data) if kind == "json" else cloudpickle.loads(data)


def call_key(encoded: EncodedArgs) -> str:
    """A key equal for calls with equal arguments, payloads compared by digest only."""

    def canonical(item: tuple[str, Any]) -> Any:
        kind, data = item
        if kind == "json":
            return ["json", _by_digest(data)]
        return ["pickle", hashlib.sha256(data).hexdigest()]

    positional, named = encoded
    text = json.dumps(
        [[canonical(i) for i in positional], {k: canonical(v) for k, v in named.items()}],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _by_digest(data: Any) -> Any:
    if Payload.is_dict_form(data):
        return {"payload": data["ref"]["digest"]}
    if isinstance(data, list):
        return [_by_digest(item) for item in data]
    if isinstance(data, dict):
        return {key: _by_digest(item) for key, item in data.items()}
    return data
