"""Payload: any Python object, made able to travel between units of work through a store."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from payloadkit._compression import DEFAULT, Default, check_choice
from payloadkit._layout import valid_tag_name
from payloadkit._ref import PayloadRef
from payloadkit._serializer import Serializer, qualified_name
from payloadkit.errors import ConfigurationError
from payloadkit.stores import Store
from payloadkit.stores._opened import default_store, remember_store, store_for_url

if TYPE_CHECKING:
    from payloadkit._partial import PayloadHandle

__all__ = ["Payload"]

_MARKER = "payloadkit.Payload"
#: A Payload published under a name retries a tag move lost to a racing writer this often.
_TAG_RETRIES = 5


class Payload:
    """Wraps an object so that it can live in a Work's state and move to another process.

    Before it is saved, ``value`` is the very object passed in. ``save()`` writes it to
    the configured store (or the given one) and returns its `PayloadRef`. A
    Payload built from a ref loads lazily, once, on the first read of ``value``. A
    Payload that is pickled is saved first and travels as its reference only.

    ```python
    import payloadkit as pk

    store = pk.open_store("memory://payload-doc")
    p = pk.Payload({"rows": [1, 2, 3]})
    ref = p.save(store)
    q = pk.Payload.from_ref(ref)          # nothing read yet
    assert q.value == {"rows": [1, 2, 3]} and q == p
    ```
    """

    def __init__(
        self,
        value: Any,
        serializer: str | Serializer | None = None,
        *,
        tag: str | None = None,
        compression: str | Default | None = DEFAULT,
    ) -> None:
        if isinstance(value, Payload):
            raise ConfigurationError(
                "A Payload cannot wrap another Payload; pass the Payload itself."
            )
        if tag is not None and not valid_tag_name(tag):
            raise ConfigurationError(
                f"{str(tag)[:60]!r} is not a valid tag name: use letters, digits and '._-/', "
                "starting with a letter or digit, without '..' or '//'."
            )
        #: The name the payload is published under when it is saved (see ``Store.tag``).
        self.tag = tag
        self._value = value
        self._loaded = True
        self._serializer = serializer
        if compression is not DEFAULT:
            check_choice(compression, "Payload(compression=...)")
        self._compression = compression
        self._ref: PayloadRef | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_ref(cls, ref: PayloadRef) -> Payload:
        """A Payload for a stored object; nothing is read until ``value`` is."""
        if not isinstance(ref, PayloadRef):
            raise ConfigurationError(
                f"Payload.from_ref takes a PayloadRef, not {type(ref).__name__}."
            )
        payload = cls.__new__(cls)
        payload._value = None
        payload._loaded = False
        payload._serializer = ref.serializer
        payload.tag = None
        payload._ref = ref
        payload._lock = threading.Lock()
        return payload

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Payload:
        """Rebuild a lazy Payload from `to_dict`'s output."""
        if not isinstance(data, dict) or data.get("kind") != _MARKER:
            raise ConfigurationError(
                "Not the dict form of a Payload (it has no kind='payloadkit.Payload')."
            )
        return cls.from_ref(PayloadRef.from_dict(data["ref"]))

    @staticmethod
    def is_dict_form(data: object) -> bool:
        """True when ``data`` looks like `to_dict`'s output."""
        return isinstance(data, dict) and data.get("kind") == _MARKER and "ref" in data

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the reference (saving first if needed); never holds credentials."""
        return {"kind": _MARKER, "ref": self.save().to_dict()}

    @property
    def value(self) -> Any:
        """The object: the original before saving, else loaded from the store once and cached."""
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    assert self._ref is not None
                    self._value = self._store_of(self._ref).get(self._ref)
                    self._loaded = True
        return self._value

    def open(self) -> PayloadHandle:
        """A lazy handle on the stored object (saving it first if needed): ``.columns``,
        ``.schema``, ``.shape``, ``.dtype`` and ``.read(columns=..., rows=...)``, each
        reading only what it needs from the store, verified. ``value`` is not loaded."""
        ref = self._ref if self._ref is not None else self.save()
        return self._store_of(ref).open(ref)

    @property
    def ref(self) -> PayloadRef | None:
        """The ref once saved (or when built from one), else None."""
        return self._ref

    @property
    def is_loaded(self) -> bool:
        """True when ``value`` is in memory (always, until built from a ref)."""
        return self._loaded

    @property
    def type_name(self) -> str:
        """Qualified name of the object's type, without loading it."""
        return self._ref.type if self._ref is not None else qualified_name(type(self._value))

    def save(self, store: Store | str | None = None) -> PayloadRef:
        """Write the object to ``store`` (default: the configured store) and return its ref.

        Saving again to the same store returns the same ref without writing. A Payload made
        with ``tag=`` points that name at itself in the store it is saved to.
        """
        target = _resolve(store)
        with self._lock:
            if self._ref is not None and (store is None or self._ref.store == target.url):
                return self._ref
        compression = getattr(self, "_compression", DEFAULT)  # a loaded payload has none
        ref = target.put(self.value, self._serializer, compression=compression)
        if self.tag is not None:
            target.tag(self.tag, ref, retries=_TAG_RETRIES)
        with self._lock:
            self._ref = ref
        return ref

    @staticmethod
    def _store_of(ref: PayloadRef) -> Store:
        return store_for_url(ref.store) if ref.store is not None else default_store()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Across a pickle boundary a Payload is its reference: bytes go through the store.
        return (_rebuild, (self.save().to_dict(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Payload):
            return NotImplemented
        if self._ref is not None and other._ref is not None:
            return self._ref.digest == other._ref.digest
        return self is other

    def __hash__(self) -> int:
        return hash(self._ref.digest) if self._ref is not None else id(self)

    def __repr__(self) -> str:
        where = f"{self._ref.short} in {self._ref.store}" if self._ref else "not saved"
        state = "" if self._loaded else ", not loaded"
        return f"Payload({self.type_name}, {where}{state})"


def _resolve(store: Store | str | None) -> Store:
    if store is None:
        return default_store()
    if isinstance(store, Store):
        remember_store(store)
        return store
    if isinstance(store, str):
        return store_for_url(store)
    raise ConfigurationError(f"save() takes a Store or a store URL, not {type(store).__name__}.")


def _rebuild(ref: dict[str, Any]) -> Payload:
    return Payload.from_ref(PayloadRef.from_dict(ref))
