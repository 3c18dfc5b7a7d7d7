"""The S3 store against moto's server: large transfers, atomicity, fresh lookups, progress."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fsspec.callbacks import Callback
from tests._s3server import S3Server

import payloadkit as pk
from payloadkit.errors import ConfigurationError, IntegrityError
from payloadkit.stores import S3Store, _s3

pytestmark = pytest.mark.s3

_PART = 5 * 1024 * 1024


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart transfers from 10 MiB, in 5 MiB parts."""
    monkeypatch.setattr(_s3, "PART_SIZE", _PART)
    monkeypatch.setattr(_s3, "RANGE_SIZE", _PART)
    monkeypatch.setattr(_s3, "MULTIPART_FROM", 2 * _PART)


class Recorder(Callback):  # type: ignore[misc]
    """An fsspec callback that remembers the size and the progress reported."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.updates: list[int] = []
        self.fail_after = fail_after

    def relative_update(self, inc: int = 1) -> None:
        self.updates.append(inc)
        super().relative_update(inc)
        if self.fail_after is not None and len(self.updates) >= self.fail_after:
            raise RuntimeError("interrupted by the caller")


def _run(code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.usefixtures("small_parts")
def test_multipart_frames_roundtrip_with_progress(s3_store: pk.Store) -> None:
    """Frames spanning several parts (pickle out-of-band buffers) upload and load intact."""
    obj = {"a": np.arange(2_000_000, dtype=np.float64), "b": np.ones(900_000, np.int32)}
    up, down = Recorder(), Recorder()
    ref = s3_store.put(obj, compression=None, callback=up)  # these arrays would compress
    assert ref.size > 2 * _PART
    assert up.size == ref.size
    assert sum(up.updates) == ref.size
    assert len(up.updates) >= 3
    got = s3_store.get(ref, callback=down)
    assert down.size == ref.size
    assert sum(down.updates) == ref.size
    np.testing.assert_array_equal(got["a"], obj["a"])
    np.testing.assert_array_equal(got["b"], obj["b"])
    got["a"][0] = -1.0  # loaded objects are writable


@pytest.mark.usefixtures("small_parts")
def test_spool_file_upload_is_a_plain_parquet_object(
    s3_store: pk.Store, s3_server: S3Server
) -> None:
    """A DataFrame goes through its spool file in parts and is stored as a readable .parquet."""
    df = pd.DataFrame({"x": np.random.default_rng(1).random(1_600_000), "y": "abc"})
    ref = s3_store.put(df)
    assert ref.serializer == "parquet"
    assert ref.size > 2 * _PART
    pd.testing.assert_frame_equal(s3_store.get(ref), df)
    key = s3_store.url.split("/", 3)[3] + "/" + s3_store.info(ref).object_key
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert body[:4] == b"PAR1"
    assert len(body) == ref.size


@pytest.mark.usefixtures("small_parts")
def test_interrupted_multipart_upload_is_aborted(s3_store: pk.Store, s3_server: S3Server) -> None:
    """A put interrupted after its first part leaves no object, no manifest and no upload."""
    blob = os.urandom(4 * _PART)
    with pytest.raises(RuntimeError, match="interrupted"):
        s3_store.put(blob, callback=Recorder(fail_after=1))
    prefix = s3_store.url.split("/", 3)[3] + "/"
    client = s3_server.client()
    listed = client.list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix).get("Contents", [])
    assert [item["Key"][len(prefix) :] for item in listed] == ["payloadkit-store.json"]
    assert not client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix).get("Uploads")
    ref = s3_store.put(blob)  # control: the same put without interruption
    assert s3_store.get(ref) == blob


def test_killed_writer_upload_is_cleaned(s3_store: pk.Store, s3_server: S3Server) -> None:
    """An upload left by a killed writer is listed, then aborted by abort_incomplete_uploads."""
    assert isinstance(s3_store, S3Store)
    key = s3_store.backend.prefix + "objects/blake3/00/left-behind"
    s3_server.client().create_multipart_upload(Bucket=s3_server.bucket, Key=key)
    assert [k for k, _when in s3_store.incomplete_uploads()] == ["objects/blake3/00/left-behind"]
    # moto reports a fixed start time years ago, so any age threshold selects the upload.
    assert s3_store.abort_incomplete_uploads(older_than=timedelta(hours=1)) == 1
    assert s3_store.incomplete_uploads() == []


def test_lookups_ignore_stale_listings(s3_server: S3Server) -> None:
    """A payload written by another store instance is found although a listing was cached."""
    url = s3_server.url()
    reader = S3Store(*_fresh_fs(s3_server, url), url)
    writer = S3Store(*_fresh_fs(s3_server, url), url)
    first = writer.put({"first": True})
    reader.fs.find(reader.root)  # s3fs now caches listings that hold only the first payload
    ref = writer.put({"fresh": True})
    assert reader.exists(ref)
    assert reader.get(ref) == {"fresh": True}
    assert set(reader) == {first, ref}


def _fresh_fs(s3_server: S3Server, url: str) -> tuple[Any, str]:
    import fsspec.core

    return fsspec.core.url_to_fs(url, skip_instance_cache=True, **s3_server.options())


def test_another_process_finds_payloads_and_options(s3_server: S3Server) -> None:
    """A ref written by another process loads here; its store's options come from configure()."""
    url = s3_server.url()
    out = _run(
        f"""
        import payloadkit as pk
        pk.configure(storage={url!r}, storage_options={s3_server.options()!r})
        print(pk.Payload({{"from": "child"}}).save().to_json())
        """
    )
    ref = pk.PayloadRef.from_json(out.strip().splitlines()[-1])
    assert ref.store == url
    pk.configure(storage=url, storage_options=s3_server.options())
    assert pk.Payload.from_ref(ref).value == {"from": "child"}
    back = pk.Payload([1, 2, 3]).save()
    code = f"""
        import payloadkit as pk
        pk.configure(storage={url!r}, storage_options={s3_server.options()!r})
        ref = pk.PayloadRef.from_json({back.to_json()!r})
        assert pk.Payload.from_ref(ref).value == [1, 2, 3]
        print("ok")
        """
    assert "ok" in _run(code)


