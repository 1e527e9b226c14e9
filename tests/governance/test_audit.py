"""The audit stream over REST and MCP: one event per call (refused ones too), durable before
the answer, group-committed, metadata only, merged across nodes, and never removed by a
rewind, a branch or a profile deletion."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.governance.conftest import bearer as _bearer
from tests.mcp.conftest import http_session

import memoturn
from memoturn.core.clock import ManualClock
from memoturn.engine.audit import Actor, AuditLog, Call
from memoturn.engine.governance import Policies
from memoturn.http import ThrowawayNode
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.memory import MemoryStore

NS = "/v1/namespaces/acme"
P = NS + "/profiles/alice"


def _events(root: httpx.Client, ns: str = "acme", **params: object) -> list[dict]:
    out, cursor = [], None
    while True:
        page = root.get(f"/v1/namespaces/{ns}/audit", params={**params, "cursor": cursor} if
                        cursor else params).json()  # fmt: skip
        out += page["events"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def _stored(node: ThrowawayNode) -> list[bytes]:
    store = node.engine.store
    return [store.get(i.key).data for i in store.list("audit/")]


def test_every_call_gets_one_event_refused_ones_too(node, root) -> None:
    wrote = root.post(P + "/memories", json={"type": "fact", "content": "Alice likes tea"})
    assert wrote.status_code == 200
    rid = wrote.headers["x-request-id"]
    root.post(P + "/recall", json={"query": "tea"})
    bob = root.post(NS + "/tokens", json={"profile": "bob"}).json()["token"]
    with httpx.Client(base_url=node.url) as anon:
        assert anon.get(P + "/memories").status_code == 401
        assert anon.get(P + "/memories", headers=_bearer("not-a-token")).status_code == 401
        assert anon.get(P + "/memories", headers=_bearer(bob)).status_code == 403
    events = _events(root)
    ops = [(e["op"], e["status"]) for e in events]
    assert ops == [
        ("ingest", 200),
        ("recall", 200),
        ("mint_token", 200),
        ("list_memories", 401),
        ("list_memories", 401),
        ("list_memories", 403),
    ]
    ingest = events[0]
    assert ingest["request_id"] == rid
    assert ingest["txid"] == wrote.json()["txid"]
    assert ingest["ids"] == [wrote.json()["memory"]["id"]]
    assert ingest["namespace"] == "acme" and ingest["profile"] == "alice"
    assert ingest["branch"] == "main" and ingest["node"] == node.engine.node_id
    assert ingest["actor"]["kind"] == "root" and ingest["actor"]["token_id"]
    assert events[1]["count"] == 1
    assert events[3]["actor"] == {"kind": None, "subject": None, "token_id": None}
    assert events[5]["actor"]["kind"] == "profile"
    assert events[5]["actor"]["subject"] == "acme--bob"
    assert [e["seq"] for e in events] == list(range(1, 7))
    assert not any(bob.split(".")[2].encode() in data for data in _stored(node))  # no tokens


def test_an_answer_waits_until_its_event_is_in_the_store(node, root) -> None:
    for i in range(3):
        rid = root.post(P + "/memories", json={"type": "fact", "content": f"m{i}"}).headers[
            "x-request-id"
        ]
        # read from the store itself, not through the node's cache
        assert any(rid.encode() in data for data in _stored(node))


def test_policy_changes_are_audited_even_with_audit_off(node, root) -> None:
    root.post("/v1/namespaces", json={"name": "quiet"})
    root.post("/v1/namespaces/quiet/profiles", json={"name": "q"})
    root.post("/v1/namespaces/quiet/profiles/q/memories", json={"type": "fact", "content": "x"})
    assert root.put("/v1/namespaces/quiet/policy", json={"retention_s": 99}).status_code == 200
    r = root.put("/v1/namespaces/quiet/profiles/q/policy", json={"retention_s": 9})
    assert r.status_code == 200
    assert (
        root.put("/v1/namespaces/quiet/profiles/q/policy", json={"retention_s": 999}).status_code
        == 400
    )
    events = _events(root, "quiet")
    assert [(e["op"], e["status"]) for e in events] == [
        ("set_namespace_policy", 200),
        ("set_profile_policy", 200),
        ("set_profile_policy", 400),
    ]
    assert events[0]["policy"]["retention_s"] == 99
    assert events[1]["policy"] == {"retention_s": 9}
    assert "policy" not in events[2]
    # turning audit off is on the record; what follows is not
    root.put(NS + "/policy", json={"audit": False})
    root.post(P + "/memories", json={"type": "fact", "content": "unaudited"})
    assert [e["op"] for e in _events(root)][-1] == "set_namespace_policy"


def test_the_audit_route_filters_and_pages(node, root) -> None:
    for i in range(5):
        root.post(P + "/memories", json={"type": "fact", "content": f"a{i}"})
        node.engine.clock.advance(10)  # type: ignore[attr-defined]
    root.post(NS + "/profiles/bob/memories", json={"type": "fact", "content": "b"})
    everything = _events(root, op="ingest", limit=2)
    assert [e["seq"] for e in everything] == list(range(1, 7))
    # reading the stream is an admin call: it is on the record too
    assert [e["op"] for e in _events(root)][6:9] == ["read_audit"] * 3
    assert len(_events(root, profile="bob")) == 1
    assert len(_events(root, op="ingest", profile="alice")) == 5
    t = everything[2]["at"]
    assert [e["seq"] for e in _events(root, since=t)][:1] == [3]
    assert [e["seq"] for e in _events(root, until=t)] == [1, 2]
    first = root.get(NS + "/audit", params={"limit": 2}).json()
    assert len(first["events"]) == 2 and first["next_cursor"]
    for bad in ({"cursor": "nonsense"}, {"since": "yesterday"}, {"limit": 0}):
        r = root.get(NS + "/audit", params=bad)
        assert r.status_code == 400, (bad, r.text)
    ns_token = root.post(NS + "/tokens", json={}).json()["token"]
    alice = root.post(NS + "/tokens", json={"profile": "alice"}).json()["token"]
    with httpx.Client(base_url=node.url) as c:
        assert c.get(NS + "/audit", headers=_bearer(ns_token)).status_code == 200
        assert c.get(NS + "/audit", headers=_bearer(alice)).status_code == 403
    assert root.get("/v1/namespaces/nope/audit").status_code == 404
    with memoturn.Client(node.url, node.root_token) as client:
        page = client.audit_events("acme", op="ingest", limit=3)
        assert [e["seq"] for e in page.events] == [1, 2, 3] and page.next_cursor is not None


def test_rewind_branch_and_profile_deletion_keep_the_events(node, root) -> None:
    root.post(P + "/checkpoints", json={"name": "cp"})
    root.post(P + "/memories", json={"type": "fact", "content": "x"})
    root.post(P + "/branches", json={"name": "side"})
    root.post(P + "/memories?branch=side", json={"type": "fact", "content": "y"})
    before = _events(root)
    root.post(P + "/rewind", json={"checkpoint": "cp"})
    root.delete(P + "/branches/side")
    root.delete(P)
    after = _events(root)
    assert after[: len(before)] == before
    assert [e["op"] for e in after[len(before) :]] == [
        "read_audit",
        "rewind",
        "delete_branch",
        "delete_profile",
    ]
    assert before[3]["branch"] == "side"


def test_group_commit_shares_one_put() -> None:
    gate, entered = threading.Event(), threading.Event()

    class SlowStore(MemoryStore):
        def put(self, key, data, **kw):  # type: ignore[no-untyped-def]
            if key.endswith("0000000000000001.json"):
                entered.set()
                gate.wait()
            return super().put(key, data, **kw)

    store, clock = SlowStore(), ManualClock()
    policies = Policies(store, clock)
    policies.set_namespace("acme", {"audit": True})
    log = AuditLog(store, policies, clock, "n1", Ed25519PrivateKey.generate())
    try:
        call = Call("acme", "ingest", 200, Actor("root", "root", "t"), "alice", "main")
        first = log.submit(call)
        assert entered.wait(10)  # the first batch is being written ...
        rest = [log.submit(call) for _ in range(20)]  # ... while 20 more calls arrive
        gate.set()
        assert [f.result(10) for f in [first, *rest]] == list(range(1, 22))
        assert log.puts == 2
    finally:
        gate.set()
        log.close()


def _served_mcp(node: ThrowawayNode) -> str:
    return node.url


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_mcp_tool_calls_are_audited(node, root, anyio_backend) -> None:
    alice = root.post(NS + "/tokens", json={"profile": "alice"}).json()["token"]
    async with http_session(node.url, alice) as s:
        await s.call("memory_ingest", type="fact", content="Alice likes MCP")
        await s.call("memory_recall", query="MCP")
    async with http_session(node.url, alice, query="?profile=bob") as s:
        assert (await s.fail("memory_recall", query="x"))["code"] == "forbidden"
    events = _events(root)
    assert [(e["op"], e["status"], e["profile"]) for e in events[-3:]] == [
        ("memory_ingest", 200, "alice"),
        ("memory_recall", 200, "alice"),
        ("memory_recall", 403, "bob"),
    ]
    assert events[-3]["actor"]["subject"] == "acme--alice" and events[-3]["txid"] == 1


def test_two_nodes_share_one_stream(tmp_path, embedder) -> None:
    store = LocalDirStore(tmp_path / "store")
    with (
        ThrowawayNode(tmp_path / "a", object_store=store, embedder=embedder) as a,
        ThrowawayNode(tmp_path / "b", object_store=store, embedder=embedder) as b,
        httpx.Client(base_url=a.url, headers=_bearer(a.root_token)) as ra,
        httpx.Client(base_url=b.url, headers=_bearer(b.root_token)) as rb,
    ):
        ra.post("/v1/namespaces", json={"name": "acme"})
        ra.post(NS + "/profiles", json={"name": "alice"})
        ra.put(NS + "/policy", json={"audit": True})
        ra.get(P + "/memories")
        rb.get(P + "/memories")
        ra.get(P + "/memories")
        from_a = _events(ra, op="list_memories")
        assert _events(rb, op="list_memories") == from_a
        assert [e["node"] for e in from_a] == [a.engine.node_id, b.engine.node_id, a.engine.node_id]
        everything = _events(ra)
        assert [e["at"] for e in everything] == sorted(e["at"] for e in everything)
        assert everything[0]["op"] == "set_namespace_policy"
    from memoturn import cli

    assert cli.main(["audit", "verify", "acme", "--object-store", f"file://{tmp_path}/store"]) == 0


def test_export_writes_json_lines(node, root, tmp_path: Path, capsys) -> None:
    for i in range(3):
        root.post(P + "/memories", json={"type": "fact", "content": f"e{i}"})
    from memoturn import cli

    out = tmp_path / "audit.jsonl"
    args = ["--url", node.url, "--token", node.root_token, "--output", str(out)]
    assert cli.main(["audit", "export", "acme", *args]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert "exported 3 events" in capsys.readouterr().err


def test_the_chain_on_s3_verifies_and_shows_a_cut(moto_s3) -> None:
    from memoturn.engine.audit import verify

    store, clock = moto_s3.store(moto_s3.new_bucket()), ManualClock()
    policies = Policies(store, clock)
    policies.set_namespace("acme", {"audit": True})
    key = Ed25519PrivateKey.generate()
    log = AuditLog(store, policies, clock, "n1", key)
    call = Call("acme", "recall", 200, Actor("root", "root", "t"), "alice", "main")
    for _ in range(3):
        log.record(call)
    log.close()
    verdict = verify(store, "acme", key.public_key())
    assert verdict.ok and (verdict.events, verdict.batches) == (3, 3)
    assert not verify(store, "acme", Ed25519PrivateKey.generate().public_key()).ok
    store.delete("audit/acme/n1/0000000000000003.json")
    assert "names batch 3" in str(verify(store, "acme", key.public_key()).problem)


def test_facts_take_server_ids_and_counts_only() -> None:
    from memoturn.engine.audit import facts

    mid = "01M8T4WH3DECAYQNKZ73VYCPV2"
    assert facts({"memory": {"id": mid, "content": "x"}, "txid": 3, "superseded": []}) == {
        "txid": 3,
        "ids": [mid],
    }
    # vector ids are the client's (even when they look like ours); a hit list is a count
    assert facts({"results": [{"id": mid, "score": 1.0}], "txid": 2}) == {"txid": 2, "count": 1}
    assert facts({"items": [{"key": "k", "value": 1}], "txid": 1}) == {"txid": 1, "count": 1}
    assert facts({"memory": {"id": "client text"}}) == {}
    assert facts({"txid": True, "count": False}) == {}
    assert facts(None) == {}
