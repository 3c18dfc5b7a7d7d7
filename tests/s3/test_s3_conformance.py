"""The S3 store passes the conformance suite every store passes, against moto and s3rver."""

from __future__ import annotations

from typing import Any

import pytest
from tests._s3server import on_every_server

import payloadkit as pk
from payloadkit.stores import Backend, S3Backend, S3Store
from payloadkit.testing import BackendTests, StoreTests

pytestmark = [pytest.mark.s3, on_every_server]


class TestS3Store(StoreTests):
    @pytest.fixture
    def store(self, s3_store: pk.Store) -> pk.Store:
        assert isinstance(s3_store, S3Store)
        return s3_store


class TestS3Backend(BackendTests):
    @pytest.fixture
    def backend(self, s3_store: pk.Store) -> Backend:
        assert isinstance(s3_store.backend, S3Backend)
        return s3_store.backend

    def test_concurrent_writers_leave_a_whole_value(self, backend: Backend, s3_server: Any) -> None:
        """Writers racing on one key leave one of their values whole (on servers that replace
        objects atomically, as S3 does)."""
        if s3_server.name == "s3rver":
            pytest.skip(
                "s3rver writes an object in place: PUTs racing on one key can interleave. "
                "payloadkit's racing writes of one key carry the same bytes (objects) or "
                "equivalent manifests, which are re-written by the next save if damaged."
            )
        super().test_concurrent_writers_leave_a_whole_value(backend)
