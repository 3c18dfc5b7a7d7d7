"""Fixtures of the app tests: a store shared by processes, and every executor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import payloadkit as pk

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
def dask_client() -> Iterator[Any]:
    """One LocalCluster with two worker processes on 127.0.0.1, shared by a test module."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
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
def store(tmp_path: Path) -> pk.Store:
    """A local directory store every process can reach."""
    return pk.open_store(tmp_path / "store")
