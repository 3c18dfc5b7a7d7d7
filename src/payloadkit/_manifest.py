"""The JSON manifest kept beside every stored object, and its strict parser.

A manifest is what makes a store self-describing: ``info``, listing, verification and
the command line work from the store alone. It holds the ref's fields, the object's file
extension, creation time, Python and library versions, the distribution that provides
the serializer (so a missing plugin can be named), how the stored bytes are compressed
(absent: not at all) and, with a key, a signature.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from payloadkit._chunks import ChunkTable
from payloadkit._compression import Record
from payloadkit._layout import legacy_manifest_key, manifest_key, object_key
from payloadkit._ref import PayloadRef
from payloadkit.errors import IntegrityError, PayloadkitError

__all__ = ["MAX_MANIFEST_BYTES", "Manifest"]

#: The manifest format written (2: one manifest per serializer and type); 1 is still read.
FORMAT = 2
_READABLE = frozenset({1, 2})
MAX_MANIFEST_BYTES = 64 * 1024
_EXTENSION_RE = re.compile(r"\A(\.[A-Za-z0-9_-]{1,16}){0,3}\Z")
_NAME_RE = re.compile(r"\A[A-Za-z0-9_.+-]{1,100}\Z")
_DISTRIBUTION_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
#: Longest accepted text of each free-form field (a manifest is small and shown in messages).
_MAX_TEXT = {"type": 1000, "serializer_version": 64, "python": 64, "signature": 200}
_MAX_LIBRARIES = 64


@dataclass(frozen=True)
class Manifest:
    """What the store records about one payload (see `payloadkit.stores.Store.info`)."""

    ref: PayloadRef
    extension: str
    created: str
    python: str
    libraries: dict[str, str] = field(default_factory=dict)
    distribution: str | None = None
    signature: str | None = None
    #: How the stored bytes are compressed; None: they are the serializer's own bytes.
    compression: Record | None = None

    #: The format it was read in (1: written by payloadkit 0.1.0).
    format: int = FORMAT
    #: Per-chunk digests for partial reads (None: written without, or by an older version).
    chunks: ChunkTable | None = None

    @property
    def object_key(self) -> str:
        """Where the bytes are, relative to the store root."""
        return object_key(self.ref.digest, self.extension)

    @property
    def key(self) -> str:
        """Where this manifest is, relative to the store root."""
        if self.format == 1:
            return legacy_manifest_key(self.ref.digest)
        return manifest_key(self.ref.digest, self.ref.serializer, self.ref.type)

    @property
    def signed_fields(self) -> list[object]:
        """The fields a signature covers."""
        r = self.ref
        fields: list[object] = [r.digest, r.serializer, r.serializer_version, r.size, r.type]
        if self.compression is not None:  # absent, the fields signed before compression existed
            fields.append(self.compression.signed)
        if self.chunks is not None:  # appended only when present: older signatures still verify
            fields.append(self.chunks.signed_fields)
        return fields

    @property
    def created_at(self) -> datetime:
        """Creation time as an aware datetime (a time written without a zone is UTC)."""
        return aware(datetime.fromisoformat(self.created))

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON values (the ref's store is never recorded)."""
        data = self.ref.to_dict()
        del data["store"]
        data.update(
            format=FORMAT,
            extension=self.extension,
            created=self.created,
            python=self.python,
            libraries=dict(self.libraries),
            distribution=self.distribution,
        )
        if self.signature:
            data["signature"] = self.signature
        if self.compression is not None:
            data["compression"] = self.compression.to_dict()
        if self.chunks is not None:
            data["chunks"] = self.chunks.to_dict()
        return data

    def to_bytes(self) -> bytes:
        """The manifest as UTF-8 JSON, on one line.

        Without ``indent`` the standard library encodes with its C encoder, several times
        faster than the pure-Python one ``indent`` needs, which shows on small payloads.
        The parser accepts any layout (manifests written indented stay readable), and a
        signature covers the fields, not the text, so either layout verifies.
        """
        return json.dumps(self.to_dict(), sort_keys=True).encode()

    @classmethod
    def parse(
        cls,
        raw: bytes,
        store: str | None,
        expected_digest: str | None = None,
        expected_key: str | None = None,
    ) -> Manifest:
        """Parse and validate a manifest; anything malformed raises IntegrityError.

        With ``expected_key``, a manifest that does not describe the payload its key names
        (another digest, serializer or type: moved or forged) is malformed too.
        """
        where = f" in {store}" if store else ""
        if len(raw) > MAX_MANIFEST_BYTES:
            raise IntegrityError(
                f"Manifest of {expected_digest}{where} is {len(raw)} bytes, over the "
                f"{MAX_MANIFEST_BYTES}-byte limit; it is corrupt. Run `payloadkit verify`.",
                digest=expected_digest,
                store=store,
            )
        try:
            data = json.loads(raw)
            manifest = cls._from_dict(data, store, expected_digest)
            if expected_key is not None and manifest.key != expected_key:
                raise ValueError("it is not stored under its own name")
            return manifest
        except (ValueError, KeyError, TypeError, RecursionError, PayloadkitError) as exc:
            raise IntegrityError(
                f"Manifest of {expected_digest}{where} is corrupt ({exc}). "
                "Run `payloadkit verify` on the store; delete the payload and save it again.",
                digest=expected_digest,
                store=store,
            ) from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any], store: str | None, expected: str | None) -> Manifest:
        if not isinstance(data, dict) or data.get("format") not in _READABLE:
            raise ValueError("not a payloadkit manifest of a known format")
        ref = PayloadRef(
            data["digest"],
            data["serializer"],
            data["serializer_version"],
            data["size"],
            data["type"],
            store,
        )
        if expected is not None and ref.digest != expected:
            raise ValueError(f"it describes {ref.digest}")
        extension, libraries = data["extension"], data.get("libraries", {})
        if not isinstance(extension, str) or not _EXTENSION_RE.match(extension):
            raise ValueError(f"bad extension {extension!r}")
        if not _NAME_RE.match(ref.serializer):
            raise ValueError("bad serializer name")
        if (
            not isinstance(libraries, dict)
            or len(libraries) > _MAX_LIBRARIES
            or not all(_short_text(k, 100) and _short_text(v, 100) for k, v in libraries.items())
        ):
            raise ValueError("bad library versions")
        created, python = data["created"], data["python"]
        if not isinstance(created, str) or len(created) > 64:
            raise ValueError("bad created field")
        datetime.fromisoformat(created)
        distribution, signature = data.get("distribution"), data.get("signature")
        if distribution is not None and not (
            isinstance(distribution, str) and _DISTRIBUTION_RE.match(distribution)
        ):
            raise ValueError("bad distribution field")
        texts = {"type": ref.type, "serializer_version": ref.serializer_version, "python": python}
        if signature is not None:
            texts["signature"] = signature
        for name, value in texts.items():
            if not _short_text(value, _MAX_TEXT[name]):
                raise ValueError(f"bad {name} field")
        raw_compression = data.get("compression")
        compression = None if raw_compression is None else Record.from_dict(raw_compression)
        version = 1 if data["format"] == 1 else FORMAT
        chunks = data.get("chunks")
        table = None if chunks is None else ChunkTable.from_dict(chunks, ref.size)
        return cls(
            ref,
            extension,
            created,
            python,
            libraries,
            distribution,
            signature,
            compression,
            version,
            table,
        )


def _short_text(value: object, limit: int) -> bool:
    """True for a non-empty printable string of at most ``limit`` characters."""
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


def aware(moment: datetime) -> datetime:
    """``moment`` with a time zone: a naive time is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def now() -> str:
    """The current UTC time in ISO 8601, as recorded in manifests."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
