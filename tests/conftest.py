"""Shared fixtures: the real embedder (loaded once per run), a manual clock, an engine."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

import memoturn
from memoturn.core.clock import ManualClock
from memoturn.embed import LocalEmbedder, default_embedder
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


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return default_embedder()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(
    tmp_path: Path, embedder: LocalEmbedder, clock: ManualClock
) -> Iterator[memoturn.Engine]:
    with memoturn.open(tmp_path / "data", embedder=embedder, clock=clock) as eng:
        yield eng


@pytest.fixture
def profile(engine: memoturn.Engine):  # type: ignore[no-untyped-def]
    engine.create_namespace("acme")
    engine.create_profile("acme", "alice")
    return engine.profile("acme", "alice")
