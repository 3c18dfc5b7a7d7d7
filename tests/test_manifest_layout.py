"""Manifest text layout: written on one line, read in any layout, signatures independent of it."""

from __future__ import annotations

import json
from pathlib import Path

import payloadkit as pk
from payloadkit._manifest import Manifest

KEY = "manifest-layout-key-0123456789abcdef"


def _manifest_path(store: pk.Store, digest: str) -> Path:
    return Path(store.root, *store.info(digest).key.split("/"))  # type: ignore[attr-defined]


def test_manifest_is_written_on_one_line(local_store: pk.Store) -> None:
    """A new manifest is one line of JSON with sorted keys that parses back to the same manifest."""
    ref = local_store.put({"a": 1})
    raw = _manifest_path(local_store, ref.digest).read_bytes()
    assert b"\n" not in raw
    data = json.loads(raw)
    assert list(data) == sorted(data)
    assert Manifest.parse(raw, local_store.url, ref.digest) == local_store.info(ref)


def test_indented_signed_manifest_still_loads(local_store: pk.Store) -> None:
    """A signed pickle whose manifest is in the older indented layout verifies and loads."""
    pk.configure(secret=KEY)
    ref = local_store.put({"signed": True}, serializer="pickle")
    path = _manifest_path(local_store, ref.digest)
    indented = json.dumps(json.loads(path.read_bytes()), sort_keys=True, indent=1).encode()
    path.write_bytes(indented)
    assert local_store.info(ref).signature is not None
    assert local_store.get(ref) == {"signed": True}


def test_bulk_manifest_parsing_agrees_with_parse_key() -> None:
    """manifest_key_names finds exactly the manifest keys parse_key recognises, hostile ones
    refused, and digest_of_manifest names each one's digest."""
    from payloadkit._layout import digest_of_manifest, manifest_key, manifest_key_names, parse_key

    good = [manifest_key("blake3:" + f"{n:02x}" * 32, "json", "builtins.dict") for n in range(5)]
    legacy = "manifests/sha256/ab/" + "ab" * 32 + ".json"
    hostile = [
        "manifests/blake3/zz/" + "a" * 64 + ".json",  # fan-out is no hex
        "manifests/blake3/ac/" + "ab" * 32 + ".json",  # fan-out of another digest
        "manifests/md5/ab/" + "ab" * 32 + ".json",
        "manifests/blake3/ab/" + "ab" * 32 + ".json\nmanifests/x",
        "objects/blake3/ab/" + "ab" * 32 + ".json",
    ]
    keys = [*good, legacy, *hostile]
    expected = sorted((p.digest, p.key) for p in map(parse_key, keys) if p and "manifest" in p.kind)
    found = manifest_key_names(keys)
    assert sorted((digest_of_manifest(k), k) for k in found) == expected
    assert len(expected) == 6
