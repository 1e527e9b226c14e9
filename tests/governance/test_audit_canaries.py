"""Audit events hold metadata only: canaries written into every free-text field of every
route under a namespace (content, topics, sources, metadata keys and values, session ids,
idempotency keys, queries, reasons, titles, KV keys and values, vector ids) never reach a
stored audit object. Names (namespace, profile, branch, checkpoint, space, collection) are
identifiers the events carry by design."""

from __future__ import annotations

import itertools

import httpx
from tests.governance.conftest import bearer as _bearer

NS = "/v1/namespaces/acme"
P = NS + "/profiles/alice"
_n = itertools.count()


def canary() -> str:
    return f"Canary{next(_n):03d}zq"


def test_no_canary_reaches_the_audit_store(node) -> None:
    called: set[tuple[str, str]] = set()
    c = httpx.Client(base_url=node.url, headers=_bearer(node.root_token))

    def go(method: str, template: str, path: str, **kw: object) -> httpx.Response:
        called.add((method.lower(), template))
        r = c.request(method, path, **kw)  # type: ignore[arg-type]
        assert r.status_code < 500, (template, r.text)
        return r

    sid, key, vid = canary(), canary(), canary()
    meta = {canary(): canary()}
    go("GET", "/v1/namespaces/{ns}/policy", NS + "/policy")
    go("PUT", "/v1/namespaces/{ns}/policy", NS + "/policy", json={"audit": True})
    go("POST", "/v1/namespaces/{ns}/profiles", NS + "/profiles", json={"name": "carol"})
    go("GET", "/v1/namespaces/{ns}/profiles", NS + "/profiles")
    go("POST", "/v1/namespaces/{ns}/profiles/batch", NS + "/profiles/batch",
       json={"names": ["dave", canary()]})  # a bad name: 400  # fmt: skip
    go("POST", "/v1/namespaces/{ns}/profiles/batch", NS + "/profiles/batch",
       json={"names": ["dave", "erin"]})  # fmt: skip
    go("POST", "/v1/namespaces/{ns}/tokens", NS + "/tokens", json={"profile": "alice"})
    base = "/v1/namespaces/{ns}/profiles/{profile}"
    go("GET", base + "/policy", P + "/policy")
    go("PUT", base + "/policy", P + "/policy", json={"retention_s": 10**6})
    mem = go("POST", base + "/memories", P + "/memories", json={
        "type": "fact", "content": canary(), "topic": canary(), "session_id": sid,
        "source": canary(), "metadata": meta, "idempotency_key": canary(),
    }).json()["memory"]  # fmt: skip
    go("POST", base + "/memories/batch", P + "/memories/batch", json={"items": [
        {"type": "task", "content": canary(), "session_id": sid, "metadata": {canary(): 1}},
        {"type": "fact", "content": canary(), "topic": canary(), "ttl_s": 60},
    ]})  # fmt: skip
    go("GET", base + "/memories/{memory_id}", P + f"/memories/{mem['id']}")
    go("GET", base + "/memories/{memory_id}", P + f"/memories/{canary()}")  # 404
    go("GET", base + "/memories", P + "/memories",
       params={"topic": canary(), "source": canary(), "session_id": canary()})  # fmt: skip
    go("POST", base + "/recall", P + "/recall", json={
        "query": canary(), "topic": canary(), "source": canary(), "session_id": canary(),
        "metadata": {canary(): canary()}, "scopes": ["memories", "transcript", "documents"],
    })  # fmt: skip
    go("POST", base + "/recall", P + "/recall", json={"query": canary(), "k": 0})  # 400
    go("GET", base + "/topics/{topic}/history", P + f"/topics/{mem['topic']}/history")
    go("DELETE", base + "/memories/{memory_id}", P + f"/memories/{mem['id']}",
       params={"reason": canary()})  # fmt: skip
    go(
        "POST",
        base + "/sessions",
        P + "/sessions",
        json={"session_id": canary(), "metadata": {canary(): canary()}},
    )
    go("GET", base + "/sessions/{session_id}", P + f"/sessions/{sid}")
    go("POST", base + "/sessions/{session_id}/turns", P + f"/sessions/{sid}/turns", json={
        "role": "user", "content": canary(), "name": canary(), "metadata": {canary(): canary()},
    })  # fmt: skip
    turns = [{"role": "user", "content": canary(), "metadata": {canary(): 1}}]
    go("POST", base + "/sessions/{session_id}/turns/batch", P + f"/sessions/{sid}/turns/batch",
       json={"turns": turns})  # fmt: skip
    go("GET", base + "/sessions/{session_id}/turns", P + f"/sessions/{sid}/turns")
    go("POST", base + "/sessions/{session_id}/turns", P + f"/sessions/{sid}/turns",
       json={"role": "user", "content": f"My pet is {canary()}."})  # fmt: skip
    preview = go("POST", base + "/sessions/{session_id}/extract",
                 P + f"/sessions/{sid}/extract", json={"preview": True}).json()  # fmt: skip
    assert any(o["action"] == "ADD" for o in preview["report"]), preview
    go("POST", base + "/sessions/{session_id}/extract/apply",
       P + f"/sessions/{sid}/extract/apply", json={"branch": preview["branch"]})  # fmt: skip
    go("POST", base + "/sessions/{session_id}/extract", P + f"/sessions/{sid}/extract", json={})
    go("GET", base + "/sessions", P + "/sessions")
    go("POST", base + "/sessions/{session_id}/end", P + f"/sessions/{sid}/end")
    go("POST", base + "/sessions/{session_id}/turns/pop", P + f"/sessions/{sid}/turns/pop")
    go("DELETE", base + "/sessions/{session_id}/turns", P + f"/sessions/{sid}/turns")
    go("PUT", base + "/kv/{space}/{key}", P + f"/kv/notes/{key}",
       json={"value": {canary(): [canary()]}})  # fmt: skip
    go("GET", base + "/kv/{space}/{key}", P + f"/kv/notes/{key}")
    go("POST", base + "/kv/{space}/{key}", P + f"/kv/notes/{key}",
       json={"value": canary(), "expected": {canary(): [canary()]}})  # fmt: skip
    go("POST", base + "/kv/{space}/{key}", P + f"/kv/notes/{canary()}",
       json={"value": canary(), "expected": canary()})  # 409  # fmt: skip
    go("GET", base + "/kv/{space}", P + "/kv/notes", params={"prefix": canary()})
    go("GET", base + "/kv", P + "/kv")
    go("DELETE", base + "/kv/{space}/{key}", P + f"/kv/notes/{key}")
    doc = go("POST", base + "/documents", P + "/documents", json={
        "title": canary(), "content": canary(), "metadata": {canary(): canary()},
    }).json()["document"]  # fmt: skip
    go("GET", base + "/documents/{document_id}", P + f"/documents/{doc['id']}")
    go("GET", base + "/documents", P + "/documents")
    go("DELETE", base + "/documents/{document_id}", P + f"/documents/{doc['id']}")
    go("PUT", base + "/vectors/{collection}/{vector_id}", P + f"/vectors/emb/{vid}",
       json={"vector": [0.25, 0.5], "metadata": {canary(): canary()}})  # fmt: skip
    go("POST", base + "/vectors/{collection}/query", P + "/vectors/emb/query",
       json={"vector": [0.25, 0.5], "metadata": {canary(): canary()}})  # fmt: skip
    go("GET", base + "/vectors", P + "/vectors")
    go("DELETE", base + "/vectors/{collection}/{vector_id}", P + f"/vectors/emb/{vid}")
    exported = go("GET", base + "/export", P + "/export").text
    assert "content" in exported  # the export itself holds content; its audit event must not
    go("POST", base + "/import", P + "/import", content=b'{"kind": "' + canary().encode())
    go("POST", base + "/checkpoints", P + "/checkpoints", json={"name": "cp"})
    go("GET", base + "/checkpoints", P + "/checkpoints")
    go("GET", base + "/diff", P + "/diff", params={"from": "checkpoint:cp", "to": "branch:main"})
    go("GET", base + "/diff", P + "/diff", params={"from": canary(), "to": "branch:main"})  # 400
    go("POST", base + "/branches", P + "/branches", json={"name": "side"})
    go("GET", base + "/branches", P + "/branches")
    go("DELETE", base + "/branches/{name}", P + "/branches/side")
    go("POST", base + "/rewind", P + "/rewind", json={"checkpoint": "cp"})
    go("DELETE", base + "/checkpoints/{name}", P + "/checkpoints/cp")
    erased = go("POST", base + "/erasures", P + "/erasures",
                json={"topic": canary(), "reason": canary()}).json()  # fmt: skip
    go("GET", base + "/erasures", P + "/erasures")
    go("GET", base + "/erasures/{erasure_id}", P + f"/erasures/{erased['erasure']['id']}")
    go("POST", base + "/revoke-tokens", P + "/revoke-tokens")
    go("GET", "/v1/namespaces/{ns}/audit", NS + "/audit",
       params={"profile": canary(), "op": canary()})  # fmt: skip
    go("DELETE", base, NS + "/profiles/carol")
    # refused calls carry the canaries too
    with httpx.Client(base_url=node.url) as anon:
        anon.post(P + "/memories", json={"type": "fact", "content": canary()})
        anon.post(P + "/recall", json={"query": canary()}, headers=_bearer(canary()))

    doc_paths = httpx.get(node.url + "/openapi.json").json()["paths"]
    every = {
        (method, path.replace("{key}", "{key}"))
        for path, ops in doc_paths.items()
        if path.startswith("/v1/namespaces/{ns}")
        for method in ops
    }
    assert every - called == set(), "routes this test does not exercise"

    stored = [node.engine.store.get(i.key).data for i in node.engine.store.list("audit/")]
    assert len(stored) > 40  # every call above was audited (a batch each, and heads)
    written = b"\n".join(stored)
    assert written.count(b'"op":') >= len(called)
    for i in range(next(_n)):
        assert f"Canary{i:03d}zq".encode() not in written, f"canary {i} leaked"
    assert b"Canary" not in written
    c.close()
