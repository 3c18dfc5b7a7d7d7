"""Signed payloads, load policies and version guards: what may load, and what is refused first."""

from __future__ import annotations

import pathlib
import pickle
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.errors import (
    DeserializationError,
    IntegrityError,
    PayloadNotFoundError,
    SignatureError,
    UnknownSerializerError,
)

KEY_A = "reliability-key-a-0123456789abcdef"  # the ``signed`` fixture's key
KEY_B = "reliability-key-b-0123456789abcdef"


class _Planted:
    """Loading this runs code: it creates the file it names (a stand-in for an attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.usefixtures("signed")
def test_signed_round_trip_carries_a_signature(local_store: pk.Store) -> None:
    """With a key, manifests are signed and signed pickles load."""
    ref = local_store.put({"a": 1}, serializer="pickle")
    signature = local_store.info(ref).signature
    assert signature is not None
    assert signature.startswith("hmac-sha256:")
    assert local_store.get(ref) == {"a": 1}


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("serializer", "cloudpickle", "does not match"),
        ("type", "builtins.list", "does not match"),
        ("serializer_version", "0", "does not match"),
        ("signature", None, "not signed"),
        ("signature", "hmac-sha256:deadbeef:" + "0" * 64, "not among the configured keys"),
        ("signature", "hmac-sha256:zz", "malformed"),
        ("signature", "hmac-sha256:é:ü", "malformed"),
    ],
)
@pytest.mark.usefixtures("signed")
def test_tampered_manifest_is_refused_before_reading(
    local_store: pk.Store, on_disk: Any, field: str, value: Any, why: str
) -> None:
    """A changed field or signature refuses the load with SignatureError before the bytes are read."""
    ref = local_store.put({"a": 1}, serializer="pickle")
    on_disk.rewrite_manifest(local_store, ref.digest, **{field: value})
    on_disk.object(local_store, ref.digest).unlink()  # reading would raise PayloadNotFoundError
    with pytest.raises(SignatureError, match=why) as caught:
        local_store.get(ref.digest)
    assert caught.value.digest == ref.digest
    assert caught.value.store == local_store.url


@pytest.mark.usefixtures("signed")
def test_tampered_size_is_refused_before_reading(local_store: pk.Store, on_disk: Any) -> None:
    """A changed size fails the signature before the (now corrupt) bytes are read or hashed."""
    ref = local_store.put(list(range(100)), serializer="pickle")
    path = on_disk.object(local_store, ref.digest)
    path.write_bytes(path.read_bytes() + b"tail")
    on_disk.rewrite_manifest(local_store, ref.digest, size=ref.size + 4)
    with pytest.raises(SignatureError, match="does not match"):
        local_store.get(ref.digest)


def test_digest_swap_with_a_copied_signature_is_refused(
    local_store: pk.Store, on_disk: Any, tmp_path: Path
) -> None:
    """Another payload's signature copied onto a planted pickle does not verify for its digest."""
    pk.configure(secret=KEY_A)
    good = local_store.put({"a": 1}, serializer="pickle")
    signature = local_store.info(good).signature
    marker = tmp_path / "ran"
    evil = on_disk.plant(
        local_store, pickle.dumps(_Planted(marker)), type_name="builtins.dict", signature=signature
    )
    with pytest.raises(SignatureError, match="does not match"):
        local_store.get(evil)
    assert not marker.exists()


def test_unsigned_pickle_never_runs_with_a_key(
    local_store: pk.Store, on_disk: Any, tmp_path: Path
) -> None:
    """An unsigned pickle planted in the store is refused with a key configured, and runs nothing."""
    marker = tmp_path / "ran"
    digest = on_disk.plant(local_store, pickle.dumps(_Planted(marker)))
    pk.configure(secret=KEY_A)
    for serializer in ("pickle", "cloudpickle", "dill"):
        on_disk.rewrite_manifest(local_store, digest, serializer=serializer)
        with pytest.raises(SignatureError, match="can run code on load"):
            local_store.get(digest)
    assert not marker.exists()
    pk.configure(secret="")
    local_store.get(digest)  # without a key the store is trusted: the control run
    assert marker.exists()


def test_wrong_key_is_refused(local_store: pk.Store) -> None:
    """A pickle signed with a key that is not configured is refused, naming the key ids."""
    pk.configure(secret=KEY_A)
    ref = local_store.put({"a": 1}, serializer="pickle")
    pk.configure(secret=KEY_B)
    with pytest.raises(SignatureError, match="not among the configured keys"):
        local_store.get(ref)


def test_key_rotation(local_store: pk.Store, report_figure: Any) -> None:
    """The first key signs, every configured key verifies; dropping a key refuses what it signed."""
    pk.configure(secret=KEY_A)
    old = local_store.put("old", serializer="pickle")
    old_signature = local_store.info(old).signature
    pk.configure(secret=[KEY_B, KEY_A])
    new = local_store.put("new", serializer="pickle")
    assert (local_store.get(old), local_store.get(new)) == ("old", "new")
    assert local_store.info(new).signature != old_signature
    local_store.put("old", serializer="pickle")  # saving again re-signs with the first key
    assert local_store.info(old).signature != old_signature
    pk.configure(secret=KEY_B)
    assert (local_store.get(old), local_store.get(new)) == ("old", "new")
    pk.configure(secret=KEY_A)
    with pytest.raises(SignatureError, match="not among the configured keys"):
        local_store.get(new)
    report_figure(
        "key rotation: old payloads load while both keys are configured, re-signed on save"
    )


