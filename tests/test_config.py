"""Configuration, URLs, errors and the version guard."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit._layout import manifest_key, object_key
from payloadkit.errors import (
    ConfigurationError,
    DeserializationError,
    PayloadkitError,
    PayloadNotFoundError,
    SignatureError,
    UnknownSerializerError,
    WorkError,
)
from payloadkit.stores._opened import default_store


def test_default_store_is_payloadkit_dir_in_cwd(tmp_path: Path) -> None:
    """With nothing configured, the default store is ./.payloadkit (absolute)."""
    assert default_store().url == str(tmp_path / ".payloadkit")


def test_configure_storage_and_options_per_url() -> None:
    """Storage options are kept for the configured URL only, and never shown in settings' repr."""
    pk.configure(storage="memory://configured", storage_options={"token": "s3cr3t-value"})
    current = pk.settings()
    assert current.options_for("memory://configured/") == {"token": "s3cr3t-value"}
    assert current.options_for("memory://other") == {}
    assert "s3cr3t-value" not in repr(current)


def test_reset_returns_to_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """configure(reset=True) forgets code settings and rereads the environment."""
    monkeypatch.setenv("PAYLOADKIT_STORAGE", str(tmp_path / "env-store"))
    pk.configure(storage="memory://code")
    pk.configure(reset=True)
    assert pk.settings().storage == str(tmp_path / "env-store")


@pytest.mark.parametrize(
    "url",
    ["s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/prefix", "gs://user:pa55word@bucket"],
)
def test_urls_with_credentials_are_refused_without_echo(url: str) -> None:
    """A URL with credentials is refused and the message does not repeat them."""
    with pytest.raises(ConfigurationError) as info:
        pk.open_store(url)
    assert "wJalrXUtnFEMI" not in str(info.value)
    assert "pa55word" not in str(info.value)


def test_unknown_protocol_is_a_configuration_error() -> None:
    """An fsspec protocol nobody provides raises ConfigurationError."""
    with pytest.raises(ConfigurationError):
        pk.open_store("nosuchproto://x")


def test_local_store_takes_no_options(tmp_path: Path) -> None:
    """Options given to a local directory store are refused rather than ignored."""
    with pytest.raises(ConfigurationError):
        pk.open_store(tmp_path, anon=True)


def test_errors_pickle_with_their_fields() -> None:
    """Errors keep message and fields across processes."""
    error = PayloadNotFoundError("gone", digest="blake3:" + "1" * 64, store="memory://x")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == "gone"
    assert copy.digest == error.digest
    assert copy.store == "memory://x"
    work = pickle.loads(pickle.dumps(WorkError("boom", work="root.a", remote_traceback="tb")))
    assert work.work == "root.a"
    assert work.remote_traceback == "tb"
    assert isinstance(work, PayloadkitError)


def _rewrite_manifest(store: pk.Store, ref: pk.PayloadRef, **changes: Any) -> None:
    """Edit a stored manifest; a changed serializer or type moves it to the name they give."""
    path = Path(store.url) / store.info(ref).key
    data = json.loads(path.read_bytes())
    data.update(changes)
    path.unlink()
    target = Path(store.url) / manifest_key(ref.digest, data["serializer"], data["type"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data))


def test_newer_serializer_version_is_refused(local_store: pk.Store) -> None:
    """A payload written by a newer serializer version names both versions."""
    ref = local_store.put({"v": 1})
    _rewrite_manifest(local_store, ref, serializer_version="7")
    with pytest.raises(DeserializationError, match=r"version 7.*version 1"):
        local_store.get(ref.digest)


def test_newer_pickle_protocol_is_refused_before_decoding(local_store: pk.Store) -> None:
    """A pickle stream of an unknown protocol is refused with the versions named."""
    ref = local_store.put({"p": 1})
    path = Path(local_store.url) / object_key(ref.digest, ".pkl")
    data = bytearray(path.read_bytes())
    data[1] = pickle.HIGHEST_PROTOCOL + 1
    from payloadkit._digest import hash_buffers

    digest = hash_buffers([memoryview(bytes(data))])
    store2 = pk.open_store(Path(local_store.url).parent / "crafted")
    new_path = Path(store2.url) / object_key(digest, ".pkl")
    new_path.parent.mkdir(parents=True)
    new_path.write_bytes(bytes(data))
    manifest = json.loads((Path(local_store.url) / local_store.info(ref).key).read_bytes())
    manifest["digest"] = digest
    store2.initialize()
    man_path = Path(store2.url) / manifest_key(digest, ref.serializer, ref.type)
    man_path.parent.mkdir(parents=True)
    man_path.write_text(json.dumps(manifest))
    with pytest.raises(DeserializationError, match="protocol"):
        store2.get(digest)


def test_missing_plugin_names_the_distribution(local_store: pk.Store) -> None:
    """A payload whose serializer is not installed names the distribution to install."""
    ref = local_store.put({"x": 1})
    _rewrite_manifest(
        local_store, ref, serializer="polars-parquet", distribution="payloadkit-polars"
    )
    with pytest.raises(UnknownSerializerError, match="payloadkit-polars"):
        local_store.get(ref.digest)


def test_signing_key_refuses_unsigned_pickles(local_store: pk.Store) -> None:
    """With a key configured, an unsigned pickle payload is refused; a signed one loads."""
    unsigned = local_store.put({"unsigned": True})
    pk.configure(secret="k" * 32)
    with pytest.raises(SignatureError, match="not signed"):
        local_store.get(unsigned)
    signed = local_store.put({"signed": True})
    assert local_store.get(signed) == {"signed": True}
    assert local_store.put({"unsigned": True}) == unsigned
    assert local_store.get(unsigned) == {"unsigned": True}


def test_trusted_serializers_policy(local_store: pk.Store) -> None:
    """A load policy refuses serializers outside it, naming the policy."""
    ref = local_store.put({"x": 1})
    pk.configure(trusted_serializers=["json", "parquet"])
    with pytest.raises(SignatureError, match="trusted_serializers"):
        local_store.get(ref)
    assert local_store.get(local_store.put({"x": 1}, serializer="json")) == {"x": 1}
