"""The policy is enforced in the engine, so REST, the SDK and MCP agree: task TTL caps,
retention on every read and in the sweeper, and AI egress counted at a loopback embedding
server (the stand-in for a remote model: Ollama and friends cannot run here)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.embed.test_http import DIM, Served

import memoturn
from memoturn.core.clock import ManualClock
from memoturn.core.errors import EgressDenied, Internal
from memoturn.core.model import iso
from memoturn.embed import OpenAICompatibleEmbedder
from memoturn.engine.tokens import TokenAuthority
from memoturn.http import ThrowawayNode
from memoturn.mcp.backends import EngineBackend
from memoturn.mcp.tools import BY_NAME, Binding, call

NS = "/v1/namespaces/acme"
P = NS + "/profiles/alice"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def node(tmp_path, embedder, clock) -> Iterator[ThrowawayNode]:
    with ThrowawayNode(tmp_path / "node", embedder=embedder, clock=clock) as n:
        n.engine.create_namespace("acme")
        n.engine.create_profile("acme", "alice")
        yield n


@pytest.fixture
def root(node) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=node.url, headers={"Authorization": f"Bearer {node.root_token}"}
    ) as c:
        yield c


def _mcp(engine: memoturn.Engine, tool: str, **args: object) -> dict:
    authority = TokenAuthority(engine)
    grant = authority.verify(authority.mint_root())
    backend = EngineBackend(engine, authority, lambda: grant)
    return call(BY_NAME, backend, Binding("acme", "alice"), tool, args)


def test_task_ttl_is_capped_on_every_path(node, root, clock) -> None:
    root.put(NS + "/policy", json={"task_ttl_max_s": 60}).raise_for_status()
    now = clock.now()
    r = root.post(P + "/memories", json={"type": "task", "content": "pay rent", "ttl_s": 3600})
    assert r.status_code == 200, r.text
    assert r.json()["ttl_capped"] is True
    assert r.json()["memory"]["expires_at"] == iso(now + 60)
    # a task without a TTL (a session's 24 h default, or none) is capped too
    r = root.post(P + "/memories", json={"type": "task", "content": "t2", "session_id": "s1"})
    assert r.json()["ttl_capped"] is True and r.json()["memory"]["expires_at"] == iso(now + 60)
    # a TTL under the cap is kept; other types are not tasks
    r = root.post(P + "/memories", json={"type": "task", "content": "t3", "ttl_s": 30})
    assert r.json()["ttl_capped"] is False and r.json()["memory"]["expires_at"] == iso(now + 30)
    r = root.post(P + "/memories", json={"type": "fact", "content": "f1", "ttl_s": 3600})
    assert r.json()["ttl_capped"] is False
    batch = root.post(
        P + "/memories/batch",
        json={"items": [{"type": "task", "content": "b1"}, {"type": "task", "content": "b2"}]},
    ).json()
    assert [x["ttl_capped"] for x in batch["results"]] == [True, True]
    # sessions opened asking for more get the cap
    s = root.post(P + "/sessions", json={"session_id": "s2", "task_ttl_s": 86400}).json()
    assert s["session"]["task_ttl_s"] == 60, s
    # the SDK and MCP see the same
    with memoturn.Client(node.url, node.root_token) as client:
        result = client.profile("acme", "alice").ingest("task", "sdk task", ttl_s=999)
        assert result.ttl_capped and result.memory.expires_at == pytest.approx(now + 60)
    out = _mcp(node.engine, "memory_ingest", type="task", content="mcp task", ttl_s=999)
    assert out["ttl_capped"] is True and out["memory"]["expires_at"] == iso(now + 60)
    # after the cap every capped task is gone
    clock.advance(61)
    listed = root.get(P + "/memories", params={"type": "task"}).json()["memories"]
    assert listed == []


def test_retention_hides_old_items_from_every_read_and_the_sweeper_removes_them(
    node, root, clock
) -> None:
    root.put(NS + "/policy", json={"retention_s": 100}).raise_for_status()
    old = root.post(P + "/memories", json={"type": "fact", "content": "Alice owns a red kayak",
                                          "topic": "boat"}).json()  # fmt: skip
    root.post(P + "/sessions/s1/turns", json={"role": "user", "content": "the kayak is red"})
    doc = root.post(P + "/documents", json={"title": "kayak", "content": "red kayak manual"})
    doc_id = doc.json()["document"]["id"]
    clock.advance(60)
    young = root.post(P + "/memories", json={"type": "fact", "content": "Alice owns a blue kayak"})
    young_id = young.json()["memory"]["id"]

    def recalled() -> list[str]:
        hits = root.post(
            P + "/recall",
            json={"query": "kayak", "scopes": ["memories", "transcript", "documents"]},
        ).json()["results"]
        return sorted(h["memory"].get("content", "") for h in hits)

    assert len(recalled()) == 4
    clock.advance(41)  # the first three pass 100 s; the young one is 41 s old
    mid = old["memory"]["id"]
    assert root.get(P + f"/memories/{mid}").status_code == 404
    assert [m["id"] for m in root.get(P + "/memories").json()["memories"]] == [young_id]
    assert root.get(P + "/topics/boat/history").json()["versions"] == []
    assert root.get(P + "/sessions/s1/turns").json()["turns"] == []
    assert root.get(P + f"/documents/{doc_id}").status_code == 404
    assert recalled() == ["Alice owns a blue kayak"]
    for mode in ("keyword", "vector"):
        hits = root.post(P + "/recall", json={"query": "red kayak", "mode": mode}).json()
        assert [h["memory"]["id"] for h in hits["results"]] == [young_id], mode
    # the same through the SDK and MCP
    with memoturn.Client(node.url, node.root_token) as client:
        assert [m.id for m in client.profile("acme", "alice").list_memories().memories] == [
            young_id
        ]
    out = _mcp(node.engine, "memory_recall", query="kayak")
    assert [h["memory"]["id"] for h in out["results"]] == [young_id]
    # re-ingesting an expired one is a new memory, not a "duplicate" of the hidden one
    again = root.post(P + "/memories", json={"type": "fact", "content": "Alice owns a red kayak",
                                            "topic": "boat"}).json()  # fmt: skip
    assert again["duplicate"] is False
    # the sweeper deletes the rows
    swept = node.engine.sweep("acme", "alice")
    assert swept.count == 3
    # lifting the policy does not bring them back
    root.put(NS + "/policy", json={}).raise_for_status()
    assert root.get(P + f"/memories/{mid}").status_code == 404
    assert root.get(P + "/sessions/s1/turns").json()["turns"] == []


# -- egress ------------------------------------------------------------------------------------


def _remote_engine(tmp_path, url: str, *, dim: int, self_hosted: bool) -> memoturn.Engine:
    embedder = OpenAICompatibleEmbedder(url, "remote-model", dim=dim, self_hosted=self_hosted)
    eng = memoturn.open(tmp_path / "eng", embedder=embedder, clock=ManualClock())
    eng.create_namespace("acme")
    eng.create_profile("acme", "alice")
    return eng


def test_a_deny_namespace_never_sends_content_out(tmp_path, provider: Served) -> None:
    state, url = provider
    with _remote_engine(tmp_path, url, dim=DIM, self_hosted=True) as eng:
        eng.set_policy("acme", {"ai_egress": "deny"})
        alice = eng.profile("acme", "alice")
        with pytest.raises(EgressDenied) as e:
            alice.ingest("fact", "Alice's secret diagnosis")
        assert "ai_egress='deny'" in e.value.message and "in-process" in e.value.hint
        with pytest.raises(EgressDenied):
            alice.recall("diagnosis")
        with pytest.raises(EgressDenied):
            alice.add_document("secret document")
        with pytest.raises(EgressDenied):
            alice.append_turn("s1", "user", "secret turn")
        assert alice.recall("diagnosis", mode="keyword").results == []  # no embedding: fine
        alice.kv_set("notes", "k", "v")  # no content goes to a model
        assert alice.list_memories().memories == []  # a refused write changed nothing
        assert state.requests == []  # not one request reached the server


def test_deny_falls_back_to_the_in_process_model_when_dimensions_match(
    tmp_path, provider: Served
) -> None:
    state, url = provider
    state.dim = 384
    with _remote_engine(tmp_path, url, dim=384, self_hosted=False) as eng:
        eng.set_policy("acme", {"ai_egress": "deny"})
        alice = eng.profile("acme", "alice")
        wrote = alice.ingest("fact", "Alice keeps bees")
        hits = alice.recall("who keeps bees?", mode="vector").results
        assert hits[0].memory.id == wrote.memory.id
        assert state.requests == []
        # another namespace with no policy does use the node's model (the stand-in server
        # makes at most 32 dimensions, so its answer is refused: the request is what counts)
        eng.create_namespace("open")
        eng.create_profile("open", "bob")
        with pytest.raises(Internal, match="length"):
            eng.profile("open", "bob").ingest("fact", "Bob keeps goats")
        assert len(state.requests) == 1


def test_self_hosted_allows_a_self_hosted_server_only(tmp_path, provider: Served) -> None:
    state, url = provider
    with _remote_engine(tmp_path, url, dim=DIM, self_hosted=True) as eng:
        eng.set_policy("acme", {"ai_egress": "self_hosted"})
        eng.profile("acme", "alice").ingest("fact", "fine to embed at home")
        assert len(state.requests) == 1
    state.requests.clear()
    with _remote_engine(tmp_path / "2", url, dim=DIM, self_hosted=False) as eng:
        eng.set_policy("acme", {"ai_egress": "self_hosted"})
        with pytest.raises(EgressDenied, match="third-party"):
            eng.profile("acme", "alice").ingest("fact", "not to a third party")
        assert state.requests == []


def test_a_policy_change_applies_to_an_open_profile(tmp_path, provider: Served) -> None:
    state, url = provider
    with _remote_engine(tmp_path, url, dim=DIM, self_hosted=True) as eng:
        alice = eng.profile("acme", "alice")
        alice.ingest("fact", "before the policy")
        assert len(state.requests) == 1
        eng.set_policy("acme", {"ai_egress": "deny"})
        with pytest.raises(EgressDenied):
            alice.ingest("fact", "after the policy")
        assert len(state.requests) == 1


def test_egress_denied_over_rest_is_403(tmp_path, provider: Served) -> None:
    state, url = provider
    embedder = OpenAICompatibleEmbedder(url, "remote-model", dim=DIM, self_hosted=True)
    with (
        ThrowawayNode(tmp_path / "n", embedder=embedder) as n,
        httpx.Client(base_url=n.url, headers={"Authorization": f"Bearer {n.root_token}"}) as root,
    ):
        root.post("/v1/namespaces", json={"name": "acme"})
        root.post(NS + "/profiles", json={"name": "alice"})
        root.put(NS + "/policy", json={"ai_egress": "deny"})
        r = root.post(P + "/memories", json={"type": "fact", "content": "secret"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "egress_denied"
        r = root.post(P + "/recall", json={"query": "secret"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "egress_denied"
        with memoturn.Client(n.url, n.root_token) as client, pytest.raises(EgressDenied):
            client.profile("acme", "alice").ingest("fact", "secret via the SDK")
        with pytest.raises(EgressDenied):
            _mcp(n.engine, "memory_ingest", type="fact", content="secret via MCP")
    assert state.requests == []
