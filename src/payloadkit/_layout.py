"""Every key of the on-store layout, in one place: what payloadkit writes, and nothing else.

Format 2 (this release)::

    payloadkit-store.json                              the marker: this is a store
    objects/<alg>/<2 hex>/<hex><extension>             the bytes, e.g. a plain .parquet file
    manifests/<alg>/<2 hex>/<hex>.<variant>.json       what they are, one per (serializer, type)
    records/<kind>/<name>.json                         run records and other small JSON
    gc/<id>.json                                       the lease of a garbage collection running
    tags/<name>/<20 digits>-<16 hex>.json              one change of a named payload (append-only)
    tags/<name>/<20 digits>-<16 hex>.confirmed         that change won: the tag moved
    tags/<name>/<20 digits>-<16 hex>.superseded        that change lost a race and does not count
    tmp/<pid>-<32 hex>.part, tmp/spool-*, tmp/gc-*     writes in progress, objects moved aside

Format 1 (0.1.0) kept one manifest per digest, ``manifests/<alg>/<2 hex>/<hex>.json``; such
manifests are still read (see `legacy_manifest_key`) and never written.

Identical bytes saved as two types or with two serializers are two payloads: each has its
own manifest (its *variant*, named from the serializer and the type), and they share the
object. `parse_key` tells what any key is, so that maintenance touches only what
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
    "TAGS_PREFIX",
    "ParsedKey",
    "digest_of_manifest",
    "digest_prefix",
    "gc_lease_key",
    "legacy_manifest_key",
    "manifest_key",
    "manifest_key_names",
    "object_key",
    "parse_key",
    "record_key",
    "tag_entry_key",
    "tag_mark_key",
    "tag_name_of",
    "tag_prefix",
    "valid_tag_name",
    "variant_of",
]

#: The on-store format this release writes.
FORMAT = 2
MARKER_KEY = "payloadkit-store.json"
GC_PREFIX = "gc/"
TAGS_PREFIX = "tags/"
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
    "tag": re.compile(r"\Atags/([A-Za-z0-9][A-Za-z0-9._~-]{0,199})/(\d{20}-[0-9a-f]{16})\.json\Z"),
    "tag-mark": re.compile(
        r"\Atags/([A-Za-z0-9][A-Za-z0-9._~-]{0,199})/(\d{20}-[0-9a-f]{16})\.(confirmed|superseded)\Z"
    ),
    "tmp": re.compile(
        r"\Atmp/(\d+-[0-9a-f]{32}\.part|spool-[A-Za-z0-9_.-]{1,200}|gc-\d+-[0-9a-f]{32})\Z"
    ),
    "marker": re.compile(rf"\A{re.escape(MARKER_KEY)}\Z"),
}
_RECORD_NAME_RE = re.compile(rf"\A{_NAME}\Z")
_ALL_KINDS = tuple(_PATTERNS)
#: The kinds a key can be, by its first path segment (a listing parses many keys).
_KINDS_BY_TOP = {
    "objects": ("object",),
    "manifests": ("manifest", "legacy-manifest"),
    "records": ("record",),
    "gc": ("gc-lease",),
    "tmp": ("tmp",),
    "tags": ("tag", "tag-mark"),
}
_MANIFEST_KEYS_IN_BULK = re.compile(
    r"^manifests/(?:blake3|sha256)/(?P<fan>[0-9a-f]{2})/(?P=fan)[0-9a-f]{62}"
    r"(?:\.[A-Za-z0-9_.+-]{1,100}~[0-9a-f]{16})?\.json$",
    re.MULTILINE,
)


def manifest_key_names(keys: list[str]) -> list[str]:
    """The manifest keys among ``keys`` (those :func:`parse_key` calls manifests), found in
    one pass over all of them; :func:`digest_of_manifest` names each one's digest."""
    text = "\n".join(k for k in keys if "\n" not in k)
    return [m.group(0) for m in _MANIFEST_KEYS_IN_BULK.finditer(text)]


def digest_of_manifest(key: str) -> str:
    """The digest of a manifest key (one :func:`manifest_key_names` found)."""
    _top, algorithm, _fan, name = key.split("/", 3)
    return f"{algorithm}:{name[:64]}"


_TAG_NAME_RE = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9._-]|/(?!/)){0,199}\Z")


@dataclass(frozen=True)
class ParsedKey:
    """What a key is: ``kind`` (object, manifest, legacy-manifest, record, gc-lease, tmp,
    marker, tag, tag-mark) and, for objects and manifests, the digest it belongs to; for
    tag changes and their marks, the tag's name and the change's id (``entry``), and for a
    mark whether it is ``confirmed`` or ``superseded`` (``variant``)."""

    kind: str
    key: str
    digest: str | None = None
    variant: str | None = None
    name: str | None = None
    entry: str | None = None


def parse_key(key: str) -> ParsedKey | None:
    """The kind of ``key``, or None for a key payloadkit never writes (a foreign file)."""
    for kind in _KINDS_BY_TOP.get(key.partition("/")[0], _ALL_KINDS):
        pattern = _PATTERNS[kind]
        match = pattern.match(key)
        if match is None:
            continue
        if kind in ("object", "manifest", "legacy-manifest"):
            algorithm, fan, hexdigest = match.group(1), match.group(2), match.group(3)
            if fan != hexdigest[:2]:
                return None
            variant = match.group(4) if kind == "manifest" else None
            return ParsedKey(kind, key, f"{algorithm}:{hexdigest}", variant)
        if kind in ("tag", "tag-mark"):
            name = tag_name_of(match.group(1))
            if name is None:
                return None
            variant = match.group(3) if kind == "tag-mark" else None
            return ParsedKey(kind, key, None, variant, name, match.group(2))
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


def valid_tag_name(name: object) -> bool:
    """True for a tag name: letters, digits and ``._-/``, starting with a letter or digit,
    at most 200 characters, without ``..``, ``//`` or a trailing ``/``."""
    return (
        isinstance(name, str)
        and _TAG_NAME_RE.match(name) is not None
        and ".." not in name
        and not name.endswith("/")
    )


def _escape_tag(name: str) -> str:
    # '~' never occurs in a tag name, so the escaped name is one path segment, reversibly.
    return name.replace("/", "~")


def tag_name_of(segment: str) -> str | None:
    """The tag name an escaped key segment stands for, or None when it is not one."""
    name = segment.replace("~", "/")
    return name if valid_tag_name(name) and _escape_tag(name) == segment else None


def tag_prefix(name: str) -> str:
    """The prefix under which every change of the tag ``name`` lies."""
    if not valid_tag_name(name):
        raise ValueError(f"{str(name)[:60]!r} is not a valid tag name")
    return f"{TAGS_PREFIX}{_escape_tag(name)}/"


def tag_entry_key(name: str, entry: str) -> str:
    """Key of one change of a tag; ``entry`` is ``<20-digit time in ns>-<16 hex>``, so
    that listing orders a tag's changes by time."""
    return f"{tag_prefix(name)}{entry}.json"


def tag_mark_key(name: str, entry: str, mark: str) -> str:
    """Key of the mark that the change ``entry`` of ``name`` won (``"confirmed"``) or lost
    a race (``"superseded"``)."""
    if mark not in ("confirmed", "superseded"):
        raise ValueError(f"unknown tag mark {mark!r}")
    return f"{tag_prefix(name)}{entry}.{mark}"
