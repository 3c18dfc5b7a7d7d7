"""HMAC-SHA256 signatures over a payload's identifying fields, with key rotation.

A signature is ``"hmac-sha256:<key id>:<hex>"``; the key id (8 hex digits of the key's
SHA-256) lets a reader say which key signed without revealing it. The first configured
key signs; every configured key is accepted when verifying.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence

from payloadkit.errors import ConfigurationError

__all__ = ["Keyring"]

_PREFIX = "hmac-sha256"


class Keyring:
    """The signing keys of this process (``configure(secret=...)`` or ``PAYLOADKIT_SECRET``)."""

    def __init__(self, secrets: str | bytes | Sequence[str | bytes]) -> None:
        items = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
        keys = [s.encode() if isinstance(s, str) else bytes(s) for s in items]
        if not keys or any(len(k) < 16 for k in keys):
            raise ConfigurationError(
                "A signing key must be at least 16 bytes; generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        self._keys = {hashlib.sha256(k).hexdigest()[:8]: k for k in keys}
        self._signer = hashlib.sha256(keys[0]).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"<Keyring signing with key {self._signer}, {len(self._keys)} accepted>"

    @property
    def key_ids(self) -> list[str]:
        """Ids of the accepted keys, the signing key first."""
        return [self._signer, *(k for k in self._keys if k != self._signer)]

    def sign(self, fields: Sequence[object]) -> str:
        """The signature of ``fields`` with the first key."""
        return f"{_PREFIX}:{self._signer}:{_mac(self._keys[self._signer], fields)}"

    def verify(self, fields: Sequence[object], signature: object) -> str | None:
        """None when ``signature`` is valid for ``fields``, else why it is not."""
        if not isinstance(signature, str) or not signature:
            return "the payload is not signed"
        parts = signature.split(":")
        if len(parts) != 3 or parts[0] != _PREFIX:
            return "the signature is malformed"
        key = self._keys.get(parts[1])
        if key is None:
            return f"it was signed with key {parts[1]}, which is not among the configured keys"
        if not hmac.compare_digest(_mac(key, fields), parts[2]):
            return (
                "the signature does not match the manifest (it was altered, or signed differently)"
            )
        return None


def _mac(key: bytes, fields: Sequence[object]) -> str:
    message = json.dumps(list(fields), separators=(",", ":"), sort_keys=True).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
