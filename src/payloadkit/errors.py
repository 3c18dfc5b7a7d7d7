"""The exceptions payloadkit raises, one class per cause.

Every failure a user can cause raises a subclass of `PayloadkitError`. Messages
say what happened, name the payload (digest, type) and the store (its URL, never its
credentials) where they are known, and end with what to do about it.

```python
import payloadkit as pk
from payloadkit.errors import PayloadNotFoundError

store = pk.open_store("memory://errors-doc")
try:
    store.get("blake3:" + "0" * 64)
except PayloadNotFoundError as exc:
    print(exc.digest)
```
"""

from __future__ import annotations

__all__ = [
    "AmbiguousPayloadError",
    "ConfigurationError",
    "DeserializationError",
    "IntegrityError",
    "NotAStoreError",
    "PartialReadError",
    "PayloadNotFoundError",
    "PayloadkitError",
    "SerializationError",
    "SignatureError",
    "StoreError",
    "TagConflictError",
    "UnknownSerializerError",
    "WorkError",
]


class PayloadkitError(Exception):
    """Base class of every error payloadkit raises on purpose.

    ``digest``, ``type_name`` and ``store`` carry the payload and store concerned, where
    they are known, so that callers can act on them without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        digest: str | None = None,
        type_name: str | None = None,
        store: str | None = None,
    ) -> None:
        super().__init__(message)
        self.digest = digest
        self.type_name = type_name
        self.store = store

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process boundaries (worker processes, Dask); keep their fields.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(
    cls: type[PayloadkitError], args: tuple[object, ...], state: dict[str, object]
) -> PayloadkitError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class SerializationError(PayloadkitError):
    """An object could not be turned into bytes by any serializer that was tried."""


class DeserializationError(PayloadkitError):
    """Verified bytes could not be turned back into an object, or a load was refused."""


class UnknownSerializerError(PayloadkitError):
    """A serializer name is not registered (a typo, or a plugin that is not installed)."""


class PayloadNotFoundError(PayloadkitError, LookupError):
    """No payload with that digest is in the store."""


class AmbiguousPayloadError(PayloadNotFoundError):
    """A bare digest names several payloads (the same bytes saved as several types or
    with several serializers): give the ref, which says which one."""


class IntegrityError(PayloadkitError):
    """Stored bytes or a manifest do not match their digest or are malformed."""


class SignatureError(PayloadkitError):
    """A payload's signature is missing, wrong, or a trust policy refuses the payload."""


class StoreError(PayloadkitError):
    """The storage backend failed: permissions, missing bucket, network, full disk."""


class NotAStoreError(StoreError):
    """The location is not a payloadkit store (it has no store marker): nothing was read,
    written or deleted there."""


class TagConflictError(PayloadkitError):
    """A tag moved while it was being moved: another writer won the race (or, with
    ``expect=``, the tag no longer pointed at the expected payload). Nothing was lost:
    the losing change is kept in the tag's history, marked superseded. Read the tag
    again and retry if the change still makes sense."""


class ConfigurationError(PayloadkitError, ValueError):
    """A URL, option, key or setting is not usable as given."""


class PartialReadError(ConfigurationError):
    """A partial read (``columns=``, ``rows=``, ``mmap=True``, ``open()``) asks for what the
    payload does not have (the message lists the columns or rows it has) or what its
    serializer cannot do (the message says which partial reads it offers)."""


class WorkError(PayloadkitError):
    """A Work's ``run`` raised; the message holds the Work's path and remote traceback."""

    def __init__(self, message: str, *, work: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.work = work
        self.remote_traceback = remote_traceback
