"""Store URLs: plain paths, ``file://``, ``memory://`` and any fsspec protocol.

A URL that carries credentials (``s3://KEY:SECRET@bucket``) is refused without echoing
them: credentials belong in storage options, the environment or the backend's files.
"""

from __future__ import annotations

import os
import re

from payloadkit.errors import ConfigurationError

__all__ = ["is_local", "normalize_url", "protocol_of"]

_SCHEME_RE = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*)://")


def protocol_of(url: str) -> str | None:
    """The URL's scheme (``"s3"``), or None for a plain path."""
    match = _SCHEME_RE.match(url)
    return match.group(1).lower() if match else None


def is_local(url: str) -> bool:
    """True for plain paths and ``file://`` URLs."""
    return protocol_of(url) in (None, "file", "local")


def normalize_url(url: str | os.PathLike[str]) -> str:
    """The canonical form of a store URL: absolute for local paths, no trailing slash."""
    text = os.fspath(url)
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError("A store URL must be a non-empty string or path.")
    text = text.strip()
    protocol = protocol_of(text)
    if protocol is None:
        return os.path.abspath(os.path.expanduser(text))
    if protocol in ("file", "local"):
        return os.path.abspath(text.split("://", 1)[1] or "/")
    rest = text.split("://", 1)[1]
    authority = rest.split("/", 1)[0]
    if "@" in authority and ":" in authority.split("@", 1)[0]:
        raise ConfigurationError(
            f"The {protocol}:// URL has credentials written into it; they were not used. "
            "Pass them as storage options (key=..., secret=...), through the environment, "
            "or in the backend's own configuration files."
        )
    if "?" in rest or "#" in rest:
        raise ConfigurationError(
            f"The {protocol}:// URL has a query or fragment; pass options as storage options instead."
        )
    return f"{protocol}://{rest.rstrip('/')}"
