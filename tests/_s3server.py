"""Real S3 servers for the tests, each a subprocess on a loopback port.

``MotoServer`` runs ``python -m moto.server``; ``S3rverServer`` runs the npm package s3rver
(installed by ``npm ci --prefix tests/s3rver``) with ``node``. Both write their output to a
log file whose last lines are attached to the report of a failing test, and are stopped by
their process id.

``s3_server`` (session-scoped) is moto unless a test asks for another server with
``on_every_server``, which runs it once per server; ``s3_store`` gives each test an empty
store under a fresh prefix of a shared bucket. The secret is a recognisable canary so that
tests can scan for leaks (s3rver accepts one access key id, ``S3RVER``, and never checks
signature version 4 secrets, so it takes the canary secret too).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk

__all__ = [
    "SERVERS",
    "MotoServer",
    "S3Server",
    "S3rverServer",
    "free_port",
    "on_every_server",
    "s3_server",
    "s3_store",
    "s3rver_script",
]

#: Recognisable credentials: no test output, object or message may ever contain the secret.
CANARY_KEY = "PKCANARYKEYID000"
CANARY_SECRET = "pk-canary-secret-3b8f1e2d9a7c4650"
REGION = "us-east-1"

#: The servers ``on_every_server`` runs a test against, by ``s3_server`` parameter.
SERVERS = ("moto", "s3rver")
#: Run the test once per server in :data:`SERVERS` (``s3_server`` must be in its fixtures).
on_every_server = pytest.mark.parametrize("s3_server", SERVERS, indirect=True)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # terminal colour codes, dropped from logs

S3RVER_DIR = Path(__file__).with_name("s3rver")
S3RVER_INSTALL = "run: npm ci --prefix tests/s3rver"
#: The only access key id s3rver knows (it is built in).
S3RVER_KEY = "S3RVER"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _ChildServer:
    """An HTTP server in a child process on a loopback port, its output in a log file."""

    name = "server"
    probe = "/"  # answered once the server is up

    def __init__(self, argv: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.endpoint_url = f"http://127.0.0.1:{port}"
        handle, log = tempfile.mkstemp(prefix=f"payloadkit-{self.name}-", suffix=".log")
        self.log_path = Path(log)
        with os.fdopen(handle, "wb") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )
        self._wait()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}{self.probe}", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # an S3 error is an answer
        except OSError:
            return False

    def _wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(
                    f"the {self.name} server exited with {self.process.returncode}; "
                    f"its output:\n{tail}"
                )
            if self._answers():
                return
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"the {self.name} server did not answer in time; its output:\n{tail}")

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the server wrote."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(_ANSI.sub("", line) for line in text.splitlines()[-lines:])

    def stop(self) -> None:
        """Kill the server process (by its pid), reap it and remove its log."""
        if self.process.poll() is None:
            os.kill(self.process.pid, 9)
        self.process.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)


class MotoServer(_ChildServer):
    """moto's S3 server as a child process on a loopback port; ``stop()`` kills it by pid."""

    name = "moto"
    probe = "/moto-api/"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        super().__init__(argv, port, env)

    def info(self) -> S3Server:
        """Where it listens and the credentials it takes."""
        return S3Server(self.endpoint_url, name=self.name, log_tail=self.log_tail)


def s3rver_script() -> Path | None:
    """s3rver's command-line script under tests/s3rver, or None if it is not installed."""
    script = S3RVER_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    return script if script.is_file() and shutil.which("node") else None


class S3rverServer(_ChildServer):
    """s3rver (npm) run by node on a loopback port, keeping its buckets in ``directory``."""

    name = "s3rver"

    def __init__(self, directory: Path | None = None, env: dict[str, str] | None = None) -> None:
        script = s3rver_script()
        if script is None:
            raise RuntimeError(
                f"s3rver is not installed (or node is not on PATH); {S3RVER_INSTALL}"
            )
        self._owned = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="payloadkit-s3rver-"))
        # s3rver makes its ListObjectsV2 continuation tokens with DES, which Node 17+ only
        # offers through OpenSSL's legacy provider: without it every truncated listing is a 500.
        node = [shutil.which("node") or "node", "--openssl-legacy-provider"]
        argv = [*node, str(script), "--directory", str(self.directory)]
        port = free_port()
        argv += ["--address", "127.0.0.1", "--port", str(port), "--no-vhost-buckets"]
        # s3rver cuts 16 characters of colour codes off each request line: keep them coming.
        super().__init__(argv, port, {"FORCE_COLOR": "1", **(env or {})})

    def info(self) -> S3Server:
        """Where it listens and the credentials it takes (its one key id, the canary secret)."""
        return S3Server(self.endpoint_url, S3RVER_KEY, name=self.name, log_tail=self.log_tail)

    def stop(self) -> None:
        """Kill the server by its pid; remove its data directory if it made it."""
        super().stop()
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class S3Server:
    """Where the test S3 server listens and the credentials to use with it."""

    endpoint_url: str
    key: str = CANARY_KEY
    secret: str = CANARY_SECRET
    bucket: str = "payloadkit-tests"
    region: str = REGION
    extra: dict[str, Any] = field(default_factory=dict)
    name: str = "moto"
    log_tail: Callable[[], str] | None = field(default=None, repr=False, compare=False)

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


def _serve(server: MotoServer | S3rverServer) -> Iterator[S3Server]:
    """The server's details with the shared test bucket created; the server stopped after."""
    try:
        info = server.info()
        info.create_bucket(info.bucket)
        yield info
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port, with the shared test bucket created."""
    yield from _serve(MotoServer())


@pytest.fixture(scope="session")
def s3rver_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """s3rver on a free loopback port, with the shared test bucket created.

    Skipped when s3rver is not installed, except under ``CI=true``, where that is a failure.
    """
    if s3rver_script() is None:
        reason = f"s3rver is not installed (or node is not on PATH); {S3RVER_INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    yield from _serve(S3rverServer(tmp_path_factory.mktemp("s3rver-data")))


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """The S3 server of the test: moto, or the one :data:`on_every_server` gives it."""
    name = getattr(request, "param", "moto")
    if name not in SERVERS:
        raise ValueError(f"unknown S3 test server {name!r}; choose one of {SERVERS}")
    server: S3Server = request.getfixturevalue(f"{name}_server")
    return server


@pytest.fixture
def s3_store(s3_server: S3Server) -> pk.Store:
    """An empty S3 store under a fresh prefix of the shared bucket."""
    return pk.open_store(s3_server.url(), **s3_server.options())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the last lines of each S3 server's log to the report of a failing test."""
    report = yield
    if report.failed:
        values = getattr(item, "funcargs", {}).values()
        for server in {v.name: v for v in values if isinstance(v, S3Server)}.values():
            if server.log_tail is not None:
                report.sections.append(
                    (f"{server.name} server log (last lines)", server.log_tail())
                )
    return report
