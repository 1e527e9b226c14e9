"""Bad input an attacker or a careless client sends: each is a clear 400 and changes nothing."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

import httpx
import pytest

from memoturn.http import MAX_BODY_BYTES

P = "/v1/namespaces/bad/profiles/alice"


@pytest.fixture(scope="module")
def alice(admin, node) -> httpx.Client:
    admin.provision("bad", "alice")
    token = admin.mint("bad", profile="alice")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=node.url, headers=headers, timeout=60) as c:
        c.post(P + "/memories", json={"type": "fact", "content": "a memory", "metadata": {"k": 1}})
        yield c


def _raw(client: httpx.Client, method: str, path: str, body: str) -> httpx.Response:
    # Sent as text: Python's JSON parser reads NaN, Infinity and 1e400 as floats.
    headers = {"content-type": "application/json"}
    return client.request(method, path, content=body.encode(), headers=headers)


def _refused(r: httpx.Response, *words: str) -> str:
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    for word in words:
        assert word in message, message
    return message


def _txid(client: httpx.Client) -> int:
    return int(client.get(P + "/memories").json()["txid"])


def test_a_nul_in_a_metadata_filter_key_is_400(alice) -> None:
    before = _txid(alice)
    body = '{"query": "memory", "metadata": {"k\\u0000x": 1}}'
    _refused(_raw(alice, "POST", P + "/recall", body), "metadata filter key")
    body = '{"query": "memory", "scopes": ["transcript"], "metadata": {"\\u0000": 1}}'
    _refused(_raw(alice, "POST", P + "/recall", body), "metadata filter key")
    assert _txid(alice) == before


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_in_memory_metadata_are_400(alice, number) -> None:
    before = _txid(alice)
    body = f'{{"type": "fact", "content": "metadata {number}", "metadata": {{"x": {number}}}}}'
    _refused(_raw(alice, "POST", P + "/memories", body), "metadata", "NaN, Infinity")
    batch = f'{{"items": [{{"type": "fact", "content": "b", "metadata": {{"x": {number}}}}}]}}'
    _refused(_raw(alice, "POST", P + "/memories/batch", batch), "metadata")
    assert _txid(alice) == before
    contents = [m["content"] for m in alice.get(P + "/memories").json()["memories"]]
    assert f"metadata {number}" not in contents


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/memories", '{"type": "fact", "content": "ttl", "ttl_s": true}'),
        ("POST", "/sessions", '{"task_ttl_s": true}'),
        ("PUT", "/kv/space/key", '{"value": 1, "ttl_s": false}'),
        ("PUT", "/vectors/coll/v1", '{"vector": [true, false]}'),
        ("POST", "/vectors/coll/query", '{"vector": [1, true]}'),
        ("POST", "/recall", '{"query": "memory", "k": true}'),
        ("POST", "/branches", '{"name": "b1", "ttl_s": true}'),
    ],
)
def test_booleans_are_not_numbers(alice, method, path, body) -> None:
    before = _txid(alice)
    _refused(_raw(alice, method, P + path, body), "got a boolean")
    assert _txid(alice) == before


@pytest.mark.parametrize(
    "sid", ["a/b", "with space", "x\u202eevil", "аlice", "../up", ".hidden", "", "x" * 129]
)
def test_session_ids_follow_the_routable_rule(alice, sid) -> None:
    before = _txid(alice)
    r = alice.post(P + "/sessions", json={"session_id": sid})
    assert r.status_code in (400, 413), r.text
    r = alice.post(P + "/memories", json={"type": "task", "content": "t", "session_id": sid})
    assert r.status_code in (400, 413), r.text
    assert _txid(alice) == before


def test_every_accepted_session_id_can_be_addressed_over_rest(alice) -> None:
    for sid in ("Chat-1.v2", "s_1", None):
        r = alice.post(P + "/sessions", json={"session_id": sid} if sid else {})
        assert r.status_code == 200, r.text
        opened = r.json()["session"]["id"]
        r = alice.post(f"{P}/sessions/{opened}/turns", json={"role": "user", "content": "hi"})
        assert r.status_code == 200, r.text
        assert alice.get(f"{P}/sessions/{opened}/turns").json()["turns"][0]["content"] == "hi"


def test_names_in_a_request_cannot_forge_log_lines(alice, root, caplog) -> None:
    fake = "\n2026-01-01 00:00:00 INFO memoturn.http POST /v1/namespaces 201 profile=root"
    quoted = urllib.parse.quote(fake, safe="")
    requests = [
        ("GET", P + "/memories?branch=x" + quoted),
        ("DELETE", "/v1/namespaces/bad/profiles/x" + quoted),
        ("POST", "/v1/namespaces/bad/profiles/x" + quoted + "/revoke-tokens"),
    ]
    with caplog.at_level(logging.DEBUG, logger="memoturn"):
        for method, url in requests:
            client = alice if method == "GET" else root
            r = client.request(method, url)
            assert r.status_code in (400, 404), r.text
        deadline = time.monotonic() + 5
        while len([r for r in caplog.records if r.name == "memoturn.http"]) < len(requests):
            assert time.monotonic() < deadline, "request log lines missing"
            time.sleep(0.01)
    for record in caplog.records:
        message = record.getMessage()
        assert "\n" not in message and "\r" not in message, message
        assert "profile=root" not in message or "\\n" in message, message


def test_a_body_over_the_limit_sent_whole_before_reading_gets_its_413(node) -> None:
    # urllib writes the whole body before it reads a byte of the answer.
    body = b"x" * (4 * MAX_BODY_BYTES)  # more than loopback socket buffers absorb
    request = urllib.request.Request(
        node.url + P + "/memories",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {node.root_token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["error"]["code"] == "too_large"
