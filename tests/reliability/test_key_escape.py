"""Digests, record names and manifest fields can never name a file outside the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.errors import PayloadkitError

HEX = "0123456789abcdef" * 4

BAD_DIGESTS = [
    "../../outside/secret.json",
    "blake3:../../outside/secret",
    "blake3:" + HEX.upper(),
    "blake3:" + HEX[:-1],
    "blake3:" + HEX + "0",
    "blake3:" + HEX + "\n",
    "blake3:" + HEX[:-1] + "\x00",
    " blake3:" + HEX,
    "BLAKE3:" + HEX,
    "md5:" + HEX,
    "blake3:" + "\uff10" * 64,  # fullwidth digit zero
    "blake3:" + "\u0660" * 64,  # Arabic-Indic digit zero
    "blake3:" + HEX[:-1] + "\u0430",  # Cyrillic a
    "blake3%3A" + HEX,
    "blake3:/" + HEX[1:],
    "/etc/passwd",
    "file:///etc/passwd",
    "s3://bucket/" + HEX,
    "blake3:" + HEX + "/../..",
    "",
]

BAD_NAMES = [
    "..",
    "../outside",
    "a/b",
    "/abs",
    "a\\b",
    "a\x00b",
    ".hidden",
    "-rf",
    "",
    "\uff41",  # fullwidth a
    "name\n",
    "x" * 201,
    "s3://bucket/key",
]


@pytest.fixture
def surroundings(tmp_path: Path) -> tuple[pk.Store, Path]:
    """A store with a payload and a record, next to a directory it must never touch."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text('{"secret": true}')
    store = pk.open_store(tmp_path / "store")
    store.put_record("runs", "r1", {"a": 1})
    store.put({"a": 1}, serializer="json")
    return store, tmp_path


def _operations(store: pk.Store, digest: Any) -> list[Any]:
    return [
        lambda: store.get(digest),
        lambda: store.info(digest),
        lambda: store.exists(digest),
        lambda: store.delete(digest),
        lambda: pk.PayloadRef(digest, "json", "1", 1, "builtins.dict"),
        lambda: (
            pk.Payload.from_dict(
                {
                    "kind": "payloadkit.Payload",
                    "ref": {
                        "digest": digest,
                        "serializer": "json",
                        "serializer_version": "1",
                        "size": 1,
                        "type": "builtins.dict",
                        "store": store.url,
                    },
                }
            ).value
        ),
    ]


@pytest.mark.parametrize("digest", [*BAD_DIGESTS, b"blake3:" + HEX.encode(), None, 7])
def test_bad_digests_are_refused(
    surroundings: tuple[pk.Store, Path], on_disk: Any, digest: Any
) -> None:
    """Each operation raises a PayloadkitError and the files around the store stay as they were."""
    store, around = surroundings
    before = on_disk.snapshot(around)
    for operation in _operations(store, digest):
        with pytest.raises(PayloadkitError):
            operation()
    assert on_disk.snapshot(around) == before


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_record_names_are_refused(
    surroundings: tuple[pk.Store, Path], on_disk: Any, name: str
) -> None:
    """Record kinds and names outside letters, digits and '._-' are refused, touching nothing."""
    store, around = surroundings
    before = on_disk.snapshot(around)
    operations = [
        lambda: store.put_record("runs", name, {"x": 1}),
        lambda: store.put_record(name, "r2", {"x": 1}),
        lambda: store.get_record("runs", name),
        lambda: store.get_record(name, "r1"),
        lambda: store.delete_record("runs", name),
        lambda: store.list_records(name),
    ]
    for operation in operations:
        with pytest.raises(PayloadkitError):
            operation()
    assert on_disk.snapshot(around) == before


@pytest.mark.parametrize(
    "extension",
    ["/../../outside/secret", "/../../../outside/x", ".json/..", "..", ".a.b.c.d", ".\x00"],
)
def test_manifest_extension_cannot_escape(
    surroundings: tuple[pk.Store, Path], on_disk: Any, extension: str
) -> None:
    """A manifest whose extension tries to leave its directory is corrupt: get refuses it,
    listing skips it with a warning, and delete removes that payload's files and nothing else."""
    store, around = surroundings
    digest = next(iter(store)).digest
    on_disk.rewrite_manifest(store, digest, extension=extension)
    own = {on_disk.manifest(store, digest), *Path(store.url).glob("objects/*/*/*")}

    def other_files() -> dict[str, tuple[int, int]]:
        found = on_disk.snapshot(around).items()
        return {k: v for k, v in found if (around / k).is_file() and around / k not in own}

    before = other_files()
    with pytest.raises(pk.errors.IntegrityError):
        store.get(digest)
    with pytest.warns(UserWarning, match=f"Skipping {digest}"):
        assert digest not in {ref.digest for ref in store}
    store.delete(digest)
    assert not any(path.exists() for path in own)
    assert other_files() == before


def test_stray_files_in_manifests_are_ignored(surroundings: tuple[pk.Store, Path]) -> None:
    """Files under manifests/ that are not named like a digest are never listed or read."""
    store, _ = surroundings
    digest = next(iter(store)).digest
    stray = (Path(store.url) / store.info(digest).key).parent
    (stray.parent / "..json").write_text("{}")
    (stray.parent / ("A" * 64 + ".json")).write_text("{}")
    (Path(store.url) / "manifests" / "md5").mkdir()
    assert [r.digest for r in store] == [digest]


@pytest.mark.parametrize(
    "store_url", ["s3://KEY:SECRET@bucket/x", "memory://x?a=b", "s3://b/x#frag", "   "]
)
def test_ref_store_urls_with_tricks_are_refused(store_url: str) -> None:
    """A ref naming a store URL with credentials, query, fragment or nothing is refused unopened."""
    ref = pk.PayloadRef("blake3:" + HEX, "json", "1", 1, "builtins.dict", store_url)
    with pytest.raises(pk.errors.ConfigurationError) as caught:
        pk.Payload.from_ref(ref).value  # noqa: B018
    assert "SECRET" not in str(caught.value)


def test_ref_json_with_unknown_fields(surroundings: tuple[pk.Store, Path]) -> None:
    """A ref with extra fields (a path smuggled in) is refused."""
    store, _ = surroundings
    ref = next(iter(store))
    data = {**ref.to_dict(), "path": "../../outside/secret.json"}
    with pytest.raises(pk.errors.ConfigurationError, match="path"):
        pk.PayloadRef.from_json(json.dumps(data))