def test_environment_keys_rotate(local_store: pk.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """PAYLOADKIT_SECRET holds comma-separated keys; the first signs."""
    monkeypatch.setenv("PAYLOADKIT_SECRET", KEY_A)
    pk.configure(reset=True)
    ref = local_store.put(1, serializer="pickle")
    monkeypatch.setenv("PAYLOADKIT_SECRET", f"{KEY_B}, {KEY_A}")
    pk.configure(reset=True)
    assert local_store.get(ref) == 1
    keyring = pk.settings().keyring
    assert keyring is not None
    assert len(keyring.key_ids) == 2


def test_non_code_serializers_load_unsigned(local_store: pk.Store) -> None:
    """numpy, parquet and json payloads written without a key load with one configured."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [1, 2]})
    refs = {
        "numpy": local_store.put(np.arange(5)),
        "parquet": local_store.put(frame),
        "json": local_store.put({"k": [1]}, serializer="json"),
    }
    pk.configure(secret=KEY_A)
    assert [r.serializer for r in refs.values()] == list(refs)
    assert local_store.get(refs["numpy"]).tolist() == [0, 1, 2, 3, 4]
    assert local_store.get(refs["parquet"]).equals(frame)
    assert local_store.get(refs["json"]) == {"k": [1]}


@pytest.mark.usefixtures("signed")
def test_signed_non_code_payload_altered_is_refused(local_store: pk.Store, on_disk: Any) -> None:
    """A json payload signed with our key whose manifest was altered is refused too."""
    ref = local_store.put({"k": 1}, serializer="json")
    on_disk.rewrite_manifest(local_store, ref.digest, type="collections.OrderedDict")
    with pytest.raises(SignatureError, match="does not match"):
        local_store.get(ref.digest)


def test_resigning_replaces_planted_bytes(local_store: pk.Store, on_disk: Any) -> None:
    """Saving with a key over an unsigned entry rewrites its bytes too, not only the manifest."""
    ref = local_store.put({"a": 1}, serializer="pickle")
    path = on_disk.object(local_store, ref.digest)
    path.write_bytes(b"planted by someone else")
    pk.configure(secret=KEY_A)
    again = local_store.put({"a": 1}, serializer="pickle")
    assert again.digest == ref.digest
    assert local_store.get(again) == {"a": 1}


def test_unsigned_manifest_cannot_block_a_signed_save(local_store: pk.Store, on_disk: Any) -> None:
    """A planted unsigned manifest claiming another serializer does not stop a keyed writer."""
    ref = local_store.put([1, 2], serializer="pickle")
    on_disk.rewrite_manifest(local_store, ref.digest, serializer="dill")
    pk.configure(secret=KEY_A)
    assert local_store.get(local_store.put([1, 2], serializer="pickle")) == [1, 2]


def test_keyring_never_leaves_the_process() -> None:
    """A keyring refuses pickling and its repr shows key ids, never keys."""
    pk.configure(secret=KEY_A)
    keyring = pk.settings().keyring
    assert keyring is not None
    assert KEY_A not in repr(keyring)
    assert KEY_A not in repr(pk.settings())
    with pytest.raises(TypeError, match="PAYLOADKIT_SECRET"):
        pickle.dumps(keyring)


@pytest.mark.parametrize("secret", ["short", ["a" * 32, "tiny"], [b"x" * 32, 7]])
def test_weak_or_odd_keys_are_refused(secret: Any) -> None:
    """Keys under 16 bytes or of other types raise ConfigurationError."""
    with pytest.raises(pk.errors.ConfigurationError):
        pk.configure(secret=secret)


# -- load policies -------------------------------------------------------------------
def test_global_policy_refuses_before_reading(local_store: pk.Store, on_disk: Any) -> None:
    """trusted_serializers refuses other serializers with SignatureError naming the policy."""
    ref = local_store.put({"a": 1}, serializer="pickle")
    ok = local_store.put({"a": 1}, serializer="json")
    pk.configure(trusted_serializers=["json", "numpy", "parquet"])
    on_disk.object(local_store, ref.digest).unlink()
    with pytest.raises(SignatureError, match=r"trusted_serializers=\['json', 'numpy', 'parquet'\]"):
        local_store.get(ref)
    assert local_store.get(ok) == {"a": 1}


def test_store_policy_overrides_global(tmp_path: Path) -> None:
    """A store opened with trusted_serializers uses that policy instead of the global one."""
    writer = pk.open_store(tmp_path / "s")
    refs = [writer.put({"a": 1}, serializer="json"), writer.put({"a": 1}, serializer="pickle")]
    pk.configure(trusted_serializers=["pickle"])
    strict = pk.open_store(tmp_path / "s", trusted_serializers="json")
    assert strict.trusted_serializers == frozenset({"json"})
    assert strict.get(refs[0]) == {"a": 1}
    with pytest.raises(SignatureError, match="load policy"):
        strict.get(refs[1])
    assert pk.open_store(tmp_path / "s").get(refs[1]) == {"a": 1}
    with pytest.raises(SignatureError):
        pk.open_store(tmp_path / "s").get(refs[0])


def test_store_policy_through_storage_options(tmp_path: Path) -> None:
    """configure(storage_options={'trusted_serializers': ...}) applies to the default store."""
    pk.configure(storage=tmp_path / "d", storage_options={"trusted_serializers": ["json"]})
    ref = pk.open_store(tmp_path / "d").put([1], serializer="pickle")
    with pytest.raises(SignatureError):
        pk.Payload.from_ref(ref).value  # noqa: B018


def test_policy_and_key_both_apply(local_store: pk.Store) -> None:
    """A policy that trusts pickle does not waive the signature a key requires."""
    ref = local_store.put(3, serializer="pickle")
    pk.configure(secret=KEY_A, trusted_serializers=["pickle"])
    with pytest.raises(SignatureError, match="not signed"):
        local_store.get(ref)


# -- version guards -----------------------------------------------------------------
def test_newer_pickle_protocol_is_named(local_store: pk.Store, on_disk: Any) -> None:
    """A pickle of a protocol above HIGHEST_PROTOCOL fails naming both protocols."""
    future = bytes([0x80, pickle.HIGHEST_PROTOCOL + 1]) + b"N."
    digest = on_disk.plant(local_store, future)
    with pytest.raises(DeserializationError) as caught:
        local_store.get(digest)
    message = str(caught.value)
    assert f"protocol {pickle.HIGHEST_PROTOCOL + 1}" in message
    assert f"up to protocol {pickle.HIGHEST_PROTOCOL}" in message
    assert "newer Python" in message
    assert "written by Python 3.11.0" in message
    assert caught.value.digest == digest


def test_newer_serializer_version_is_named(local_store: pk.Store, on_disk: Any) -> None:
    """A payload of a newer serializer version fails naming both versions and what to install."""
    ref = local_store.put({"a": 1}, serializer="json")
    on_disk.rewrite_manifest(local_store, ref.digest, serializer_version="2.1")
    on_disk.object(local_store, ref.digest).unlink()
    with pytest.raises(DeserializationError) as caught:
        local_store.get(ref.digest)
    message = str(caught.value)
    assert "version 2.1" in message
    assert "version 1" in message
    assert "pip install --upgrade" in message


@pytest.mark.parametrize("version", ["9" * 5000, "1\n2", ""])
def test_absurd_serializer_versions_are_corrupt(
    local_store: pk.Store, on_disk: Any, version: str
) -> None:
    """Overlong, multi-line or empty versions make the manifest corrupt (IntegrityError)."""
    ref = local_store.put({"a": 1}, serializer="json")
    on_disk.rewrite_manifest(local_store, ref.digest, serializer_version=version)
    with pytest.raises(IntegrityError):
        local_store.get(ref.digest)


def test_unsigned_distribution_advice_is_flagged(local_store: pk.Store, on_disk: Any) -> None:
    """With a key, a missing serializer's distribution from an unsigned manifest is not advice to install."""
    ref = local_store.put({"a": 1}, serializer="json")
    on_disk.rewrite_manifest(
        local_store, ref.digest, serializer="evil-format", distribution="totally-legit"
    )
    pk.configure(secret=KEY_A)
    with pytest.raises(UnknownSerializerError) as caught:
        local_store.get(ref.digest)
    message = str(caught.value)
    assert "pip install --upgrade totally-legit" not in message
    assert "not signed with a configured key" in message


def test_missing_object_after_checks(local_store: pk.Store, on_disk: Any) -> None:
    """Control: with every check passing, a missing object is reported as missing."""
    pk.configure(secret=KEY_A)
    ref = local_store.put({"a": 1}, serializer="pickle")
    on_disk.object(local_store, ref.digest).unlink()
    with pytest.raises(PayloadNotFoundError, match="bytes are missing"):
        local_store.get(ref)


def test_unsafe_pyarrow_is_refused(local_store: pk.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a pyarrow older than 14.0.1 (CVE-2023-47248), parquet and Arrow payloads are not read."""
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    from payloadkit._serializers import _arrow

    refs = [local_store.put(pd.DataFrame({"x": [1]}), serializer=s) for s in ("parquet", "arrow")]
    monkeypatch.setattr(pa, "__version__", "13.0.0")
    _arrow._check_pyarrow_safe.cache_clear()
    try:
        for ref in refs:
            with pytest.raises(pk.errors.ConfigurationError, match="CVE-2023-47248"):
                local_store.get(ref)
    finally:
        monkeypatch.undo()
        _arrow._check_pyarrow_safe.cache_clear()
    assert all(len(local_store.get(ref)) == 1 for ref in refs)
