"""Fixtures for the UI: stores filled by real App runs and saves, and the UI served on them.

The UI runs in uvicorn on a free loopback port in a thread of the test process; requests
go through :mod:`http.client`, so the tests see exactly the bytes a browser would.
"""

from __future__ import annotations

import http.client
import json
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("pandas")
pytest.importorskip("numpy")

import numpy as np
import pandas as pd
from tests._s3server import free_port
from tests.ui._flows import Failing, FanOut, run_app

import payloadkit as pk
from payloadkit.app._demo import DemoFlow
from payloadkit.ui import create_app


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A real PNG image (red pixels), built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def fill(store: pk.Store) -> dict[str, Any]:
    """Put what the pages show into ``store``: three runs and payloads of every preview kind."""
    demo = pk.App(DemoFlow(40, 3, None), storage=store, executor="inline").run()
    fan = run_app(FanOut(4), store)
    failed = run_app(Failing(), store)
    refs = {
        "array": store.put(np.arange(1000, dtype=np.float64).reshape(100, 10)),
        "json": store.put({"name": "config", "values": [1, 2, 3]}, serializer="json"),
        "image": store.put(png_bytes()),
        "pickle": store.put({"a": 1}, serializer="pickle"),
    }
    frame = demo["works"]["root.src"]["state"]["frame"]["ref"]["digest"]
    return {"demo": demo, "fan": fan, "failed": failed, "refs": refs, "frame": frame}


@pytest.fixture
def filled(local_store: pk.Store) -> tuple[pk.Store, dict[str, Any]]:
    """A local store filled by :func:`fill`, and what was put in it."""
    return local_store, fill(local_store)


@dataclass
class Reply:
    """One HTTP response: status, headers (lower-case names) and body text."""

    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.text)


class Served:
    """The UI of a store served by uvicorn on 127.0.0.1, in a thread, until :meth:`stop`."""

    def __init__(self, store: pk.Store, **options: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            create_app(store, **options), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
            time.sleep(0.01)

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Reply:
        """Send one request (redirects are not followed)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            body = response.read().decode("utf-8", "replace")
            found = {k.lower(): v for k, v in response.getheaders()}
            return Reply(response.status, found, body)
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Reply:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Serve the UI of a store (stopped at the end of the test)."""
    started: list[Served] = []

    def start(store: pk.Store, **options: Any) -> Served:
        started.append(Served(store, **options))
        return started[-1]

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def frame() -> pd.DataFrame:
    """A small DataFrame with text and numbers."""
    return pd.DataFrame({"name": ["a", "b", "c"], "value": [1.5, 2.5, 3.5]})
