"""The S3 store passes the conformance suite every store passes, against moto and s3rver."""

from __future__ import annotations

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
