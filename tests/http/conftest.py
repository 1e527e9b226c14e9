"""A real node on a loopback port (uvicorn in a thread), shared by the tests of a module.

The engine runs on a manual clock, so token expiry and TTLs are tested by moving time, not
by sleeping; the embedder is the session's real model.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from memoturn.core.clock import ManualClock
from memoturn.http import ThrowawayNode


@pytest.fixture(scope="module")
def node_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def node(tmp_path_factory, embedder, node_clock) -> Iterator[ThrowawayNode]:
    data = tmp_path_factory.mktemp("node")
    with ThrowawayNode(data, embedder=embedder, clock=node_clock, min_txid_wait_s=0.2) as n:
        yield n


@pytest.fixture(scope="module")
def root(node) -> Iterator[httpx.Client]:
    """An HTTP client holding the root token."""
    with httpx.Client(
        base_url=node.url, headers={"Authorization": f"Bearer {node.root_token}"}
    ) as c:
        yield c


@pytest.fixture(scope="module")
def anon(node) -> Iterator[httpx.Client]:
    """An HTTP client without a token."""
    with httpx.Client(base_url=node.url) as c:
        yield c


class Admin:
    """Root-token helpers: provision namespaces and profiles, mint tokens."""

    def __init__(self, root: httpx.Client) -> None:
        self.root = root

    def provision(self, ns: str, *profiles: str) -> None:
        self.root.post("/v1/namespaces", json={"name": ns}).raise_for_status()
        for p in profiles:
            self.root.post(f"/v1/namespaces/{ns}/profiles", json={"name": p}).raise_for_status()

    def mint(self, ns: str, **fields: object) -> str:
        r = self.root.post(f"/v1/namespaces/{ns}/tokens", json=fields)
        assert r.status_code == 200, r.text
        return str(r.json()["token"])


@pytest.fixture(scope="module")
def admin(root) -> Admin:
    return Admin(root)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
