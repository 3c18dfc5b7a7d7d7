"""Store URLs: plain paths, ``file://``, ``memory://`` and any fsspec protocol.

A URL that carries credentials or a token as user information (``s3://KEY:SECRET@bucket``,
``s3://TOKEN@bucket``) is refused without echoing them: credentials belong in storage
options, the environment or the backend's files. A chained fsspec URL
(``dir::s3://bucket/prefix``) is parsed as fsspec parses it: its outermost protocol names it.
"""

from __future__ import annotations

import os
import re

from payloadkit.errors import ConfigurationError

__all__ = ["is_local", "normalize_url", "protocol_of"]

_SCHEME_RE = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*)://")


def protocol_of(url: str) -> str | None:
    """The URL's scheme (``"s3"``; the outermost one of a chain), or None for a plain path."""
    if "::" in url:
        return url.split("::", 1)[0].split("://", 1)[0].lower() or None
    match = _SCHEME_RE.match(url)
    return match.group(1).lower() if match else None


def is_chained(url: str) -> bool:
    """True for a chained fsspec URL (``simplecache::s3://...``)."""
    return "::" in url


def is_local(url: str) -> bool:
    """True for plain paths and ``file://`` URLs."""
    return not is_chained(url) and protocol_of(url) in (None, "file", "local")


def normalize_url(url: str | os.PathLike[str]) -> str:
    """The canonical form of a store URL: absolute for local paths, no trailing slash."""
    if not isinstance(url, str | os.PathLike):
        raise ConfigurationError(f"A store URL is a string or a path, not {type(url).__name__}.")
    text = os.fspath(url)
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError("A store URL must be a non-empty string or path.")
    text = text.strip()
    if is_chained(text):
        return "::".join(_normalize_remote(part) for part in text.split("::"))
    protocol = protocol_of(text)
    if protocol is None:
        return os.path.abspath(os.path.expanduser(text))
    if protocol in ("file", "local"):
        return os.path.abspath(text.split("://", 1)[1] or "/")
    return _normalize_remote(text)


def _normalize_remote(text: str) -> str:
    protocol = protocol_of(text)
    if protocol is None:
        if not text:
            raise ConfigurationError("A chained store URL has an empty part.")
        return text.rstrip("/")
    rest = text.split("://", 1)[1] if "://" in text else ""
    authority = rest.split("/", 1)[0]
    if "@" in authority:
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
