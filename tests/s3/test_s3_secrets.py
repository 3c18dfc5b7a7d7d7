"""A recognisable secret never appears in what payloadkit writes, logs, raises or shows."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from tests._s3server import S3Server

import payloadkit as pk
from payloadkit.errors import PayloadkitError

pytestmark = pytest.mark.s3

_CHILD = """
import logging, sys, payloadkit as pk
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
url, options, digest = sys.argv[1], eval(sys.argv[2]), sys.argv[3]
pk.configure(storage=url, storage_options=options)
ref = pk.Payload({"child": list(range(1000))}).save()
print(repr(ref), repr(pk.Payload.from_ref(ref)), pk.Payload.from_ref(ref).value["child"][-1])
try:
    pk.open_store(url, **options).get(digest)
except pk.errors.PayloadkitError as exc:
    print(exc, repr(exc))
"""


def test_secret_is_never_written_logged_or_raised(
    s3_server: S3Server, caplog: pytest.LogCaptureFixture, payload_cache: Path
) -> None:
    """Puts, gets, errors, reprs and debug logs here and in a child process hold no secret."""
    secret = s3_server.secret
    url = s3_server.url()
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)
    pk.configure(storage=url, storage_options=s3_server.options())
    store = pk.open_store(url, **s3_server.options())
    payload = pk.Payload({"big": os.urandom(1 << 20), "n": 1})
    ref = payload.save()
    seen += [repr(store), repr(payload), repr(ref), ref.to_json(), str(store.info(ref))]
    seen += [repr(store.get(ref)["n"]), repr(pk.Payload.from_ref(ref))]
    missing = "blake3:" + "1" * 64
    for attempt in (
        lambda: store.get(missing),
        lambda: pk.open_store("s3://no-such-bucket-x/p", **s3_server.options()).put(1),
        lambda: pk.open_store(f"s3://KEYID:{secret}@bucket/p"),
    ):
        with pytest.raises(PayloadkitError) as info:
            attempt()
        seen += [str(info.value), repr(info.value), repr(info.value.__dict__)]
        seen.append(pickle.dumps(info.value).decode("latin-1"))
    seen.append(pickle.dumps(payload).decode("latin-1"))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, url, repr(s3_server.options()), missing],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=True,
    )
    assert "999" in child.stdout
    assert "No payload" in child.stdout
    seen += [child.stdout, child.stderr, caplog.text]
    assert len(caplog.text) > 1000
    assert "DEBUG" in child.stderr
    seen += _bucket_contents(s3_server) + _files(payload_cache)
    leaks = [text[:200] for text in seen if secret in text]
    assert leaks == []


def _bucket_contents(s3_server: S3Server) -> list[str]:
    texts = [key + body.decode("latin-1") for key, body in s3_server.objects()]
    assert texts
    return texts


def _files(root: Path) -> list[str]:
    found = [p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()]
    assert found
    return found
