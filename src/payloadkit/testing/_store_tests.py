"""StoreTests: the conformance suite every store passes, with back doors that bypass the store.

Reads through the store are checked against bytes written around it (the back door), and
the other way round, so a store cannot pass by agreeing with itself.
"""

from __future__ import annotations

import json
import os

import pytest

from payloadkit._digest import hash_buffers
from payloadkit._layout import FORMAT, MARKER_KEY, object_key
from payloadkit._layout import manifest_key as _manifest_key
from payloadkit._ref import PayloadRef
from payloadkit.errors import (
    ConfigurationError,
    IntegrityError,
    NotAStoreError,
    PayloadkitError,
    PayloadNotFoundError,
)
from payloadkit.stores import FsspecStore, LocalStore, Store
from payloadkit.testing._partial_tests import PartialReadTests
from payloadkit.testing._tag_tests import TagTests

__all__ = ["StoreTests"]

_MISSING = "blake3:" + "0" * 64


def manifest_key(ref: PayloadRef) -> str:
    """Key of the manifest of the payload ``ref`` names."""
    return _manifest_key(ref.digest, ref.serializer, ref.type)


class StoreTests(PartialReadTests, TagTests):
    """Subclass in your tests and provide a ``store`` fixture returning an empty store.

    ```python
    import pytest
    import payloadkit as pk
    from payloadkit.testing import StoreTests

    class TestMyStore(StoreTests):
        @pytest.fixture
        def store(self, tmp_path):
            return pk.open_store(tmp_path / "store")
    ```

    The back-door hooks (`raw_get`, `raw_set`, `raw_keys`) bypass the
    store: for `LocalStore` and `FsspecStore` they go around the backend too
    (the filesystem itself); for any other store they call its `Backend` directly.
    """

    @pytest.fixture
    def store(self) -> Store:
        """An empty store under test."""
        raise NotImplementedError("provide a `store` fixture")

    # -- back doors ---------------------------------------------------------------------
    def raw_get(self, store: Store, key: str) -> bytes:
        """Bytes at ``key`` read without the store's logic."""
        if isinstance(store, LocalStore):
            with open(os.path.join(store.root, *key.split("/")), "rb") as f:
                return f.read()
        if isinstance(store, FsspecStore):
            store.fs.invalidate_cache()
            return bytes(store.fs.cat_file(f"{store.root}/{key}"))
        return store.backend.read(key, 1 << 40)

    def raw_set(self, store: Store, key: str, data: bytes) -> None:
        """Write bytes at ``key`` without the store's logic."""
        if isinstance(store, LocalStore):
            path = os.path.join(store.root, *key.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            return
        if isinstance(store, FsspecStore):
            path = f"{store.root}/{key}"
            store.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            store.fs.pipe_file(path, data)
            store.fs.invalidate_cache()
            return
        store.backend.write(key, data)

    def raw_keys(self, store: Store) -> set[str]:
        """Every key in the store, listed without the store's logic."""
        if isinstance(store, LocalStore):
            found: set[str] = set()
            for directory, _dirs, files in os.walk(store.root):
                rel = os.path.relpath(directory, store.root).replace(os.sep, "/")
                found.update(f"{rel}/{name}" if rel != "." else name for name in files)
            return found
        if isinstance(store, FsspecStore):
            store.fs.invalidate_cache()
            try:
                paths = store.fs.find(store.root)
            except FileNotFoundError:
                return set()
            root = store.root.strip("/")
            return {p.strip("/")[len(root) :].lstrip("/") for p in paths}
        return {info.key for info in store.backend.list("")}

    def payload_keys(self, store: Store) -> set[str]:
        """Keys of objects and manifests (temporary files excluded)."""
        return {k for k in self.raw_keys(store) if k.startswith(("objects/", "manifests/"))}

    # -- put and get ----------------------------------------------------------------------
    def test_put_get_roundtrip(self, store: Store) -> None:
        """Objects of several kinds come back equal."""
        for obj in ({"a": 1}, [1, 2.5, "x"], b"\x00" * 100, "text", None, (1, (2, 3))):
            assert store.get(store.put(obj)) == obj

    def test_ref_describes_the_stored_bytes(self, store: Store) -> None:
        """The ref's digest and size are those of the bytes behind the store's back."""
        ref = store.put({"k": list(range(100))})
        raw = self.raw_get(store, object_key(ref.digest, store.info(ref).extension))
        assert ref.size == len(raw)
        assert ref.digest == hash_buffers([memoryview(raw)])
        assert ref.store == store.url
        assert ref.type == "builtins.dict"
        assert ref.serializer == "pickle"

    def test_manifest_is_plain_json_without_store(self, store: Store) -> None:
        """The manifest beside the object holds the ref's fields, versions and no store URL."""
        ref = store.put([1, 2, 3])
        data = json.loads(self.raw_get(store, manifest_key(ref)))
        assert data["digest"] == ref.digest
        assert data["serializer"] == ref.serializer
        assert data["size"] == ref.size
        assert data["type"] == ref.type
        assert "store" not in data
        assert "python" in data
        assert "created" in data

    def test_get_by_digest_string(self, store: Store) -> None:
        """A bare digest string loads like the ref."""
        ref = store.put("by digest")
        assert store.get(ref.digest) == "by digest"

    def test_identical_bytes_are_stored_once(self, store: Store) -> None:
        """Putting the same object twice returns the same ref and writes one object."""
        first = store.put({"same": True})
        keys = self.payload_keys(store)
        second = store.put({"same": True})
        assert first == second
        assert self.payload_keys(store) == keys
        assert len([k for k in keys if k.startswith("objects/")]) == 1

    def test_large_object_roundtrip(self, store: Store) -> None:
        """A multi-megabyte object crosses the store's large-object paths intact."""
        blob = os.urandom(3 * 1024 * 1024 + 7)
        assert store.get(store.put(blob)) == blob

    def test_standard_format_is_a_plain_file(self, store: Store) -> None:
        """A json payload is stored as the JSON text itself, with a .json name."""
        ref = store.put({"plain": [1, 2]}, serializer="json")
        key = object_key(ref.digest, ".json")
        assert key in self.raw_keys(store)
        assert json.loads(self.raw_get(store, key)) == {"plain": [1, 2]}

    def test_compressed_payload_is_a_standard_frame(self, store: Store) -> None:
        """A text-heavy pickle is stored as one zstd frame (.pkl.zst) that zstd opens and
        that loads back; the manifest records the codec and the raw size."""
        zstandard = pytest.importorskip("zstandard")
        records = [{"i": i, "text": "compressible text " * 8} for i in range(2000)]
        ref = store.put(records)
        manifest = store.info(ref)
        assert manifest.extension == ".pkl.zst"
        assert manifest.compression is not None
        raw = self.raw_get(store, object_key(ref.digest, ".pkl.zst"))
        assert len(raw) == ref.size
        assert len(zstandard.ZstdDecompressor().decompress(raw)) == manifest.compression.size
        assert store.get(ref) == records
        assert store.put(records, compression=None) != ref  # other bytes, another digest

    def test_tampered_compression_record_never_gives_wrong_data(self, store: Store) -> None:
        """A manifest whose compression record is altered (size, codec) fails typed."""
        pytest.importorskip("zstandard")
        records = [{"i": i, "text": "compressible text " * 8} for i in range(2000)]
        ref = store.put(records)
        key = manifest_key(ref)
        original = json.loads(self.raw_get(store, key))
        bad = [
            {**original["compression"], "size": original["compression"]["size"] - 1},
            {**original["compression"], "codec": "no-such-codec"},
        ]
        for record in bad:
            self.raw_set(store, key, json.dumps({**original, "compression": record}).encode())
            with pytest.raises(PayloadkitError):
                store.get(ref)

    def test_reads_objects_written_behind_its_back(self, store: Store) -> None:
        """An object and manifest copied in by other means load through the store."""
        ref = store.put(["copied"])
        manifest = self.raw_get(store, manifest_key(ref))
        data = self.raw_get(store, object_key(ref.digest, ".pkl"))
        store.delete(ref)
        assert not store.exists(ref)
        self.raw_set(store, object_key(ref.digest, ".pkl"), data)
        self.raw_set(store, manifest_key(ref), manifest)
        assert store.get(ref.digest) == ["copied"]

    # -- presence, listing, deletion ------------------------------------------------------
    def test_exists_info_delete(self, store: Store) -> None:
        """A put payload exists and has info; after delete it is gone, bytes and manifest."""
        ref = store.put({"delete": "me"})
        assert store.exists(ref)
        assert store.exists(ref.digest)
        assert store.info(ref).ref == ref
        store.delete(ref)
        assert not store.exists(ref)
        assert not self.payload_keys(store)
        with pytest.raises(PayloadNotFoundError):
            store.get(ref)

    def test_iterates_over_refs(self, store: Store) -> None:
        """Listing yields exactly the refs put."""
        refs = {store.put(i) for i in range(5)}
        assert set(store) == refs

    def test_object_without_manifest_is_invisible(self, store: Store) -> None:
        """Bytes with no manifest (a crashed write) are neither listed nor found."""
        digest = hash_buffers([memoryview(b"orphan")])
        self.raw_set(store, object_key(digest, ".pkl"), b"orphan")
        assert not store.exists(digest)
        assert list(store) == []

    # -- errors -----------------------------------------------------------------------------
    def test_missing_payload_names_the_store(self, store: Store) -> None:
        """Getting an unknown digest raises PayloadNotFoundError naming digest and store."""
        with pytest.raises(PayloadNotFoundError) as info:
            store.get(_MISSING)
        assert _MISSING in str(info.value)
        assert store.url in str(info.value)
        assert info.value.digest == _MISSING
        assert info.value.store == store.url

    def test_malformed_digest_is_refused(self, store: Store) -> None:
        """Digests that are not algorithm:64-hex never reach the backend."""
        for bad in ("../../etc/passwd", "blake3:../x", "md5:" + "0" * 64, "blake3:" + "A" * 64, ""):
            with pytest.raises(ConfigurationError):
                store.get(bad)

    def test_corrupted_bytes_are_detected_before_decoding(self, store: Store) -> None:
        """A flipped byte in a stored object raises IntegrityError."""
        ref = store.put({"payload": "x" * 1000})
        key = object_key(ref.digest, ".pkl")
        data = bytearray(self.raw_get(store, key))
        data[len(data) // 2] ^= 0xFF
        self.raw_set(store, key, bytes(data))
        with pytest.raises(IntegrityError):
            store.get(ref)

    def test_corrupted_manifest_is_detected(self, store: Store) -> None:
        """A manifest that is not valid JSON raises IntegrityError."""
        ref = store.put({"manifest": "broken"})
        self.raw_set(store, manifest_key(ref), b"{not json")
        with pytest.raises(IntegrityError):
            store.get(ref)

    def test_put_repairs_a_corrupted_manifest(self, store: Store) -> None:
        """Putting the object again replaces a corrupted manifest."""
        ref = store.put({"repair": 1})
        self.raw_set(store, manifest_key(ref), b"\x00garbage")
        assert store.put({"repair": 1}) == ref
        assert store.get(ref) == {"repair": 1}

    def test_manifest_without_object(self, store: Store) -> None:
        """A manifest whose bytes are missing raises PayloadNotFoundError, not a crash."""
        ref = store.put({"bytes": "missing"})
        manifest = self.raw_get(store, manifest_key(ref))
        store.delete(ref)
        self.raw_set(store, manifest_key(ref), manifest)
        with pytest.raises(PayloadNotFoundError):
            store.get(ref)

    def test_ref_with_another_serializer_is_another_payload(self, store: Store) -> None:
        """A ref naming the same bytes with another serializer finds no payload."""
        ref = store.put({"a": 1})
        forged = PayloadRef(ref.digest, "json", "1", ref.size, ref.type, ref.store)
        with pytest.raises(PayloadNotFoundError):
            store.get(forged)

    def test_manifest_under_another_name_is_refused(self, store: Store) -> None:
        """A manifest copied under the name of another (serializer, type) is damaged, not used."""
        ref = store.put({"a": 1})
        forged = PayloadRef(
            ref.digest, ref.serializer, ref.serializer_version, ref.size, "builtins.list"
        )
        self.raw_set(store, manifest_key(forged), self.raw_get(store, manifest_key(ref)))
        with pytest.raises(IntegrityError):
            store.get(forged)
        assert store.get(ref) == {"a": 1}

    def test_same_bytes_as_two_types_are_two_payloads(self, store: Store) -> None:
        """Identical bytes saved as two types load as their own types and are both listed."""

        class Text(str):
            """A str subclass whose pickle differs from str's: used to fake identical bytes."""

        plain = store.put("same")
        data = self.raw_get(store, object_key(plain.digest, ".pkl"))
        other = PayloadRef(
            plain.digest,
            plain.serializer,
            plain.serializer_version,
            plain.size,
            "builtins.bytes",
            store.url,
        )
        manifest = json.loads(self.raw_get(store, manifest_key(plain)))
        manifest["type"] = "builtins.bytes"
        self.raw_set(store, manifest_key(other), json.dumps(manifest).encode())
        assert store.get(plain) == "same"
        assert store.info(other).ref == other
        assert {r.type for r in store} == {"builtins.str", "builtins.bytes"}
        store.delete(other)
        assert store.get(plain) == "same"
        assert self.raw_get(store, object_key(plain.digest, ".pkl")) == data

    def test_put_repairs_a_corrupted_object(self, store: Store) -> None:
        """Putting an object whose stored bytes were damaged rewrites them: the ref loads."""
        ref = store.put({"repair": "bytes" * 100})
        key = object_key(ref.digest, ".pkl")
        data = bytearray(self.raw_get(store, key))
        data[-3] ^= 0xFF
        self.raw_set(store, key, bytes(data))
        assert store.put({"repair": "bytes" * 100}) == ref
        assert store.get(ref) == {"repair": "bytes" * 100}

    def test_first_write_creates_the_marker(self, store: Store) -> None:
        """A store's first save writes its marker; the store then knows it is one."""
        assert MARKER_KEY not in self.raw_keys(store)
        assert store.marker() is None
        store.put(1)
        assert MARKER_KEY in self.raw_keys(store)
        assert store.require_store().format == FORMAT

    def test_foreign_files_make_it_no_store(self, store: Store) -> None:
        """A location holding files payloadkit did not write is refused, and nothing is written."""
        self.raw_set(store, "notes.txt", b"mine")
        with pytest.raises(NotAStoreError):
            store.put({"x": 1})
        with pytest.raises(NotAStoreError):
            list(store)
        assert self.raw_keys(store) == {"notes.txt"}

    def test_empty_location_reads_as_empty(self, store: Store) -> None:
        """Before its first write a store lists nothing and finds nothing, without writing."""
        assert list(store) == []
        assert not store.exists(_MISSING)
        with pytest.raises(PayloadNotFoundError):
            store.get(_MISSING)
        assert not self.payload_keys(store)

    def test_errors_are_payloadkit_errors(self, store: Store) -> None:
        """Every failure above derives from PayloadkitError."""
        with pytest.raises(PayloadkitError):
            store.info(_MISSING)

    # -- records ------------------------------------------------------------------------------
    def test_records_roundtrip(self, store: Store) -> None:
        """Records are written, listed, read and deleted by kind and name."""
        store.put_record("runs", "r1", {"x": 1})
        store.put_record("runs", "r2", {"x": 2})
        assert store.list_records("runs") == ["r1", "r2"]
        assert store.get_record("runs", "r2") == {"x": 2}
        store.delete_record("runs", "r1")
        assert store.list_records("runs") == ["r2"]
        with pytest.raises(PayloadNotFoundError):
            store.get_record("runs", "r1")

    def test_record_names_cannot_escape(self, store: Store) -> None:
        """Record kinds and names with path tricks are refused."""
        for kind, name in (("runs", "../x"), ("../runs", "x"), ("runs", "a/b"), ("runs", "")):
            with pytest.raises(ConfigurationError):
                store.put_record(kind, name, {})

    # -- behaves like a dict ----------------------------------------------------------------
    def test_behaves_like_a_dict(self, store: Store) -> None:
        """Random sequences of put/get/delete/list agree with a dict model (Hypothesis)."""
        from payloadkit.testing._state_machine import run_store_machine

        run_store_machine(store)
