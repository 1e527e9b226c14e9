"""Every route of API.md against a live node: shapes, txids, errors, limits, metrics, logs."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from memoturn.core import limits
from memoturn.core.ranking import RECOMMENDED_MIN_SCORE
from memoturn.http import MAX_BODY_BYTES

P = "/v1/namespaces/acme/profiles/alice"
MEMORY_FIELDS = {
    "id", "type", "content", "topic", "session_id", "source", "metadata", "created_at",
    "valid_from", "valid_to", "superseded_by", "expires_at",
}  # fmt: skip


@pytest.fixture(scope="module")
def alice(admin, node) -> httpx.Client:
    """A client holding a read/write profile token for acme--alice."""
    admin.provision("acme", "alice", "bob")
    token = admin.mint("acme", profile="alice")
    client = httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"})
    yield client
    client.close()


def _error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]


def test_node_routes(anon) -> None:
    assert anon.get("/healthz").json() == {"status": "ok"}
    assert anon.get("/readyz").json() == {"status": "ready"}
    _error(anon.get("/no/such/route"), 404, "not_found")


def test_namespace_and_profile_provisioning(root) -> None:
    r = root.post("/v1/namespaces", json={"name": "prov"})
    assert (r.status_code, r.json()) == (201, {"name": "prov", "created": True})
    assert root.post("/v1/namespaces", json={"name": "prov"}).status_code == 200
    assert "prov" in root.get("/v1/namespaces").json()["namespaces"]
    r = root.post("/v1/namespaces/prov/profiles", json={"name": "p1"})
    assert (r.status_code, r.json()["created"]) == (201, True)
    r = root.post("/v1/namespaces/prov/profiles", json={"name": "p1"})
    assert (r.status_code, r.json()["created"]) == (200, False)
    assert root.get("/v1/namespaces/prov/profiles").json() == {
        "profiles": ["p1"],
        "next_cursor": None,
    }
    root.post("/v1/namespaces/prov/profiles", json={"name": "p2"})
    page = root.get("/v1/namespaces/prov/profiles", params={"limit": 1}).json()
    assert page == {"profiles": ["p1"], "next_cursor": "p1"}
    page = root.get("/v1/namespaces/prov/profiles", params={"cursor": "p1"}).json()
    assert page == {"profiles": ["p2"], "next_cursor": None}
    _error(root.post("/v1/namespaces", json={"name": "Bad--Name"}), 400, "invalid")
    _error(root.post("/v1/namespaces/nope/profiles", json={"name": "x"}), 404, "not_found")
    _error(root.delete("/v1/namespaces/prov/profiles/p1?branch=dev"), 400, "invalid")
    assert root.delete("/v1/namespaces/prov/profiles/p1").json() == {"deleted": True}
    _error(root.delete("/v1/namespaces/prov/profiles/p1"), 404, "not_found")


def test_mint_token_answer(root) -> None:
    root.post("/v1/namespaces", json={"name": "mint"})
    root.post("/v1/namespaces/mint/profiles", json={"name": "p"})
    r = root.post("/v1/namespaces/mint/tokens", json={"profile": "p", "ttl_s": 3600})
    assert set(r.json()) == {"token", "expires_at"} and r.json()["expires_at"].endswith("Z")
    assert root.post("/v1/namespaces/mint/tokens", json={}).json()["expires_at"] is None
    _error(root.post("/v1/namespaces/mint/tokens", json={"profile": "ghost"}), 404, "not_found")
    r = root.post("/v1/namespaces/mint/tokens", json={"profile": "p", "scopes": ["admin"]})
    _error(r, 400, "invalid")


def test_memories(alice) -> None:
    r = alice.post(
        P + "/memories",
        json={"type": "preference", "content": "Alice drinks green tea", "topic": "drink",
              "source": "agent-1", "metadata": {"k": 1}},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    first = r.json()
    assert set(first) == {"memory", "txid", "duplicate", "superseded", "updated", "ttl_capped"}
    assert set(first["memory"]) >= MEMORY_FIELDS
    assert first["memory"]["created_at"].endswith("Z") and first["duplicate"] is False
    again = alice.post(
        P + "/memories",
        json={"type": "preference", "content": "alice drinks  GREEN tea", "topic": "drink"},
    ).json()
    assert again["duplicate"] is True and again["memory"]["id"] == first["memory"]["id"]
    second = alice.post(
        P + "/memories", json={"type": "preference", "content": "Alice drinks coffee now",
                               "topic": "drink"},
    ).json()  # fmt: skip
    assert second["superseded"] == [first["memory"]["id"]]
    assert second["txid"] > first["txid"]
    mid = second["memory"]["id"]
    got = alice.get(f"{P}/memories/{mid}").json()
    assert got["memory"]["content"] == "Alice drinks coffee now" and got["txid"] >= second["txid"]
    listed = alice.get(P + "/memories", params={"topic": "drink"}).json()
    assert [m["id"] for m in listed["memories"]] == [mid] and listed["txid"] >= second["txid"]
    history = alice.get(P + "/memories", params={"topic": "drink", "include_history": True})
    assert len(history.json()["memories"]) == 2
    versions = alice.get(P + "/topics/drink/history").json()["versions"]
    assert [v["id"] for v in versions] == [first["memory"]["id"], mid]
    assert versions[0]["superseded_by"] == mid
    forgot = alice.delete(f"{P}/memories/{mid}", params={"reason": "asked"}).json()
    assert forgot["count"] == 1 and forgot["txid"] == second["txid"] + 1
    assert alice.delete(f"{P}/memories/{mid}").json()["count"] == 0
    _error(alice.get(f"{P}/memories/01JZZZZZZZZZZZZZZZZZZZZZZZ"), 404, "not_found")


def test_batch_ingest_is_one_transaction(alice) -> None:
    items = [{"type": "fact", "content": f"batch fact {i}"} for i in range(3)]
    r = alice.post(P + "/memories/batch", json={"items": items}).json()
    assert len(r["results"]) == 3 and {x["txid"] for x in r["results"]} == {r["txid"]}
    bad = [*items, {"type": "fact", "content": ""}]
    before = alice.get(P + "/memories").json()["txid"]
    error = _error(alice.post(P + "/memories/batch", json={"items": bad}), 400, "invalid")
    assert "items[3]" in error["message"]
    assert alice.get(P + "/memories").json()["txid"] == before


def test_recall(alice) -> None:
    alice.post(P + "/memories", json={"type": "fact", "content": "Alice's cat is named Miso"})
    r = alice.post(P + "/recall", json={"query": "what is the cat called", "k": 3})
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert hits[0]["memory"]["content"] == "Alice's cat is named Miso"
    assert set(hits[0]) == {"scope", "memory", "score", "relevance", "why"}
    assert 0 < hits[0]["relevance"] < 1
    assert {"bm25_rank", "vector_rank", "similarity"} <= set(hits[0]["why"])
    r = alice.post(P + "/recall", json={"query": "cat", "types": ["task"], "mode": "keyword"})
    assert r.json()["results"] == []
    _error(alice.post(P + "/recall", json={"query": "x", "k": 0}), 400, "invalid")
    _error(alice.post(P + "/recall", json={"query": "x", "bogus": 1}), 400, "invalid")


def test_recall_min_score(alice) -> None:
    alice.post(P + "/memories", json={"type": "fact", "content": "Alice's cat is named Miso"})
    body = {"query": "what is the capital of Australia", "min_score": RECOMMENDED_MIN_SCORE}
    assert alice.post(P + "/recall", json={**body, "min_score": None}).json()["results"]
    assert alice.post(P + "/recall", json=body).json()["results"] == []
    body["query"] = "what is the cat called"
    hits = alice.post(P + "/recall", json=body).json()["results"]
    assert [h["memory"]["content"] for h in hits] == ["Alice's cat is named Miso"]
    assert alice.post(P + "/recall", json={**body, "min_score": 0}).json()["results"]
    assert alice.post(P + "/recall", json={**body, "min_score": 1}).json()["results"] == []
    txid = alice.get(P + "/memories").json()["txid"]
    for bad in (-0.1, 1.5, True, "0.5", [0.5]):
        error = _error(alice.post(P + "/recall", json={**body, "min_score": bad}), 400, "invalid")
        assert "min_score" in error["message"]
    assert alice.get(P + "/memories").json()["txid"] == txid


def test_sessions_and_transcript(alice) -> None:
    s = alice.post(P + "/sessions", json={"session_id": "chat-1", "task_ttl_s": 600}).json()
    assert s["session"]["id"] == "chat-1" and s["session"]["task_ttl_s"] == 600
    for role, text in (("user", "Book a table for two"), ("assistant", "Done, 7pm")):
        t = alice.post(P + "/sessions/chat-1/turns", json={"role": role, "content": text})
        assert t.status_code == 200 and "txid" in t.json()
    alice.post(
        P + "/memories",
        json={"type": "task", "content": "confirm the booking", "session_id": "chat-1"},
    )
    turns = alice.get(P + "/sessions/chat-1/turns").json()
    assert [t["turn"] for t in turns["turns"]] == [1, 2]
    assert set(turns["turns"][0]) >= {"turn", "role", "name", "content", "metadata", "created_at"}
    assert alice.get(P + "/sessions/chat-1").json()["session"]["ended_at"] is None
    hits = alice.post(
        P + "/recall", json={"query": "table booking", "scopes": ["transcript"]}
    ).json()["results"]
    assert hits and hits[0]["scope"] == "transcript" and "role" in hits[0]["memory"]
    ended = alice.post(P + "/sessions/chat-1/end").json()
    assert ended["deleted_tasks"] == 1 and ended["txid"] > turns["txid"]
    _error(alice.post(P + "/sessions", json={"session_id": "chat-1"}), 409, "conflict")
    _error(alice.get(P + "/sessions/nope/turns"), 404, "not_found")
    r = alice.post(P + "/sessions/chat-2/turns", json={"role": "robot", "content": "x"})
    _error(r, 400, "invalid")


def test_kv(alice, node_clock) -> None:
    r = alice.put(P + "/kv/prefs/ui/theme", json={"value": {"dark": True}})
    assert r.status_code == 200 and r.json()["key"] == "ui/theme" and r.json()["txid"] > 0
    alice.put(P + "/kv/prefs/lang", json={"value": "fr", "ttl_s": 30})
    got = alice.get(P + "/kv/prefs/ui/theme").json()
    assert got["value"] == {"dark": True} and got["expires_at"] is None
    assert [i["key"] for i in alice.get(P + "/kv/prefs").json()["items"]] == ["lang", "ui/theme"]
    assert [
        i["key"] for i in alice.get(P + "/kv/prefs", params={"prefix": "ui/"}).json()["items"]
    ] == ["ui/theme"]
    node_clock.advance(31)
    _error(alice.get(P + "/kv/prefs/lang"), 404, "not_found")
    assert alice.delete(P + "/kv/prefs/ui/theme").json()["count"] == 1
    assert alice.delete(P + "/kv/prefs/ui/theme").json()["count"] == 0
    _error(alice.put(P + "/kv/Bad/x", json={"value": 1}), 400, "invalid")
    _error(alice.put(P + "/kv/prefs/x", json={}), 400, "invalid")
    big = "x" * (limits.MAX_KV_VALUE_BYTES + 10)
    _error(alice.put(P + "/kv/prefs/big", json={"value": big}), 413, "too_large")


def test_documents(alice) -> None:
    text = "The warranty covers the kettle for two years. " * 40
    r = alice.post(P + "/documents", json={"title": "Kettle manual", "content": text}).json()
    doc = r["document"]
    assert doc["chunks"] >= 2 and r["txid"] > 0
    assert alice.get(f"{P}/documents/{doc['id']}").json()["document"]["title"] == "Kettle manual"
    hits = alice.post(
        P + "/recall", json={"query": "kettle warranty", "scopes": ["documents"]}
    ).json()["results"]
    assert hits[0]["scope"] == "documents" and hits[0]["memory"]["document_id"] == doc["id"]
    assert alice.delete(f"{P}/documents/{doc['id']}").json()["count"] == 1
    _error(alice.get(f"{P}/documents/{doc['id']}"), 404, "not_found")


def test_vectors(alice) -> None:
    alice.put(P + "/vectors/emb/a", json={"vector": [1, 0, 0], "metadata": {"kind": "x"}})
    alice.put(P + "/vectors/emb/b", json={"vector": [0, 1, 0]})
    r = alice.post(P + "/vectors/emb/query", json={"vector": [0.9, 0.1, 0], "k": 1}).json()
    assert [h["id"] for h in r["results"]] == ["a"] and r["results"][0]["metadata"] == {"kind": "x"}
    _error(alice.put(P + "/vectors/emb/c", json={"vector": [1, 0]}), 400, "invalid")
    assert alice.delete(P + "/vectors/emb/a").json()["count"] == 1
    _error(alice.delete(P + "/vectors/emb/a"), 404, "not_found")
    _error(alice.post(P + "/vectors/none/query", json={"vector": [1.0]}), 404, "not_found")


def test_read_your_writes(alice) -> None:
    txid = alice.post(P + "/memories", json={"type": "fact", "content": "ryw"}).json()["txid"]
    assert alice.get(P + "/memories", params={"min_txid": txid}).status_code == 200
    r = alice.post(P + "/recall", params={"min_txid": txid + 1000}, json={"query": "ryw"})
    _error(r, 504, "txid_timeout")
    _error(alice.get(P + "/memories", params={"min_txid": -1}), 400, "invalid")


def test_validation_is_400_with_field_path_and_never_422(alice, node) -> None:
    err = _error(alice.post(P + "/memories", json={"type": "fact"}), 400, "invalid")
    assert err["message"] == "missing required field: content"  # as every edge says it
    assert "openapi" not in err["hint"]
    err = _error(alice.post(P + "/memories", content=b"{not json"), 400, "invalid")
    _error(alice.get(P + "/memories", params={"limit": "many"}), 400, "invalid")
    doc = httpx.get(node.url + "/openapi.json").json()
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert "422" not in op["responses"], path
            if path.startswith("/v1/"):
                assert "400" in op["responses"], path
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_body_limit_is_413_before_parsing(alice) -> None:
    big = b'{"type": "fact", "content": "' + b"x" * MAX_BODY_BYTES + b'"}'
    _error(alice.post(P + "/memories", content=big), 413, "too_large")

    def chunks():
        yield b'{"type": "fact", "content": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    _error(alice.post(P + "/memories", content=chunks()), 413, "too_large")
    over_limit = "x" * (limits.MAX_MEMORY_CONTENT_BYTES + 1)
    r = alice.post(P + "/memories", json={"type": "fact", "content": over_limit})
    _error(r, 413, "too_large")


def test_metrics(anon, alice) -> None:
    alice.post(P + "/memories", json={"type": "fact", "content": "metrics probe"})
    alice.get(P + "/memories")
    text = anon.get("/metrics").text
    assert 'route="/v1/namespaces/{ns}/profiles/{profile}/memories"' in text
    assert "memoturn_open_profiles" in text
    # Every acknowledged write shipped a segment to the object store.
    assert 'memoturn_segment_uploads_total{result="ok"}' in text
    assert "# TYPE memoturn_lease_events_total counter" in text


def test_request_log_has_route_and_profile_never_content(alice, caplog) -> None:
    secret = "the launch code is 0000-SECRET"
    history = "/v1/namespaces/{ns}/profiles/{profile}/topics/{topic}/history"

    def lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "memoturn.http"]

    with caplog.at_level(logging.DEBUG, logger="memoturn"):
        alice.post(P + "/memories", json={"type": "fact", "content": secret, "topic": "t-secret"})
        alice.get(P + "/topics/t-secret/history")
        # The server thread logs after the response is sent (and a line of an earlier test
        # may land here too): wait for this test's last line.
        deadline = time.monotonic() + 5
        while not any(r.route == history for r in lines()):
            assert time.monotonic() < deadline, "request log lines missing"
            time.sleep(0.01)
    ours = lines()[-2:]
    assert [r.route for r in ours] == ["/v1/namespaces/{ns}/profiles/{profile}/memories", history]
    assert ours[0].status == 200 and ours[0].profile_id == "acme--alice@main"
    for record in caplog.records:
        assert "SECRET" not in record.getMessage() and "t-secret" not in record.getMessage()


def test_list_routes_page_with_a_cursor(admin, node) -> None:
    admin.provision("acme", "lister")
    token = admin.mint("acme", profile="lister")
    c = httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"})
    L = "/v1/namespaces/acme/profiles/lister"
    for i in range(3):
        c.post(L + "/sessions", json={"session_id": f"s{i}"})
        c.put(f"{L}/kv/space{i}/k", json={"value": i})
        c.post(L + "/documents", json={"content": f"document {i}", "title": f"d{i}"})
        c.put(f"{L}/vectors/col{i}/v", json={"vector": [1.0, float(i)]})
        c.post(L + "/memories", json={"type": "fact", "content": f"fact number {i}"})
    for route, key in [
        ("/sessions", "sessions"), ("/kv", "spaces"), ("/documents", "documents"),
        ("/vectors", "collections"), ("/memories", "memories"),
    ]:  # fmt: skip
        first = c.get(L + route, params={"limit": 2}).json()
        assert len(first[key]) == 2 and first["next_cursor"] and first["txid"] == 15, route
        rest = c.get(L + route, params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert len(rest[key]) == 1 and rest["next_cursor"] is None, route
        everything = c.get(L + route).json()[key]
        assert everything == first[key] + rest[key], route
    assert c.get(L + "/kv").json()["spaces"][0] == {"name": "space0", "keys": 1}
    docs = c.get(L + "/documents").json()["documents"]
    assert "content" not in docs[0] and docs[0]["bytes"] == len("document 0")
    assert c.get(L + "/vectors").json()["collections"][0]["dim"] == 2
    batch = c.post(
        L + "/sessions/s0/turns/batch",
        json={"turns": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
    ).json()
    assert [t["turn"] for t in batch["turns"]] == [1, 2] and batch["txid"] == 16
    turns = c.get(L + "/sessions/s0/turns", params={"limit": 1}).json()
    assert turns["next_cursor"] == "1"
    rest = c.get(L + "/sessions/s0/turns", params={"cursor": "1"}).json()
    assert [t["content"] for t in rest["turns"]] == ["b"]
    _error(c.post(L + "/sessions/s0/turns/batch", json={"turns": []}), 400, "invalid")
    _error(c.get(L + "/memories", params={"limit": 5000}), 400, "invalid")
    c.close()


def test_unknown_query_parameters_are_refused_and_change_nothing(alice) -> None:
    err = _error(alice.get(P + "/memories", params={"topics": "diet"}), 400, "invalid")
    assert err["message"] == "unknown query parameters: topics" and "topic" in err["hint"]
    before = alice.get(P + "/memories").json()["txid"]
    r = alice.post(P + "/memories", params={"ttl": "5"}, json={"type": "fact", "content": "q"})
    _error(r, 400, "invalid")
    assert alice.get(P + "/memories").json()["txid"] == before
    assert alice.get(P + "/memories", params={"branch": "main", "limit": 1}).status_code == 200


def test_reingest_with_new_metadata_or_ttl_updates_in_place(alice) -> None:
    body = {"type": "fact", "content": "Alice's locker is 12", "metadata": {"v": 1}}
    first = alice.post(P + "/memories", json=body).json()
    same = alice.post(P + "/memories", json=body).json()
    assert same["duplicate"] and same["updated"] == [] and same["txid"] == first["txid"]
    changed = alice.post(P + "/memories", json={**body, "metadata": {"v": 2}, "ttl_s": 60}).json()
    assert changed["duplicate"] and changed["updated"] == ["expires_at", "metadata"]
    assert changed["txid"] == first["txid"] + 1
    assert changed["memory"]["id"] == first["memory"]["id"] and changed["memory"]["expires_at"]
    got = alice.get(f"{P}/memories/{first['memory']['id']}").json()
    assert got["memory"]["metadata"] == {"v": 2} and got["txid"] == changed["txid"]
    plain = alice.post(P + "/memories", json={"type": "fact", "content": "Alice's locker is 12"})
    assert plain.json()["updated"] == []  # no metadata given: kept as it is
    assert alice.get(f"{P}/memories/{first['memory']['id']}").json()["memory"]["metadata"] == {
        "v": 2
    }


def test_ingest_valid_from_over_http(alice) -> None:
    body = {
        "type": "event",
        "content": "Alice joined in 2020",
        "valid_from": "2020-01-01T00:00:00Z",
    }
    made = alice.post(P + "/memories", json=body).json()["memory"]
    assert made["valid_from"] == "2020-01-01T00:00:00Z" and made["created_at"] > "2026"
    before = alice.get(P + "/memories").json()["txid"]
    for bad, message in (
        ("2999-01-01T00:00:00Z", "valid_from is in the future"),
        ("soon", "valid_from is not an ISO-8601 timestamp"),
    ):
        r = alice.post(P + "/memories", json={**body, "content": "x", "valid_from": bad})
        assert _error(r, 400, "invalid")["message"].startswith(message)
    assert alice.get(P + "/memories").json()["txid"] == before


def test_the_ingest_answer_is_exactly_its_response_model(alice) -> None:
    """The ingest route answers ``to_dict`` without validating it again (its hot path):
    the answer must still be exactly what its documented response model gives."""
    from memoturn.core.model import IngestResult
    from memoturn.http.schemas import wire

    r = alice.post(
        f"{P}/memories",
        json={"type": "fact", "content": "the answer shape", "topic": "shape",
              "metadata": {"n": 1, "f": 0.5}, "ttl_s": 3600},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert wire(IngestResult).model_validate(body).model_dump(mode="json") == body
    assert set(body["memory"]) >= MEMORY_FIELDS
