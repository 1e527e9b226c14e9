"""Fixtures of the governance tests: a node whose namespace ``acme`` (profiles alice and
bob) has audit on, and the loopback embedding server of tests/embed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.embed.test_http import provider  # noqa: F401 (a fixture, used by name)

from memoturn.core.clock import ManualClock
from memoturn.http import ThrowawayNode


@pytest.fixture
def node(tmp_path, embedder) -> Iterator[ThrowawayNode]:
    with ThrowawayNode(tmp_path / "node", embedder=embedder, clock=ManualClock()) as n:
        n.engine.create_namespace("acme")
        for p in ("alice", "bob"):
            n.engine.create_profile("acme", p)
        n.engine.set_policy("acme", {"audit": True})
        yield n


@pytest.fixture
def root(node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, headers=bearer(node.root_token)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
