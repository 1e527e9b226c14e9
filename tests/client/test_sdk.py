"""The SDK against a live node: every profile operation, sync and async, typed results, and
errors raised as the class the REST error code names."""

from __future__ import annotations

import asyncio

import pytest

import memoturn
from memoturn import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooLarge,
    TxidTimeout,
    Unauthorized,
    Unavailable,
)
from memoturn.client import MintedToken, Profile
from memoturn.core.model import (
    Checkpoint,
    Document,
    DocumentChunk,
    IngestResult,
    KVResult,
    Memory,
    RecallResult,
    Session,
    Turn,
    VectorHit,
    Written,
)
from memoturn.core.ranking import RECOMMENDED_MIN_SCORE


@pytest.fixture(scope="module")
def client(sdk_node):
    with memoturn.Client(sdk_node.url, sdk_node.root_token) as c:
        c.create_namespace("acme")
        yield c


def _profile(client: memoturn.Client, name: str) -> Profile:
    assert client.create_profile("acme", name) is True
    return client.profile("acme", name)


def test_memories(client, sdk_clock) -> None:
    alice = _profile(client, "mem")
    first = alice.ingest("preference", "Alice is vegetarian", topic="diet", metadata={"a": 1})
    assert isinstance(first, IngestResult) and isinstance(first.memory, Memory)
    assert isinstance(first.memory.created_at, float)
    assert abs(first.memory.created_at - sdk_clock.now()) < 1e-3
    second = alice.ingest("preference", "Alice is vegan", topic="diet")
    assert second.superseded == [first.memory.id] and second.txid == first.txid + 1
    assert alice.ingest("preference", "alice is VEGAN", topic="diet").duplicate is True
    hit = alice.recall("what should I cook for Alice?").results[0]
    assert isinstance(alice.recall("x"), RecallResult)
    assert hit.memory.content == "Alice is vegan" and hit.why.vector_rank is not None
    assert 0 < hit.relevance < 1
    relevant = alice.recall("what should I cook for Alice?", min_score=hit.relevance).results
    assert [h.memory.content for h in relevant] == ["Alice is vegan"]
    assert alice.recall("capital of Australia", min_score=RECOMMENDED_MIN_SCORE).results == []
    with pytest.raises(InvalidInput, match="min_score"):
        alice.recall("x", min_score=1.5)
    history = alice.topic_history("diet").versions
    assert [m.content for m in history] == ["Alice is vegetarian", "Alice is vegan"]
    assert history[0].valid_to is not None and history[0].superseded_by == second.memory.id
    assert alice.get_memory(first.memory.id).memory.content == "Alice is vegetarian"
    assert [m.content for m in alice.list_memories(type="preference").memories] == [
        "Alice is vegan"
    ]
    assert len(alice.list_memories(include_history=True).memories) == 2
    forgot = alice.forget(second.memory.id, reason="user asked")
    assert forgot == Written(second.txid + 1, 1)
    assert alice.recall("vegan").results == []
    batch = alice.ingest_many([{"type": "fact", "content": f"fact {i}"} for i in range(3)]).results
    assert len({r.txid for r in batch}) == 1


def test_sessions(client) -> None:
    p = _profile(client, "sess")
    _r = p.open_session("chat", task_ttl_s=600)
    session, txid = _r.session, _r.txid
    assert isinstance(session, Session) and session.id == "chat" and txid == 1
    _r = p.append_turn("chat", "user", "remind me to call mum", name="alice")
    turn, _ = _r.turn, _r.txid
    assert isinstance(turn, Turn) and turn.turn == 1 and turn.name == "alice"
    p.append_turn("chat", "assistant", "ok")
    p.ingest("task", "call mum", session_id="chat")
    assert [t.content for t in p.read_turns("chat").turns] == ["remind me to call mum", "ok"]
    assert [t.turn for t in p.read_turns("chat", after=1).turns] == [2]
    hits = p.recall("call mum", scopes=["transcript"]).results
    assert isinstance(hits[0].memory, Turn)
    assert p.end_session("chat").deleted_tasks == 1
    assert p.get_session("chat").session.ended_at is not None
    with pytest.raises(Conflict):
        p.append_turn("chat", "user", "too late")


