"""The load policy: which stored payloads may be decoded here, decided before any byte is read.

A `LoadPolicy` holds the serializers trusted to load (``None``: all) and the keyring
that signatures are checked with (``None``: no key, nothing is signed). A store opened with
``trusted_serializers=`` (or given a policy) keeps it; a store opened without one follows
the process's configuration (`payloadkit.configure`, ``PAYLOADKIT_SECRET``).
"""

from __future__ import annotations

from dataclasses import dataclass

from payloadkit._config import settings
from payloadkit._manifest import Manifest
from payloadkit._registry import registry
from payloadkit._serializer import Serializer
from payloadkit._signing import Keyring
from payloadkit._versions import newer_than
from payloadkit.errors import (
    DeserializationError,
    PayloadkitError,
    SignatureError,
    UnknownSerializerError,
)

__all__ = ["LoadPolicy", "signed_by_signer", "signed_enough"]


@dataclass(frozen=True)
class LoadPolicy:
    """What may load: ``trusted_serializers`` (None: any) and signatures checked with ``keyring``."""

    trusted_serializers: frozenset[str] | None = None
    keyring: Keyring | None = None

    @classmethod
    def current(cls) -> LoadPolicy:
        """The policy of this process's configuration."""
        current = settings()
        return cls(current.trusted_serializers, current.keyring)

    def serializer_for(self, manifest: Manifest, url: str) -> Serializer:
        """The serializer to load with, after every check that needs no payload byte."""
        meta = manifest.ref
        if self.trusted_serializers is not None and meta.serializer not in self.trusted_serializers:
            raise SignatureError(
                f"Refusing to load {meta.digest} ({meta.type}) from {url}: its serializer "
                f"{meta.serializer!r} is not in the load policy "
                f"trusted_serializers={sorted(self.trusted_serializers)}. "
                "Add it to the policy if this store's writers are trusted.",
                digest=meta.digest,
                type_name=meta.type,
                store=url,
            )
        serializer = self._serializer_of(manifest, url)
        self._check_signature(manifest, serializer, url)
        if newer_than(meta.serializer_version, serializer.version):
            dist = registry.distribution_of(serializer.name)
            upgrade = (
                f"pip install --upgrade {dist}" if dist else "upgrade the code that registers it"
            )
            raise DeserializationError(
                f"{meta.digest} ({meta.type}) was written by {meta.serializer} version "
                f"{meta.serializer_version}; this installation has version {serializer.version}. "
                f"Install a release that reads version {meta.serializer_version}: {upgrade}.",
                digest=meta.digest,
                type_name=meta.type,
                store=url,
            )
        return serializer

    def signature_problem(self, manifest: Manifest) -> str | None:
        """Why the manifest's signature is a problem under this policy's key, or None.

        A signature that is present but does not verify is always a problem (the manifest
        was altered, or signed with a key this process lacks). A missing signature is one
        only when the serializer can run code on load, since such a payload will not load.
        """
        if self.keyring is None:
            return None
        why = self.keyring.verify(manifest.signed_fields, manifest.signature)
        if why is None or manifest.signature:
            return why
        try:
            runs_code = registry.get(manifest.ref.serializer).runs_code_on_load
        except PayloadkitError:
            runs_code = True  # unknown here: it cannot be shown to be safe
        return f"{why}, and {manifest.ref.serializer} can run code on load" if runs_code else None

    def _check_signature(self, manifest: Manifest, serializer: Serializer, url: str) -> None:
        """With a key: code-running serializers need a valid signature, and a signature
        made with one of our keys must match whatever the serializer."""
        keyring = self.keyring
        if keyring is None:
            return
        meta = manifest.ref
        if serializer.runs_code_on_load:
            what = f"with {meta.serializer}, which can run code on load"
        elif keyring.knows(manifest.signature):
            what = f"with {meta.serializer}"
        else:
            return  # a format that runs no code loads unsigned (the digest still holds)
        why = keyring.verify(manifest.signed_fields, manifest.signature)
        if why is not None:
            raise SignatureError(
                f"Refusing to load {meta.digest} ({meta.type}) from {url} {what}: {why}. "
                "Save it again with the signing key configured, or add the key that signed it.",
                digest=meta.digest,
                type_name=meta.type,
                store=url,
            )

    def _serializer_of(self, manifest: Manifest, url: str) -> Serializer:
        meta = manifest.ref
        try:
            return registry.get(meta.serializer)
        except UnknownSerializerError:
            # The distribution a manifest names is advice to install something. With a key
            # configured (the store is not trusted as such), give it only from a signed one.
            signed = signed_enough(manifest, self.keyring)
            why = registry.missing(meta.serializer, manifest.distribution if signed else None)
            if manifest.distribution and not signed:
                why += (
                    f" Its manifest names the distribution {manifest.distribution!r}, but is not "
                    "signed with a configured key: check that this is the package you "
                    "expect before installing it."
                )
            raise UnknownSerializerError(
                f"{meta.digest} ({meta.type}) in {url} was written by serializer "
                f"{meta.serializer!r}, which is not available here. {why}",
                digest=meta.digest,
                type_name=meta.type,
                store=url,
            ) from None


def signed_enough(manifest: Manifest, keyring: Keyring | None) -> bool:
    """True when a stored manifest is trusted: no key is configured, or it verifies."""
    return keyring is None or keyring.verify(manifest.signed_fields, manifest.signature) is None


def signed_by_signer(manifest: Manifest, keyring: Keyring | None) -> bool:
    """True when a verified manifest is signed with the current signing key (no re-signing)."""
    signature = manifest.signature or ""
    return keyring is None or signature.split(":")[1:2] == keyring.key_ids[:1]
