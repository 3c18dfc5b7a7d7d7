"""HMAC-SHA256 signatures over a payload's identifying fields, with key rotation.

A signature is ``"hmac-sha256:<key id>:<64 hex>"``; the key id (8 hex digits of the key's
SHA-256) lets a reader say which key signed without revealing it. The first configured
key signs; every configured key is accepted when verifying. The signed message is the
JSON list of the fields behind a fixed context string, so a signature made here can never
be passed off as one made for another purpose with the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence

from payloadkit.errors import ConfigurationError

__all__ = ["Keyring", "is_signature"]

_PREFIX = "hmac-sha256"
_CONTEXT = b"payloadkit manifest signature v1\n"
_SIGNATURE_RE = re.compile(r"\Ahmac-sha256:([0-9a-f]{8}):([0-9a-f]{64})\Z")
MIN_KEY_BYTES = 16


def is_signature(text: object) -> bool:
    """True when ``text`` has the form of a signature (whoever made it)."""
    return isinstance(text, str) and _SIGNATURE_RE.match(text) is not None


def key_id(key: bytes) -> str:
    """The public id of a key: 8 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


class Keyring:
    """The signing keys of this process (``configure(secret=...)`` or ``PAYLOADKIT_SECRET``).

    A keyring never leaves the process: it cannot be pickled, and its repr shows key ids only.
    """

    def __init__(self, secrets: str | bytes | Sequence[str | bytes]) -> None:
        items = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
        if not all(isinstance(s, str | bytes) for s in items):
            raise ConfigurationError("Signing keys are strings or bytes.")
        keys = [s.encode() if isinstance(s, str) else bytes(s) for s in items]
        if not keys or any(len(k) < MIN_KEY_BYTES for k in keys):
            raise ConfigurationError(
                f"A signing key must be at least {MIN_KEY_BYTES} bytes; generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        self._keys = {key_id(k): k for k in keys}
        self._signer = key_id(keys[0])

    def __repr__(self) -> str:
        return f"<Keyring signing with key {self._signer}, {len(self._keys)} accepted>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError(
            "A payloadkit Keyring holds secret keys and is never pickled; give the other "
            "process the key through PAYLOADKIT_SECRET or configure(secret=...)."
        )

    def export_keys(self) -> list[bytes]:
        """The keys, signing key first: only for handing them to a worker over a private channel."""
        return [self._keys[k] for k in self.key_ids]

    @property
    def key_ids(self) -> list[str]:
        """Ids of the accepted keys, the signing key first."""
        return [self._signer, *(k for k in self._keys if k != self._signer)]

    def sign(self, fields: Sequence[object]) -> str:
        """The signature of ``fields`` with the first key."""
        return f"{_PREFIX}:{self._signer}:{_mac(self._keys[self._signer], fields)}"

    def knows(self, signature: object) -> bool:
        """True when ``signature`` is well formed and names one of this keyring's keys."""
        match = _SIGNATURE_RE.match(signature) if isinstance(signature, str) else None
        return match is not None and match.group(1) in self._keys

    def verify(self, fields: Sequence[object], signature: object) -> str | None:
        """None when ``signature`` is valid for ``fields``, else why it is not."""
        if signature is None or signature == "":
            return "the payload is not signed"
        match = _SIGNATURE_RE.match(signature) if isinstance(signature, str) else None
        if match is None:
            return "the signature is malformed"
        key = self._keys.get(match.group(1))
        if key is None:
            return (
                f"it was signed with key {match.group(1)}, which is not among the configured "
                f"keys ({', '.join(self.key_ids)})"
            )
        if not hmac.compare_digest(_mac(key, fields), match.group(2)):
            return (
                "the signature does not match the manifest (it was altered, or signed differently)"
            )
        return None


def _mac(key: bytes, fields: Sequence[object]) -> str:
    message = _CONTEXT + json.dumps(list(fields), separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