def test_pop_turn_and_delete_turns(client) -> None:
    p = _profile(client, "edits")
    p.append_turns(
        "chat", [{"role": "user", "content": f"turn {n} about zebras"} for n in (1, 2, 3)]
    )
    popped = p.pop_turn("chat")
    assert popped.turn.turn == 3 and popped.turn.content == "turn 3 about zebras"
    assert [t.turn for t in p.read_turns("chat").turns] == [1, 2]
    assert p.append_turn("chat", "assistant", "four").turn.turn == 4  # numbers are not reused
    gone = p.delete_turns("chat", after=1)
    assert isinstance(gone, Written) and gone.count == 2 and gone.txid == p.read_turns("chat").txid
    assert [t.content for t in p.read_turns("chat").turns] == ["turn 1 about zebras"]
    hits = p.recall("turn about zebras", scopes=["transcript"]).results
    assert [h.memory.turn for h in hits] == [1]  # deleted turns leave recall too
    assert p.delete_turns("chat").count == 1 and p.read_turns("chat").turns == []
    assert p.delete_turns("chat").count == 0
    with pytest.raises(NotFound):
        p.pop_turn("chat")  # no turns left
    with pytest.raises(NotFound):
        p.delete_turns("no-such-session")
    with pytest.raises(InvalidInput):
        p.delete_turns("chat", after=-1)
    assert p.get_session("chat").session.ended_at is None  # the session stays


def test_kv_compare_set(client, sdk_clock) -> None:
    p = _profile(client, "cas")
    made = p.kv_compare_set("locks", "job/1", {"owner": "a", "n": 1})  # only if absent
    assert isinstance(made, KVResult) and made.value == {"owner": "a", "n": 1}
    with pytest.raises(Conflict, match="exists"):
        p.kv_compare_set("locks", "job/1", {"owner": "b"})
    with pytest.raises(Conflict, match="another value"):
        p.kv_compare_set("locks", "job/1", {"owner": "b"}, expected={"owner": "z", "n": 1})
    with pytest.raises(Conflict, match="another value"):
        p.kv_compare_set("locks", "job/1", {"owner": "b"}, expected={"owner": "a", "n": True})
    assert p.kv_get("locks", "job/1").value == {"owner": "a", "n": 1}  # nothing changed
    swapped = p.kv_compare_set(
        "locks", "job/1", {"owner": "b"}, expected={"n": 1, "owner": "a"}, ttl_s=60
    )
    assert swapped.value == {"owner": "b"} and swapped.expires_at is not None
    with pytest.raises(Conflict, match="does not exist"):
        p.kv_compare_set("locks", "job/2", 1, expected=0)
    with pytest.raises(InvalidInput):
        p.kv_compare_set("Bad Space", "k", 1)
    sdk_clock.advance(61)  # an expired key is absent
    assert p.kv_compare_set("locks", "job/1", "again").value == "again"


def test_kv(client, sdk_clock) -> None:
    p = _profile(client, "kv")
    _r = p.kv_set("prefs", "ui/theme", {"dark": True})
    item, txid = _r, _r.txid
    assert isinstance(item, KVResult) and item.key == "ui/theme" and txid == 1
    p.kv_set("prefs", "lang", "fr", ttl_s=10)
    assert p.kv_get("prefs", "ui/theme").value == {"dark": True}
    assert [i.key for i in p.kv_list("prefs").items] == ["lang", "ui/theme"]
    assert [i.key for i in p.kv_list("prefs", prefix="ui/").items] == ["ui/theme"]
    sdk_clock.advance(11)
    with pytest.raises(NotFound):
        p.kv_get("prefs", "lang")
    assert p.kv_delete("prefs", "ui/theme").count == 1
    assert p.kv_delete("prefs", "ui/theme").count == 0


