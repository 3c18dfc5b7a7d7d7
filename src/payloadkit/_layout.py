"""Every key of the on-store layout, in one place: what payloadkit writes, and nothing else.

Format 2 (this release)::

    payloadkit-store.json                              the marker: this is a store
    objects/<alg>/<2 hex>/<hex><extension>             the bytes, e.g. a plain .parquet file
    manifests/<alg>/<2 hex>/<hex>.<variant>.json       what they are, one per (serializer, type)
    records/<kind>/<name>.json                         run records and other small JSON
    gc/<id>.json                                       the lease of a garbage collection running
    tmp/<pid>-<32 hex>.part, tmp/spool-*, tmp/gc-*     writes in progress, objects moved aside

Format 1 (0.1.0) kept one manifest per digest, ``manifests/<alg>/<2 hex>/<hex>.json``; such
manifests are still read (see :func:`legacy_manifest_key`) and never written.

Identical bytes saved as two types or with two serializers are two payloads: each has its
own manifest (its *variant*, named from the serializer and the type), and they share the
object. :func:`parse_key` tells what any key is, so that maintenance touches only what
payloadkit itself writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from payloadkit._digest import parse_digest

__all__ = [
    "FORMAT",
    "GC_PREFIX",
    "MARKER_KEY",
    "ParsedKey",
    "digest_prefix",
    "gc_lease_key",
    "legacy_manifest_key",
    "manifest_key",
    "object_key",
    "parse_key",
    "record_key",
    "variant_of",
]

#: The on-store format this release writes.
FORMAT = 2
MARKER_KEY = "payloadkit-store.json"
GC_PREFIX = "gc/"
_ALG = r"(blake3|sha256)"
_HEX64 = r"([0-9a-f]{64})"
_EXTENSION = r"((?:\.[A-Za-z0-9_-]{1,16}){0,3})"
_VARIANT = r"([A-Za-z0-9_.+-]{1,100}~[0-9a-f]{16})"
_NAME = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,199})"
_PATTERNS = {
    "object": re.compile(rf"\Aobjects/{_ALG}/([0-9a-f]{{2}})/{_HEX64}{_EXTENSION}\Z"),
    "manifest": re.compile(rf"\Amanifests/{_ALG}/([0-9a-f]{{2}})/{_HEX64}\.{_VARIANT}\.json\Z"),
    "legacy-manifest": re.compile(rf"\Amanifests/{_ALG}/([0-9a-f]{{2}})/{_HEX64}\.json\Z"),
    "record": re.compile(rf"\Arecords/{_NAME}/{_NAME}\.json\Z"),
    "gc-lease": re.compile(r"\Agc/([0-9a-f]{32})\.json\Z"),
    "tmp": re.compile(
        r"\Atmp/(\d+-[0-9a-f]{32}\.part|spool-[A-Za-z0-9_.-]{1,200}|gc-\d+-[0-9a-f]{32})\Z"
    ),
    "marker": re.compile(rf"\A{re.escape(MARKER_KEY)}\Z"),
}
_RECORD_NAME_RE = re.compile(rf"\A{_NAME}\Z")


@dataclass(frozen=True)
class ParsedKey:
    """What a key is: ``kind`` (object, manifest, legacy-manifest, record, gc-lease, tmp,
    marker) and, for objects and manifests, the digest it belongs to."""

    kind: str
    key: str
    digest: str | None = None
    variant: str | None = None


def parse_key(key: str) -> ParsedKey | None:
    """The kind of ``key``, or None for a key payloadkit never writes (a foreign file)."""
    for kind, pattern in _PATTERNS.items():
        match = pattern.match(key)
        if match is None:
            continue
        if kind in ("object", "manifest", "legacy-manifest"):
            algorithm, fan, hexdigest = match.group(1), match.group(2), match.group(3)
            if fan != hexdigest[:2]:
                return None
            variant = match.group(4) if kind == "manifest" else None
            return ParsedKey(kind, key, f"{algorithm}:{hexdigest}", variant)
        return ParsedKey(kind, key)
    return None


def _split(digest: str) -> tuple[str, str]:
    return parse_digest(digest)


def object_key(digest: str, extension: str) -> str:
    """Key of a payload's bytes."""
    algorithm, hexdigest = _split(digest)
    return f"objects/{algorithm}/{hexdigest[:2]}/{hexdigest}{extension}"


def variant_of(serializer: str, type_name: str) -> str:
    """The manifest name of one (serializer, type) pair: ``pickle~3f9c0a1b2c3d4e5f``."""
    from hashlib import sha256

    tag = sha256(f"{serializer}\n{type_name}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"{serializer}~{tag[:16]}"


def digest_prefix(digest: str) -> str:
    """The prefix every manifest of ``digest`` starts with (its variants lie side by side,
    in the same fan-out folder as every other digest's: no folder per digest)."""
    algorithm, hexdigest = _split(digest)
    return f"manifests/{algorithm}/{hexdigest[:2]}/{hexdigest}."


def manifest_key(digest: str, serializer: str, type_name: str) -> str:
    """Key of the manifest of the payload (``digest`` saved with ``serializer`` as ``type_name``)."""
    return f"{digest_prefix(digest)}{variant_of(serializer, type_name)}.json"


def legacy_manifest_key(digest: str) -> str:
    """Key of a format-1 (0.1.0) manifest: one per digest."""
    algorithm, hexdigest = _split(digest)
    return f"manifests/{algorithm}/{hexdigest[:2]}/{hexdigest}.json"


def record_key(kind: str, name: str) -> str | None:
    """Key of a record, or None when ``kind`` or ``name`` is not a valid name."""
    if not all(isinstance(p, str) and _RECORD_NAME_RE.match(p) for p in (kind, name)):
        return None
    return f"records/{kind}/{name}.json"


def gc_lease_key(lease_id: str) -> str:
    """Key of the lease a running garbage collection holds."""
    return f"{GC_PREFIX}{lease_id}.json"
