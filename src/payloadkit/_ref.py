"""PayloadRef: the immutable, JSON-safe name of a stored payload."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from payloadkit._digest import parse_digest
from payloadkit.errors import ConfigurationError

__all__ = ["PayloadRef"]


@dataclass(frozen=True, slots=True)
class PayloadRef:
    """Where a payload lives and how to load it.

    ``digest`` names the stored bytes (``"blake3:<hex>"``), ``serializer`` and
    ``serializer_version`` say how they were written, ``size`` is the number of bytes
    stored, ``type`` the qualified name of the object's type and ``store`` the URL of the
    store (without credentials) or ``None``.

    ```python
    import payloadkit as pk

    ref = pk.open_store("memory://ref-doc").put({"a": 1})
    assert pk.PayloadRef.from_json(ref.to_json()) == ref
    ```
    """

    digest: str
    serializer: str
    serializer_version: str
    size: int
    type: str
    store: str | None = None

    def __post_init__(self) -> None:
        parse_digest(self.digest)
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise ConfigurationError(
                f"PayloadRef size must be a non-negative int, not {self.size!r}."
            )
        for name in ("serializer", "serializer_version", "type"):
            if not isinstance(getattr(self, name), str):
                raise ConfigurationError(f"PayloadRef field {name!r} must be a string.")
        if self.store is not None and not isinstance(self.store, str):
            raise ConfigurationError("PayloadRef field 'store' must be a string or None.")

    def to_dict(self) -> dict[str, Any]:
        """The ref as a plain dict of JSON values."""
        # Every field is a str, an int or None: no deep copy (dataclasses.asdict) is needed.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PayloadRef:
        """Rebuild a ref from `to_dict`'s output, refusing unknown or missing fields."""
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"A PayloadRef is read from a dict, not {type(data).__name__}."
            )
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            shown = ", ".join(sorted(repr(name)[:40] for name in unknown))
            raise ConfigurationError(f"Unknown PayloadRef fields: {shown}.")
        missing = names - set(data) - {"store"}
        if missing:
            raise ConfigurationError(f"PayloadRef is missing fields: {', '.join(sorted(missing))}.")
        return cls(**data)

    def to_json(self) -> str:
        """The ref as a compact JSON string."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> PayloadRef:
        """Rebuild a ref from `to_json`'s output."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ConfigurationError(
                f"Not a PayloadRef in JSON form: {type(exc).__name__}: {exc}."
            ) from None
        return cls.from_dict(data)

    def with_store(self, store: str | None) -> PayloadRef:
        """The same ref, pointing at another store URL."""
        return PayloadRef(
            self.digest, self.serializer, self.serializer_version, self.size, self.type, store
        )

    @property
    def short(self) -> str:
        """The digest shortened for display: ``blake3:9f2c1a0b3d4e``."""
        return self.digest[: self.digest.index(":") + 13]


#: The ref's fields in declaration order, the keys of its dict form.
_FIELD_NAMES = tuple(f.name for f in fields(PayloadRef))