def test_documents_and_vectors(client) -> None:
    p = _profile(client, "docs")
    _r = p.add_document("Kettles descale with vinegar. " * 50, title="Kettle care")
    doc, _ = _r.document, _r.txid
    assert isinstance(doc, Document) and doc.chunks >= 2
    assert p.get_document(doc.id).document.title == "Kettle care"
    hit = p.recall("how to descale", scopes=["documents"]).results[0]
    assert isinstance(hit.memory, DocumentChunk) and hit.memory.document_id == doc.id
    assert p.delete_document(doc.id).count == 1
    p.vector_upsert("emb", "a", [1.0, 0.0], metadata={"k": "v"})
    p.vector_upsert("emb", "b", [0.0, 1.0])
    hits = p.vector_query("emb", [1.0, 0.1], k=1).results
    assert hits == [VectorHit("a", pytest.approx(hits[0].score), {"k": "v"})]
    assert p.vector_delete("emb", "a").count == 1


def test_checkpoints_rewind_branches(client) -> None:
    p = _profile(client, "hist")
    p.ingest("fact", "kept")
    cp = client.create_checkpoint("acme", "hist", "good")
    assert isinstance(cp, Checkpoint) and cp.txid == 1
    p.ingest("fact", "mistake")
    assert [c.name for c in client.list_checkpoints("acme", "hist")] == ["good"]
    undo = client.rewind("acme", "hist", checkpoint="good")
    assert [m.content for m in p.list_memories().memories] == ["kept"]
    client.rewind("acme", "hist", checkpoint=undo.undo_checkpoint)
    assert [m.content for m in p.list_memories().memories] == ["kept", "mistake"]
    branch = client.create_branch("acme", "hist", "exp", from_checkpoint="good", ttl_s=3600)
    assert branch.name == "exp" and isinstance(branch.expires_at, float)
    exp = client.profile("acme", "hist", "exp")
    exp.ingest("fact", "only on exp")
    assert [m.content for m in exp.list_memories().memories] == ["kept", "only on exp"]
    assert "exp" in [b.name for b in client.list_branches("acme", "hist")]
    client.delete_branch("acme", "hist", "exp")
    client.delete_checkpoint("acme", "hist", "good")
    with pytest.raises(NotFound):
        exp.list_memories()


def test_gc_on_demand_removes_expired_burner_branches(client, sdk_node, sdk_clock) -> None:
    _profile(client, "gc")
    client.create_branch("acme", "gc", "burner", ttl_s=60)
    client.profile("acme", "gc", "burner").ingest("fact", "scratch")
    assert "burner" not in [e for r in client.gc() for e in r.expired_branches]  # not yet
    sdk_clock.advance(61)
    assert [b.name for b in client.list_branches("acme", "gc")] == ["main"]  # hidden at once
    with pytest.raises(memoturn.Conflict):
        client.create_branch("acme", "gc", "burner")  # its manifest still holds the name
    reports = {r.db: r for r in client.gc()}
    assert reports["acme--gc"].expired_branches == ["burner"]
    # Collected: the name is free again.
    assert client.create_branch("acme", "gc", "burner").expires_at is None
    token = client.mint_token("acme").token
    with memoturn.Client(sdk_node.url, token) as ns_admin, pytest.raises(memoturn.Forbidden):
        ns_admin.gc()


def test_admin_and_tokens(client, sdk_node, sdk_clock) -> None:
    _profile(client, "tok")
    assert client.create_profile("acme", "tok") is False
    assert "tok" in client.list_profiles("acme").profiles
    assert "acme" in client.list_namespaces()
    minted = client.mint_token("acme", "tok", scopes=["read"], ttl_s=60)
    assert isinstance(minted, MintedToken) and minted.expires_at is not None
    with memoturn.Client(sdk_node.url, minted.token) as reader:
        tok = reader.profile("acme", "tok")
        assert tok.list_memories().memories == []
        with pytest.raises(Forbidden):
            tok.ingest("fact", "x")
        with pytest.raises(Forbidden):
            reader.profile("acme", "mem").list_memories()
        client.revoke_tokens("acme", "tok")
        with pytest.raises(Unauthorized):
            tok.list_memories()
    client.delete_profile("acme", "tok")
    assert "tok" not in client.list_profiles("acme").profiles


