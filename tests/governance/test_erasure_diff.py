"""A diff reads past states like a rewind or a branch does, so it honours an erasure the
same way: a point from before the hard delete is refused (409) while a checkpoint there
still holds the content, and readable, without the content, once force rewrote it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import memoturn
from memoturn.core.clock import ManualClock
from memoturn.http import ThrowawayNode

CANARY = "zq-canary-diff the secret about the purple giraffe"
GRACE = 3600


@pytest.fixture
def node(tmp_path, embedder) -> Iterator[ThrowawayNode]:
    with ThrowawayNode(tmp_path / "node", embedder=embedder, clock=ManualClock()) as n:
        n.engine.create_namespace("acme")
        n.engine.create_profile("acme", "alice")
        n.engine.set_policy("acme", {"erasure_grace_s": GRACE})
        yield n


def test_a_diff_from_before_an_erasure_is_refused_then_shows_no_content(node) -> None:
    with memoturn.Client(node.url, node.root_token) as client:
        p = client.profile("acme", "alice")
        p.ingest("fact", "an ordinary fact about the weather")
        secret = p.ingest("fact", CANARY).memory
        client.create_checkpoint("acme", "alice", "before")
        before = p.list_memories().txid
        assert p.diff("checkpoint:before", "branch:main").removed == []
        erasure = p.erase(memory_ids=[secret.id]).erasure
        assert erasure.state == "blocked"
        for point in ("checkpoint:before", f"txid:{before}"):
            with pytest.raises(memoturn.Conflict, match="erased content"):
                p.diff(point, "branch:main")
        forced = p.erase(memory_ids=[secret.id], force=True).erasure
        node.engine.clock.advance(GRACE + 1)  # type: ignore[attr-defined]
        client.gc()
        assert p.get_erasure(forced.id).erasure.state == "complete"
        seen = p.diff("checkpoint:before", "branch:main")  # the rewritten checkpoint
        assert CANARY not in json.dumps(seen.to_dict())
        assert seen.added == seen.removed == []
