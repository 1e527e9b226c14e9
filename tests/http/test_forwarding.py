"""Write forwarding: two live nodes on one object store. A write sent to the node that does
not hold the profile's writer lease is carried out by the node that does, and read back
anywhere with ``min_txid``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoturn.http import ThrowawayNode
from memoturn.http.edge import FORWARDED_HEADER, FORWARDED_TO_HEADER, WRITER_HEADER
from memoturn.storage.localdir import LocalDirStore

SEED = bytes(range(32))
P = "/v1/namespaces/fw/profiles/alice"


@pytest.fixture
def nodes(tmp_path: Path, embedder: Any) -> Iterator[tuple[ThrowawayNode, ThrowawayNode]]:
    store = LocalDirStore(tmp_path / "store")
    options = {"object_store": store, "embedder": embedder, "signing_seed": SEED}
    with (
        ThrowawayNode(tmp_path / "a", node_id="node-a", **options) as a,
        ThrowawayNode(tmp_path / "b", node_id="node-b", **options) as b,
    ):
        yield a, b


def _client(node: ThrowawayNode, token: str) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _setup(a: ThrowawayNode) -> None:
    with _client(a, a.root_token) as root:
        assert root.post("/v1/namespaces", json={"name": "fw"}).status_code in (200, 201)
        r = root.post("/v1/namespaces/fw/profiles", json={"name": "alice"})
        assert r.status_code in (200, 201), r.text
        # Node A writes first, so it holds the writer lease.
        r = root.post(P + "/memories", json={"type": "fact", "content": "first, on A"})
        assert r.status_code == 200, r.text


def test_a_write_to_the_other_node_is_forwarded_to_the_writer(nodes) -> None:
    a, b = nodes
    _setup(a)
    # A profile token minted by A is valid on B (one deployment, one signing key).
    with _client(a, a.root_token) as root:
        r = root.post("/v1/namespaces/fw/tokens", json={"profile": "alice"})
        assert r.status_code in (200, 201), r.text
        token = r.json()["token"]
    with _client(b, token) as on_b, _client(a, token) as on_a:
        r = on_b.post(P + "/memories", json={"type": "fact", "content": "second, sent to B"})
        assert r.status_code == 200, r.text
        assert r.headers[FORWARDED_TO_HEADER] == a.url
        txid = r.json()["txid"]
        # Written by A: A has it at once; B serves it once it has caught up to the txid.
        assert "second, sent to B" in [
            m["content"] for m in on_a.get(P + "/memories").json()["memories"]
        ]
        r = on_b.get(P + "/memories", params={"min_txid": txid})
        assert r.status_code == 200, r.text
        assert [m["content"] for m in r.json()["memories"]] == [
            "first, on A",
            "second, sent to B",
        ]
        # The writer's own refusals come back as they are: reusing an idempotency key for
        # another request is a 409 that only the writer can tell.
        once = {"type": "fact", "content": "keyed", "idempotency_key": "k1"}
        assert on_b.post(P + "/memories", json=once).status_code == 200
        r = on_b.post(P + "/memories", json={**once, "content": "another request"})
        assert r.status_code == 409 and r.headers[FORWARDED_TO_HEADER] == a.url, r.text
        # Input B can judge itself never travels: bad input is B's own 400.
        r = on_b.post(P + "/memories", json={"type": "nonsense", "content": "x"})
        assert r.status_code == 400 and FORWARDED_TO_HEADER not in r.headers
    # A read-only token cannot write through B: B refuses it itself, before any lease.
    with _client(a, a.root_token) as root:
        r = root.post("/v1/namespaces/fw/tokens", json={"profile": "alice", "scopes": ["read"]})
        ro = r.json()["token"]
    with _client(b, ro) as on_b:
        r = on_b.post(P + "/memories", json={"type": "fact", "content": "not allowed"})
        assert r.status_code == 403 and FORWARDED_TO_HEADER not in r.headers, r.text


def test_an_unreachable_writer_is_taken_over_once_its_lease_lapses(nodes) -> None:
    a, b = nodes
    _setup(a)
    a.server.stop()  # A's HTTP front is gone; its engine holds the lease, renewing nothing
    with _client(b, a.root_token) as on_b:
        r = on_b.post(P + "/memories", json={"type": "fact", "content": "B takes it"})
        assert r.status_code == 200, r.text  # within A's lease TTL, in this one request
        assert FORWARDED_TO_HEADER not in r.headers
        contents = [m["content"] for m in on_b.get(P + "/memories").json()["memories"]]
    assert contents == ["first, on A", "B takes it"]


def test_a_forwarded_request_is_never_forwarded_again(nodes) -> None:
    a, b = nodes
    _setup(a)
    with _client(b, a.root_token) as on_b:
        r = on_b.post(
            P + "/memories",
            json={"type": "fact", "content": "already forwarded once"},
            headers={FORWARDED_HEADER: "node-x"},
        )
    assert r.status_code == 503 and r.headers[WRITER_HEADER] == a.url
    contents = [m.content for m in a.engine.profile("fw", "alice").list_memories().memories]
    assert contents == ["first, on A"]


def test_sdk_read_your_writes_across_nodes(nodes) -> None:
    import memoturn

    a, b = nodes
    _setup(a)
    with memoturn.Client(b.url, a.root_token) as client:
        p = client.profile("fw", "alice")  # read-your-writes is the default
        # B serves this read from its own copy, and keeps that copy open.
        assert [m.content for m in p.list_memories().memories] == ["first, on A"]
        written = p.ingest("fact", "second, through B")  # forwarded: A writes it
        assert p._calls.min_txid == written.txid
        # B's open copy is behind; the handle's next read makes B catch up first.
        assert [m.content for m in p.list_memories().memories] == [
            "first, on A",
            "second, through B",
        ]
        assert p.recall("second", mode="keyword").txid >= written.txid
        plain = client.profile("fw", "alice", read_your_writes=False)
        plain.ingest("fact", "third, through B")
        assert plain._calls.min_txid is None  # off: the handle sends no min_txid


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_an_mcp_write_on_the_other_node_is_made_by_the_writer(nodes) -> None:
    from tests.mcp.conftest import http_session

    a, b = nodes
    _setup(a)
    with _client(a, a.root_token) as root:
        token = root.post("/v1/namespaces/fw/tokens", json={"profile": "alice"}).json()["token"]
    async with http_session(b.url, token) as s:
        wrote = await s.call("memory_ingest", type="fact", content="said over MCP to B")
    contents = [m.content for m in a.engine.profile("fw", "alice").list_memories().memories]
    assert contents == ["first, on A", "said over MCP to B"]
    assert wrote["memory"]["content"] == "said over MCP to B" and wrote["txid"] == 2


def test_a_forwarded_write_that_arrives_after_its_deadline_is_refused(nodes) -> None:
    from memoturn.http.edge import FORWARD_DEADLINE_HEADER

    a, _ = nodes
    _setup(a)
    with _client(a, a.root_token) as on_a:
        late = {FORWARDED_HEADER: "node-b", FORWARD_DEADLINE_HEADER: f"{time.time() - 1:.3f}"}
        r = on_a.post(P + "/memories", json={"type": "fact", "content": "too late"}, headers=late)
        assert r.status_code == 503 and "gave up" in r.json()["error"]["message"], r.text
        assert r.headers["Retry-After"] == "1"
    contents = [m.content for m in a.engine.profile("fw", "alice").list_memories().memories]
    assert contents == ["first, on A"]