def test_errors_map_to_classes(client, sdk_node) -> None:
    p = _profile(client, "err")
    with pytest.raises(InvalidInput) as e:
        p.ingest("opinion", "x")
    assert e.value.message.startswith("type must be one of fact, preference")
    with pytest.raises(TooLarge):
        p.ingest("fact", "x" * 40_000)
    with pytest.raises(NotFound):
        p.get_memory("01JZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(Conflict):
        p.ingest("fact", "a", idempotency_key="k1")
        p.ingest("fact", "b", idempotency_key="k1")
    with pytest.raises(TxidTimeout):
        client.profile("acme", "err", min_txid=10_000).list_memories()
    with pytest.raises(Unauthorized), memoturn.Client(sdk_node.url, "garbage") as bad:
        bad.list_namespaces()
    with pytest.raises(Unavailable) as e, memoturn.Client("http://127.0.0.1:9") as dead:
        dead.list_namespaces()
    assert e.value.retryable and "memoturn serve" in e.value.hint


def test_token_and_url_resolution(sdk_node, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MEMOTURN_URL", sdk_node.url)
    monkeypatch.delenv("MEMOTURN_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    with memoturn.Client() as c:
        assert c.url == sdk_node.url and c.token is None and c.health() is True
    with memoturn.Client(data_dir=sdk_node.data_dir) as c:
        assert c.token == sdk_node.root_token
    monkeypatch.setenv("MEMOTURN_DATA", str(sdk_node.data_dir))
    with memoturn.Client() as c:
        assert c.token == sdk_node.root_token
    monkeypatch.setenv("MEMOTURN_TOKEN", "from-env")
    assert memoturn.Client().token == "from-env"
    assert memoturn.Client(token="explicit").token == "explicit"


def test_async_client(sdk_node) -> None:
    async def scenario() -> None:
        async with memoturn.AsyncClient(sdk_node.url, sdk_node.root_token) as c:
            assert await c.create_profile("acme", "async") is True
            p = c.profile("acme", "async")
            r = await p.ingest("fact", "Bob's birthday is in May", topic="bob-birthday")
            assert isinstance(r, IngestResult) and r.txid == 1
            got = await asyncio.gather(
                p.recall("when is Bob's birthday"),
                p.topic_history("bob-birthday"),
                p.kv_set("s", "k", 1),
            )
            assert got[0].results[0].memory.id == r.memory.id
            assert [m.id for m in got[1].versions] == [r.memory.id]
            _r = await p.open_session()
            session, _ = _r.session, _r.txid
            await p.append_turn(session.id, "user", "hi")
            assert len((await p.read_turns(session.id)).turns) == 1
            assert (await p.forget(r.memory.id)).count == 1
            _r = await p.add_document("async doc")
            doc, _ = _r.document, _r.txid
            assert (await p.get_document(doc.id)).document.content == "async doc"
            await p.vector_upsert("v", "1", [1.0, 2.0])
            assert [h.id for h in (await p.vector_query("v", [1.0, 2.0])).results] == ["1"]
            with pytest.raises(NotFound):
                await p.get_memory("01JZZZZZZZZZZZZZZZZZZZZZZZ")
            with pytest.raises(Forbidden):
                token = await c.mint_token("acme", "async", scopes=["read"])
                async with memoturn.AsyncClient(sdk_node.url, token.token) as reader:
                    await reader.profile("acme", "async").kv_set("s", "k", 2)

    asyncio.run(scenario())


def test_error_from_answers_that_are_not_ours() -> None:
    from memoturn.client._core import error_from

    assert type(error_from(503, "<html>bad gateway</html>", "7")) is Unavailable
    assert error_from(503, None, "7").retry_after == 7.0
    assert type(error_from(404, {"detail": "x"}, None)) is NotFound
    assert type(error_from(418, None, None)) is memoturn.MemoturnError
    known = error_from(409, {"error": {"code": "conflict", "message": "m", "hint": "h"}}, None)
    assert (type(known), known.message, known.hint) == (Conflict, "m", "h")
