"""Fixtures of the app tests: a store shared by processes (local or S3), and every executor.

The ``store`` fixture is a local directory; a test parametrized with
``pytest.mark.parametrize("store", ["local", "s3"], indirect=True)`` (the S3 case marked
``s3``) runs on the S3 test server too.
The S3 store's options (endpoint, key, secret) reach worker processes and Dask workers
only through payloadkit's configuration; after each S3 test every object under the
store's prefix (payloads, manifests, run records) is scanned for the secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk
from payloadkit.stores._opened import store_for_url

#: The executors every flow test runs on; Dask through a LocalCluster on loopback.
EXECUTORS = ["inline", "process", pytest.param("dask", marks=pytest.mark.dask)]


# distributed's cluster start-up sometimes leaves a never-connected probe socket
# (AF_INET, 0.0.0.0:0) to the garbage collector; pytest reports it as unraisable in
# whichever Dask test is running. Only that exact message is ignored, only in Dask tests.
_DASK_SOCKET_NOISE = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket fd=.*laddr=\\('0.0.0.0', 0\\)"
    ":pytest.PytestUnraisableExceptionWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Dask tests tolerate distributed's stray probe socket (see above)."""
    for item in items:
        if item.get_closest_marker("dask") is not None:
            item.add_marker(_DASK_SOCKET_NOISE)


@pytest.fixture(scope="module")
def dask_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One LocalCluster with two worker processes on 127.0.0.1, shared by a test module.

    Its workers keep remote payloads in a cache directory of the test session's own.
    """
    distributed = pytest.importorskip("distributed")
    cache = str(tmp_path_factory.mktemp("dask-payload-cache"))
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env={"PAYLOADKIT_CACHE": cache},
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> Any:
    """'inline', 'process', or a Dask Client."""
    if request.param == "dask":
        return request.getfixturevalue("dask_client")
    return request.param


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[pk.Store]:
    """A store every process can reach: a local directory, or (param ``"s3"``) an S3 prefix."""
    if getattr(request, "param", "local") == "local":
        yield pk.open_store(tmp_path / "store")
        return
    server = request.getfixturevalue("s3_server")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("PAYLOADKIT_CACHE", str(tmp_path / "payload-cache"))
    url = server.url()
    # Configured, not carried by the store object: this is how workers learn the options.
    pk.configure(storage=url, storage_options=server.options())
    yield store_for_url(url)
    stored = server.objects(url.split("/", 3)[3] + "/")
    leaks = [key for key, body in stored if server.secret.encode() in body]
    assert leaks == [], f"the secret was written to {leaks}"
