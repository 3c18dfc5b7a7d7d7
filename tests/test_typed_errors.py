"""Every failure a user can cause is a payloadkit error saying what to do, never a raw one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.errors import ConfigurationError, NotAStoreError, StoreError

_SRC = str(Path(pk.__file__).resolve().parents[1])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def _s3_options(endpoint: str) -> dict[str, Any]:
    return {
        "key": "PKCANARYKEYID000",
        "secret": "pk-canary-secret-for-typed-errors",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
    }


@pytest.mark.s3
def test_unreachable_endpoint_is_a_store_error() -> None:
    """An S3 endpoint nobody answers on is a StoreError naming it, without the secret."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    store = pk.open_store("s3://bucket-x/p", **_s3_options(endpoint))
    with pytest.raises(StoreError) as caught:
        store.put({"a": 1})
    message = str(caught.value)
    assert endpoint in message
    assert "Cannot reach" in message
    assert "pk-canary-secret" not in message


@pytest.mark.s3
def test_bad_bucket_name_is_a_configuration_error(s3_server: Any) -> None:
    """A bucket name S3 refuses is a ConfigurationError naming the rules."""
    store = pk.open_store("s3://Bad_Bucket!/p", **s3_server.options())
    with pytest.raises(ConfigurationError, match="not a valid S3 bucket name"):
        store.put({"a": 1})


@pytest.mark.s3
def test_cli_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    """On the command line the same failure is one line and exit 1, no traceback."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    option = f'client_kwargs={{"endpoint_url": "{endpoint}"}}'
    env = {
        **os.environ,
        "PYTHONPATH": _SRC,
        "AWS_ACCESS_KEY_ID": "PKCANARYKEYID000",
        "AWS_SECRET_ACCESS_KEY": "pk-canary-secret-cli",
        "AWS_MAX_ATTEMPTS": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "payloadkit.cli",
            "ls",
            "s3://bucket-y/p",
            "--storage-option",
            option,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "pk-canary-secret-cli" not in done.stderr


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"storage": 3}, "storage"),
        ({"storage_options": ["endpoint"]}, "storage_options"),
        ({"serializers": "json"}, "serializers"),
        ({"secret": 12345}, "secret"),
        ({"trusted_serializers": 5}, "trusted_serializers"),
        ({"durable": "yes"}, "durable"),
        ({"storage_options": {1: "x"}}, "storage_options"),
    ],
)
def test_configure_refuses_wrong_types(arguments: dict[str, Any], named: str) -> None:
    """configure() names the argument of the wrong type in a ConfigurationError."""
    with pytest.raises(ConfigurationError, match=named):
        pk.configure(**arguments)


@pytest.mark.parametrize("url", [3, None, b"bytes", ["s3://b"]])
def test_open_store_refuses_wrong_types(url: Any) -> None:
    """open_store() of something that is no URL or path is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        pk.open_store(url)


@pytest.mark.parametrize(
    "url", ["s3://TOKEN@bucket/p", "s3://key:secret@bucket", "gs://ya29.token@bucket/x"]
)
def test_userinfo_in_a_url_is_refused(url: str) -> None:
    """A URL carrying a token or key as user information is refused without echoing it."""
    with pytest.raises(ConfigurationError) as caught:
        pk.open_store(url)
    message = str(caught.value)
    assert "storage options" in message
    assert "TOKEN" not in message
    assert "secret" not in message.replace("key=..., secret=...", "")
    assert "ya29" not in message


@pytest.mark.parametrize("layer", ["simplecache", "filecache", "blockcache"])
def test_caching_chains_are_refused_with_a_reason(layer: str) -> None:
    """A caching layer in a chained URL is refused, never opened as a local folder."""
    with pytest.raises(ConfigurationError, match="its own verified cache"):
        pk.open_store(f"{layer}::memory://chained")
    assert not Path(f"{layer}::memory:").exists()


def test_a_chained_url_opens_through_fsspec(tmp_path: Path) -> None:
    """dir::memory://... is a remote store through fsspec, never a folder named after it."""
    store = pk.open_store("dir::memory://chained-root", path="/chained-root/sub")
    assert not isinstance(store, pk.stores.LocalStore)
    ref = store.put({"chained": True})
    assert store.get(ref) == {"chained": True}
    assert not any("::" in name for name in os.listdir(tmp_path))


def test_reading_a_foreign_directory_touches_nothing(tmp_path: Path) -> None:
    """A directory of someone else's files is not a store: reads and writes are refused."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    store = pk.open_store(tmp_path / "mine")
    for attempt in (lambda: list(store), lambda: store.put(1), store.require_store):
        with pytest.raises(NotAStoreError):
            attempt()
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]
