"""``L.storage.Payload``: payloadkit's Payload with Lightning's names and hooks.

On top of `payloadkit.Payload` it has Lightning's ``name`` (the attribute holding
it), ``hash`` (the content digest), ``exists_remote()`` and ``get()``. A subclass that
overrides Lightning's ``save(obj, path)`` / ``load(path)`` is honoured: the file its
``save`` writes is what goes to the store (content-addressed and verified like any
payload), and its ``load`` reads the object back wherever the payload arrives.
"""

from __future__ import annotations

import base64
import pickle
import tempfile
from pathlib import Path as _FsPath
from typing import Any

import cloudpickle

from payloadkit._payload import Payload as _Payload
from payloadkit._ref import PayloadRef
from payloadkit.app._state import LIGHTNING_PAYLOAD
from payloadkit.app._travel import dumps
from payloadkit.stores import Store
from payloadkit.stores._opened import default_store, store_for_url

__all__ = ["Payload", "payload_from_state"]


class Payload(_Payload):
    """A Lightning Payload: ``L.storage.Payload(obj)``; ``.value`` is the object.

    ```python
    import payloadkit.lightning as L

    p = L.storage.Payload({"a": 1})
    assert p.value == {"a": 1}
    assert p.exists_remote() is False     # nothing saved yet
    ```
    """

    def __init__(self, value: Any, serializer: Any = None) -> None:
        super().__init__(value, serializer)
        self._name = ""
        self._origin = ""

    @property
    def name(self) -> str:
        """The name of the Work attribute that holds the payload ('' until assigned)."""
        return getattr(self, "_name", "")

    @property
    def hash(self) -> str:
        """The content digest of the stored object (saving it to the current store first)."""
        return self._pk_save(_current_store()).digest

    def exists_remote(self) -> bool:
        """True when the payload is saved in a store that holds it."""
        ref = self.ref
        return ref is not None and _store_of(ref).exists(ref)

    def get(self) -> Any:
        """The object, loaded from the store if it is not in memory yet."""
        return self.value

    def save(self, obj: Any, path: str) -> None:  # type: ignore[override] # Lightning's hook
        """Lightning's hook: write ``obj`` to the file ``path`` (pickle unless overridden)."""
        with open(path, "wb") as handle:
            pickle.dump(obj, handle)

    def load(self, path: str) -> Any:
        """Lightning's hook: read the object from the file ``path`` (pickle unless overridden)."""
        with open(path, "rb") as handle:
            return pickle.load(handle)

    @property
    def value(self) -> Any:
        """The object; a file-based subclass reads it back with its ``load``."""
        if not self._loaded and _uses_files(type(self)):
            with self._lock:
                if not self._loaded:
                    assert self._ref is not None
                    data = _store_of(self._ref).get(self._ref)
                    self._value = _through_file(self, data)
                    self._loaded = True
        return super().value

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the reference, saving first; it names the Lightning class."""
        return self._pk_state(_current_store())

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (payload_from_state, (self._pk_state(_current_store()),))

    def _pk_attach(self, name: str, origin: str) -> None:
        self._name, self._origin = name, origin

    def _pk_save(self, store: Store) -> PayloadRef:
        with self._lock:
            if self._ref is not None and self._ref.store == store.url:
                return self._ref
        if _uses_files(type(self)):
            with tempfile.TemporaryDirectory(prefix="payloadkit-payload-") as folder:
                path = str(_FsPath(folder, self.name or "payload"))
                self.save(self.value, path)
                ref = store.put(_FsPath(path).read_bytes(), serializer="pickle")
        else:
            ref = store.put(self.value, self._serializer)
        with self._lock:
            self._ref = ref
        return ref

    def _pk_state(self, store: Store) -> dict[str, Any]:
        ref = self._pk_save(store)
        return {
            "kind": "payloadkit.Payload",
            "ref": ref.to_dict(),
            LIGHTNING_PAYLOAD: {"name": self.name, "origin": getattr(self, "_origin", "")}
            | {"class": _class_token(type(self))},
        }


def payload_from_state(data: dict[str, Any]) -> Payload:
    """The lazy Lightning Payload that `Payload._pk_state` described."""
    extra = data.get(LIGHTNING_PAYLOAD) or {}
    token = extra.get("class")
    cls: type[Payload] = cloudpickle.loads(base64.b64decode(token)) if token else Payload
    payload = cls.from_ref(PayloadRef.from_dict(data["ref"]))
    assert isinstance(payload, Payload)
    payload._name = str(extra.get("name", ""))
    payload._origin = str(extra.get("origin", ""))
    return payload


def _uses_files(cls: type[Payload]) -> bool:
    return cls.save is not Payload.save or cls.load is not Payload.load


def _through_file(payload: Payload, data: bytes) -> Any:
    with tempfile.TemporaryDirectory(prefix="payloadkit-payload-") as folder:
        path = _FsPath(folder, payload.name or "payload")
        path.write_bytes(bytes(data))
        return payload.load(str(path))


def _class_token(cls: type) -> str | None:
    return None if cls is Payload else base64.b64encode(dumps(cls)).decode()


def _store_of(ref: PayloadRef) -> Store:
    return store_for_url(ref.store) if ref.store is not None else default_store()


def _current_store() -> Store:
    """The App's store where a Work runs (a worker is configured for it), else the default."""
    from payloadkit.app._runtime import active_runtime

    runtime = active_runtime()
    return runtime.store if runtime is not None else default_store()
