"""Process-wide configuration: the default store, storage options per URL, keys, policies.

Settings come from `configure` and, for what it was not given, the environment:
``PAYLOADKIT_STORAGE`` (the default store's URL) and ``PAYLOADKIT_SECRET`` (signing keys,
comma-separated, the first signs). Storage options are kept per store URL, so that a ref
pointing at a store finds the options this process configured for it; they are never
printed, recorded or sent anywhere.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from payloadkit._compression import Choices
from payloadkit._registry import registry
from payloadkit._signing import Keyring
from payloadkit._urls import normalize_url
from payloadkit.errors import ConfigurationError

__all__ = ["configure", "generation", "load_policy", "settings"]

DEFAULT_STORAGE = ".payloadkit"


@dataclass
class Settings:
    """The current configuration (read it with `payloadkit.settings`)."""

    storage: str = DEFAULT_STORAGE
    storage_options: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    keyring: Keyring | None = None
    trusted_serializers: frozenset[str] | None = None
    durable: bool = False
    #: Codecs by type or serializer name, from ``configure(compression=...)``.
    compression: Choices = field(default_factory=Choices, repr=False)

    def options_for(self, url: str) -> dict[str, Any]:
        """Storage options configured for the store at ``url`` (empty when none)."""
        return dict(self.storage_options.get(normalize_url(url), {}))


_lock = threading.RLock()
_settings: Settings | None = None
_generation = 0


def generation() -> int:
    """A number that changes with every `configure` (opened stores are then reopened)."""
    return _generation


def _from_environment() -> Settings:
    current = Settings()
    storage = os.environ.get("PAYLOADKIT_STORAGE", "").strip()
    if storage:
        current.storage = storage
    secret = os.environ.get("PAYLOADKIT_SECRET", "")
    if secret.strip():
        current.keyring = Keyring([s.strip() for s in secret.split(",") if s.strip()])
    return current


def settings() -> Settings:
    """The settings in force in this process."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = _from_environment()
        return _settings


def configure(
    *,
    storage: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    serializers: Mapping[type | str, str] | None = None,
    secret: str | bytes | Sequence[str | bytes] | None = None,
    trusted_serializers: Iterable[str] | None = None,
    durable: bool | None = None,
    compression: Mapping[type | str, str | None] | None = None,
    reset: bool = False,
) -> None:
    """Change this process's settings; arguments left out keep their current value.

    ``storage`` is the default store's URL (a plain path is a local directory) and
    ``storage_options`` its fsspec options (``endpoint_url``, ``key``, ...). ``serializers``
    maps types or dotted names to serializer names. ``secret`` is a signing key or a list
    of keys (the first signs). ``trusted_serializers`` restricts which serializers may
    load at all. ``durable=True`` fsyncs local writes. ``compression`` maps types, dotted
    names or serializer names to ``"auto"``, ``"zstd"``, ``"lz4"`` or None. ``reset=True`` first returns to
    the environment's settings.

    ```python
    import payloadkit as pk

    pk.configure(storage="memory://configure-doc", serializers={"builtins.dict": "json"})
    assert pk.Payload({"a": 1}).save().serializer == "json"
    pk.configure(reset=True)
    ```
    """
    global _settings, _generation
    _check_types(storage, storage_options, serializers, secret, trusted_serializers, durable)
    if compression is not None and not isinstance(compression, Mapping):
        raise ConfigurationError(
            "configure(compression=...) takes a dict of types, dotted names or serializer "
            f"names to codecs, not {type(compression).__name__}."
        )
    choices = Choices(compression) if compression is not None else None
    with _lock:
        current = _from_environment() if reset or _settings is None else _settings
        if reset:
            registry.set_user_choices({})
        if storage is not None:
            current.storage = os.fspath(storage)
        if storage_options is not None:
            current.storage_options[normalize_url(current.storage)] = dict(storage_options)
        if serializers is not None:
            registry.set_user_choices(serializers)
        if secret is not None:
            current.keyring = Keyring(secret) if secret else None
        if trusted_serializers is not None:
            current.trusted_serializers = load_policy(trusted_serializers)
        if durable is not None:
            current.durable = bool(durable)
        if choices is not None:
            current.compression = choices
        _settings = current
        _generation += 1


def _check_types(
    storage: object,
    storage_options: object,
    serializers: object,
    secret: object,
    trusted_serializers: object,
    durable: object,
) -> None:
    """Refuse arguments of the wrong type with a ConfigurationError naming the argument."""
    expected: list[tuple[str, object, tuple[type, ...], str]] = [
        ("storage", storage, (str, os.PathLike), "a URL or a path"),
        ("storage_options", storage_options, (Mapping,), "a dict of fsspec options"),
        (
            "serializers",
            serializers,
            (Mapping,),
            "a dict of types or dotted names to serializer names",
        ),
        ("secret", secret, (str, bytes, list, tuple), "a key (str or bytes) or a list of keys"),
        (
            "trusted_serializers",
            trusted_serializers,
            (str, list, tuple, set, frozenset),
            "a list of serializer names",
        ),
        ("durable", durable, (bool,), "True or False"),
    ]
    for name, value, types, what in expected:
        if value is not None and not isinstance(value, types):
            raise ConfigurationError(
                f"configure({name}=...) takes {what}, not {type(value).__name__}."
            )
    if isinstance(storage_options, Mapping) and not all(
        isinstance(k, str) for k in storage_options
    ):
        raise ConfigurationError("configure(storage_options=...) takes option names as strings.")


def load_policy(names: Iterable[str] | str) -> frozenset[str]:
    """A ``trusted_serializers`` policy: the names of the serializers allowed to load.

    A single name is accepted as a one-name policy (not as the letters of the name).
    """
    items = [names] if isinstance(names, str) else list(names)
    if not all(isinstance(name, str) and name for name in items):
        raise ConfigurationError(
            f"trusted_serializers takes serializer names, e.g. ['parquet', 'numpy'], not {items!r:.80}."
        )
    return frozenset(items)
