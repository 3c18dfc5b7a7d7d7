"""Transient faults between payloadkit and S3, injected by a loopback proxy in front of moto.

Every fault case also runs once with no fault as a control, and each faulty run checks
that the fault really happened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests._s3server import S3Server
from tests.s3._faultproxy import Fault, FaultProxy, fault_proxy

import payloadkit as pk
from payloadkit._maintenance import verify_store
from payloadkit.errors import ConfigurationError, StoreError
from payloadkit.stores import _s3

pytestmark = pytest.mark.s3

_PART = 5 * 1024 * 1024  # S3's smallest part: keeps multipart payloads small in tests


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart transfers from 10 MiB, in 5 MiB parts."""
    monkeypatch.setattr(_s3, "PART_SIZE", _PART)
    monkeypatch.setattr(_s3, "RANGE_SIZE", _PART)
    monkeypatch.setattr(_s3, "MULTIPART_FROM", 2 * _PART)


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    """A fault proxy in front of the test server."""
    with fault_proxy(s3_server.endpoint_url) as running:
        yield running


def _store(s3_server: S3Server, proxy: FaultProxy, **options: object) -> pk.Store:
    config = {"retries": {"max_attempts": 3, "mode": "standard"}}
    return pk.open_store(
        s3_server.url(), **s3_server.options(proxy.endpoint_url, config_kwargs=config, **options)
    )


# (fault kind, HTTP method, request pattern): a request of each transfer step goes wrong once.
UPLOAD_FAULTS = [
    None,
    ("503", "PUT", r"partNumber=2"),
    ("500", "PUT", r"partNumber=1"),
    ("reset", "PUT", r"partNumber=3"),
    ("503", "POST", r"uploadId="),
    # the completion is carried out but its answer lost: the retried one finds no upload
    ("lost", "POST", r"uploadId="),
    ("503", "PUT", r"/manifests/"),
]
DOWNLOAD_FAULTS = [
    None,
    ("503", "GET", r"/objects/"),
    ("500", "GET", r"/manifests/"),
    ("reset", "GET", r"/objects/"),
    ("short", "GET", r"/objects/"),
    ("short", "GET", r"/manifests/"),
]


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize(
    "fault", UPLOAD_FAULTS, ids=lambda f: "control" if f is None else "-".join(f)
)
def test_upload_survives_a_transient_fault(
    s3_server: S3Server, proxy: FaultProxy, fault: tuple[str, str, str] | None
) -> None:
    """A multipart put whose request fails once (503, 500, reset) still stores the payload."""
    store = _store(s3_server, proxy)
    blob = bytearray(os.urandom(3 * _PART + 123))
    injected = Fault(fault[0], fault[1], fault[2]) if fault else None
    proxy.faults[:] = [injected] if injected else []
    ref = store.put(blob)
    proxy.faults.clear()
    assert bytes(store.get(ref)) == bytes(blob)
    if injected is not None:
        assert injected.hits == 1
    assert not s3_server.client().list_multipart_uploads(Bucket=s3_server.bucket).get("Uploads")


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize(
    "fault", DOWNLOAD_FAULTS, ids=lambda f: "control" if f is None else "-".join(f)
)
def test_download_survives_a_transient_fault(
    s3_server: S3Server, proxy: FaultProxy, fault: tuple[str, str, str] | None
) -> None:
    """A ranged download whose request fails, resets or is cut short once still loads intact."""
    store = _store(s3_server, proxy)
    blob = os.urandom(3 * _PART + 5)
    ref = store.put(blob)
    injected = Fault(fault[0], fault[1], fault[2]) if fault else None
    proxy.faults[:] = [injected] if injected else []
    assert store.get(ref) == blob
    if injected is not None:
        assert injected.hits == 1


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize("failing", [False, True], ids=["control", "always-503"])
def test_put_that_keeps_failing_leaves_nothing(
    s3_server: S3Server, proxy: FaultProxy, failing: bool
) -> None:
    """A put whose part keeps failing raises StoreError; no object, manifest or upload is left."""
    store = _store(s3_server, proxy)
    client = s3_server.client()
    prefix = store.url.split("/", 3)[3] + "/"
    store.fs.retries = 2  # s3fs's own retries on top of botocore's; fewer keep the test short
    if failing:
        proxy.faults.append(Fault("503", "PUT", r"partNumber=2", times=-1))
        with pytest.raises(StoreError) as info:
            store.put(os.urandom(3 * _PART))
        assert store.url in str(info.value)
        listed = client.list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix)
        keys = [item["Key"][len(prefix) :] for item in listed.get("Contents", [])]
        assert keys in ([], ["payloadkit-store.json"])  # the store itself may exist
        assert list(store) == []
    else:
        ref = store.put(os.urandom(3 * _PART))
        assert store.exists(ref)
    uploads = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix)
    assert not uploads.get("Uploads")


@pytest.mark.parametrize("failing", [False, True], ids=["control", "always-short"])
def test_manifest_that_keeps_breaking_off_is_a_store_error(
    s3_server: S3Server, proxy: FaultProxy, failing: bool
) -> None:
    """A manifest whose every answer is cut short raises StoreError after a few attempts."""
    store = _store(s3_server, proxy)
    ref = store.put({"small": 1})
    if not failing:
        assert store.get(ref) == {"small": 1}
        return
    fault = Fault("short", "GET", r"/manifests/", times=-1)
    proxy.faults.append(fault)
    with pytest.raises(StoreError, match="broke off") as info:
        store.get(ref)
    assert ref.digest in str(info.value)
    assert fault.hits == _s3.READ_ATTEMPTS


def test_refused_credentials_are_a_configuration_error(
    s3_server: S3Server, proxy: FaultProxy
) -> None:
    """A 403 InvalidAccessKeyId becomes ConfigurationError naming credentials, without them."""
    store = _store(s3_server, proxy)
    ref = store.put({"before": "refusal"})
    proxy.faults.append(Fault("403", None, r"", times=-1))
    with pytest.raises(ConfigurationError) as info:
        store.get(ref)
    message = str(info.value)
    assert "credentials" in message
    assert "InvalidAccessKeyId" in message
    assert s3_server.secret not in message
    assert s3_server.key not in message
    proxy.faults.clear()
    assert store.get(ref) == {"before": "refusal"}


def test_missing_bucket_is_a_store_error_naming_it(s3_server: S3Server) -> None:
    """Writing to a bucket that does not exist raises StoreError saying which bucket."""
    store = pk.open_store("s3://no-such-bucket-here/prefix", **s3_server.options())
    with pytest.raises(StoreError) as info:
        store.put([1, 2, 3])
    assert "no-such-bucket-here" in str(info.value)
    assert "does not exist" in str(info.value)
    with pytest.raises(StoreError, match="does not exist"):
        store.get("blake3:" + "0" * 64)


@pytest.mark.usefixtures("small_parts")
def test_completion_retried_after_success_is_a_success(
    s3_server: S3Server, proxy: FaultProxy
) -> None:
    """A completion carried out whose answer is lost, retried and told "no such upload" (as
    servers that forget a completed upload answer), is checked against the object: success."""
    store = _store(s3_server, proxy)
    lost, forgotten = (
        Fault("lost", "POST", r"uploadId="),
        Fault("nosuchupload", "POST", r"uploadId="),
    )
    proxy.faults[:] = [lost, forgotten]
    blob = os.urandom(3 * _PART + 11)
    ref = store.put(blob)
    assert (lost.hits, forgotten.hits) == (1, 1)
    proxy.faults.clear()
    assert store.get(ref) == blob
    assert verify_store(store).ok
