"""Fixtures for object-store tests: one ``store`` per backend, and an S3 server on loopback.

``store_kind`` is parametrised over memory, localdir and s3 (moto's ThreadedMotoServer);
test_seaweedfs.py overrides ``store_kind`` and ``store`` to run the same tests on SeaweedFS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.memory import MemoryStore
from memoturn.storage.objectstore import ObjectStore


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
        moto = request.getfixturevalue("moto_s3")
        # A prefix too, so prefix handling is exercised on every S3 test.
        return moto.store(moto.new_bucket(), "under/a-prefix")
    raise AssertionError(f"unknown store kind {store_kind}")
