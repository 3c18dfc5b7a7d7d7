"""A real S3 server for the tests: moto's HTTP server in a subprocess on a loopback port.

``s3_server`` (session-scoped) starts ``python -m moto.server`` on a free 127.0.0.1 port,
waits until it answers, and stops it by its process id at the end of the session.
``s3_store`` gives each test an empty store under a fresh prefix of a shared bucket. The
credentials are recognisable canaries so that tests can scan for leaks.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import payloadkit as pk

__all__ = ["MotoServer", "S3Server", "free_port", "s3_server", "s3_store"]

#: Recognisable credentials: no test output, object or message may ever contain the secret.
CANARY_KEY = "PKCANARYKEYID000"
CANARY_SECRET = "pk-canary-secret-3b8f1e2d9a7c4650"
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto's S3 server as a child process on a loopback port; ``stop()`` kills it by pid."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        self._wait()

    def _wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("moto server did not answer in time")

    def stop(self) -> None:
        """Kill the server process (by its pid) and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, 9)
        self.process.wait(timeout=10)


@dataclass
class S3Server:
    """Where the test S3 server listens and the credentials to use with it."""

    endpoint_url: str
    key: str = CANARY_KEY
    secret: str = CANARY_SECRET
    bucket: str = "payloadkit-tests"
    region: str = REGION
    extra: dict[str, Any] = field(default_factory=dict)

    def options(self, endpoint_url: str | None = None, **more: Any) -> dict[str, Any]:
        """fsspec storage options for this server (optionally through another endpoint)."""
        return {
            "endpoint_url": endpoint_url or self.endpoint_url,
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"region_name": self.region},
            **more,
        }

    def client(self, endpoint_url: str | None = None) -> Any:
        """A boto3 client, for checks made behind payloadkit's back."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=endpoint_url or self.endpoint_url,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> str:
        """Create bucket ``name`` and return it."""
        self.client().create_bucket(Bucket=name)
        return name

    def aws_env(self) -> dict[str, str]:
        """The environment variables that give a process this server's credentials."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
        }

    def keys(self, prefix: str = "", bucket: str | None = None) -> list[str]:
        """Every key under ``prefix``, listed page by page behind payloadkit's back."""
        pages = self.client().get_paginator("list_objects_v2")
        found: list[str] = []
        for page in pages.paginate(Bucket=bucket or self.bucket, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
        return found

    def objects(self, prefix: str = "", bucket: str | None = None) -> Iterator[tuple[str, bytes]]:
        """Every object under ``prefix`` with its bytes, read behind payloadkit's back."""
        client = self.client()
        for key in self.keys(prefix, bucket):
            yield key, client.get_object(Bucket=bucket or self.bucket, Key=key)["Body"].read()

    def url(self, prefix: str | None = None) -> str:
        """A fresh store URL under the shared bucket."""
        return f"s3://{self.bucket}/{prefix or uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port, with the shared test bucket created."""
    server = MotoServer()
    try:
        info = S3Server(server.endpoint_url)
        info.create_bucket(info.bucket)
        yield info
    finally:
        server.stop()


@pytest.fixture
def s3_store(s3_server: S3Server) -> pk.Store:
    """An empty S3 store under a fresh prefix of the shared bucket."""
    return pk.open_store(s3_server.url(), **s3_server.options())