def test_payloads_and_refs_pickle_without_the_filesystem(
    s3_store: pk.Store, s3_server: S3Server
) -> None:
    """A saved Payload pickles as its ref; the store itself refuses to be pickled."""
    payload = pk.Payload({"x": 1})
    payload.save(s3_store)
    data = pickle.dumps(payload)
    assert s3_server.secret.encode() not in data
    assert b"s3fs" not in data
    assert pickle.loads(data).ref == payload.ref
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(s3_store)
    import cloudpickle

    def task() -> Any:
        return payload.value

    assert s3_server.secret.encode() not in cloudpickle.dumps(task)


def test_credentials_in_the_url_are_refused_without_echo() -> None:
    """s3://KEY:SECRET@bucket is refused; the message shows neither key nor secret."""
    with pytest.raises(ConfigurationError) as info:
        pk.open_store("s3://AKIDVISIBLE:topsecretvalue@bucket/prefix")
    assert "topsecretvalue" not in str(info.value)
    assert "AKIDVISIBLE" not in str(info.value)
    assert "storage options" in str(info.value)


def test_declared_size_is_checked_before_it_is_allocated(s3_store: pk.Store) -> None:
    """A manifest declaring a petabyte is refused from the object's real size; nothing that
    large is ever allocated."""
    import json

    ref = s3_store.put({"small": True})
    key = s3_store.info(ref).key
    manifest = json.loads(s3_store.backend.read(key, 1 << 20))
    manifest["size"] = 1 << 50
    s3_store.backend.write(key, json.dumps(manifest).encode())
    with pytest.raises(IntegrityError):
        s3_store.get(ref)
