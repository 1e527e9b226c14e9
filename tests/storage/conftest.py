"""Fixtures for object-store tests: one ``store`` per backend, and an S3 server on loopback.

``store_kind`` is parametrised over memory, localdir and s3 (moto's ThreadedMotoServer);
test_seaweedfs.py overrides ``store_kind`` and ``store`` to run the same tests on SeaweedFS.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.memory import MemoryStore
from memoturn.storage.objectstore import ObjectStore
from memoturn.storage.s3 import S3Store


@dataclass(frozen=True)
class S3TestServer:
    """An S3 server on loopback that tests may create buckets on."""

    endpoint: str
    access_key: str = "memoturn-test"
    secret_key: str = "memoturn-test-secret"
    region: str = "us-east-1"

    def new_bucket(self) -> str:
        """Create a bucket with a unique name and return the name."""
        name = f"t-{uuid.uuid4().hex[:20]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        client.create_bucket(Bucket=name)
        return name

    def store(self, bucket: str, prefix: str = "") -> S3Store:
        """An S3Store on this server."""
        return S3Store(
            bucket,
            prefix,
            endpoint=self.endpoint,
            region=self.region,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            allow_http=True,
        )

    def env(self) -> dict[str, str]:
        """The AWS_* environment variables that point at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3TestServer]:
    """moto's S3 in a thread of this process, on a free loopback port."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3TestServer(f"http://{host}:{port}")
    server.stop()


@pytest.fixture(params=["memory", "localdir", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which backend ``store`` is."""
    return request.param


@pytest.fixture
def store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> ObjectStore:
    """An empty store of the kind ``store_kind`` names."""
    if store_kind == "memory":
        return MemoryStore()
    if store_kind == "localdir":
        return LocalDirStore(tmp_path / "store")
    if store_kind == "s3":
        moto: S3TestServer = request.getfixturevalue("moto_s3")
        # A prefix too, so prefix handling is exercised on every S3 test.
        return moto.store(moto.new_bucket(), "under/a-prefix")
    raise AssertionError(f"unknown store kind {store_kind}")
