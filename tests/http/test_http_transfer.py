"""Export and import over REST and the SDK (sync and async), against a real node."""

from __future__ import annotations

import asyncio
import json

import pytest
from tests.http.conftest import bearer

import memoturn
from memoturn import Conflict, Forbidden, InvalidInput
from memoturn.core.model import ImportResult

NS = "transfer"
P = f"/v1/namespaces/{NS}/profiles"


@pytest.fixture(scope="module")
def client(node, admin):
    admin.provision(NS, "alice", "bob", "carol", "dave")
    with memoturn.Client(node.url, node.root_token) as c:
        alice = c.profile(NS, "alice")
        alice.ingest("preference", "Alice is vegetarian", topic="diet")
        alice.ingest("preference", "Alice is vegan", topic="diet", metadata={"by": "chat"})
        alice.append_turn("s1", "user", "I went vegan")
        alice.kv_set("scratch", "plan", {"step": 1}, ttl_s=600)
        alice.add_document("Tofu is made from soy milk.", title="Tofu")
        alice.vector_upsert("emb", "x", [0.1, 0.2, 0.3])
        yield c


def test_export_streams_json_lines(client, root) -> None:
    r = root.get(f"{P}/alice/export")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["content-disposition"] == 'attachment; filename="transfer--alice@main.jsonl"'
    lines = [json.loads(x) for x in r.text.split("\n")[:-1]]
    assert lines[0]["kind"] == "header" and lines[0]["format"] == 1
    assert lines[-1] == {"kind": "end", "records": 8}
    assert client.profile(NS, "alice").export_profile() == r.text
    assert root.get(f"{P}/alice/export", params={"min_txid": 99}).status_code == 504


def test_import_over_the_sdk_round_trips(client) -> None:
    exported = client.profile(NS, "alice").export_profile()
    bob = client.profile(NS, "bob")
    result = bob.import_profile(exported)
    assert isinstance(result, ImportResult) and result.txid == 1
    assert result.counts["memory"] == 2 and result.counts["vector"] == 1
    assert bob.export_profile() == exported
    history = bob.topic_history("diet").versions
    assert [m.content for m in history] == ["Alice is vegetarian", "Alice is vegan"]
    assert history[0].superseded_by == history[1].id
    with pytest.raises(Conflict, match="not empty"):
        bob.import_profile(exported)


def test_rejected_imports_change_nothing(client, root) -> None:
    exported = client.profile(NS, "alice").export_profile()
    lines = exported.split("\n")
    bad = "\n".join([*lines[:2], '{"kind": "hologram"}', *lines[2:]])
    r = root.post(f"{P}/carol/import", content=bad.encode())
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("line 3: unknown kind 'hologram'")
    r = root.post(f"{P}/carol/import", content=b"")
    assert r.status_code == 400 and "empty" in r.json()["error"]["message"]
    r = root.post(f"{P}/bob/import", content=exported.encode())
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert root.get(f"{P}/carol/memories").json()["txid"] == 0
    with pytest.raises(InvalidInput, match="format version 2"):
        client.profile(NS, "carol").import_profile(exported.replace('"format":1', '"format":2'))


def test_scopes_apply(client, admin, node) -> None:
    import httpx

    reader = admin.mint(NS, profile="carol", scopes=["read"])
    with httpx.Client(base_url=node.url, headers=bearer(reader)) as c:
        assert c.get(f"{P}/carol/export").status_code == 200
        r = c.post(f"{P}/carol/import", content=b"{}")
        assert r.status_code == 403
    with memoturn.Client(node.url, reader) as c, pytest.raises(Forbidden):
        c.profile(NS, "carol").import_profile("")


def test_async_client(client, node) -> None:
    exported = client.profile(NS, "alice").export_profile()

    async def main() -> tuple[ImportResult, str]:
        async with memoturn.AsyncClient(node.url, node.root_token) as c:
            dave = c.profile(NS, "dave")
            result = await dave.import_profile(exported.encode())
            return result, await dave.export_profile()

    result, again = asyncio.run(main())
    assert result.txid == 1 and again == exported


def test_an_import_sent_to_another_node_is_forwarded_to_the_writer(tmp_path, embedder) -> None:
    """Two nodes on one store: node A holds the writer lease of an empty profile (a write
    that changed nothing took it); an import sent to B is carried out by A."""
    import httpx

    from memoturn.http import ThrowawayNode
    from memoturn.http.edge import FORWARDED_TO_HEADER
    from memoturn.storage.localdir import LocalDirStore

    options = {"object_store": LocalDirStore(tmp_path / "store"), "embedder": embedder,
               "signing_seed": bytes(range(32))}  # fmt: skip
    with (
        ThrowawayNode(tmp_path / "a", **options) as a,
        ThrowawayNode(tmp_path / "b", **options) as b,
    ):
        auth = bearer(a.root_token)
        with httpx.Client(base_url=a.url, headers=auth) as on_a:
            on_a.post("/v1/namespaces", json={"name": "fw"}).raise_for_status()
            for name in ("src", "dst"):
                on_a.post("/v1/namespaces/fw/profiles", json={"name": name}).raise_for_status()
            q = "/v1/namespaces/fw/profiles"
            on_a.post(f"{q}/src/memories", json={"type": "fact", "content": "x"}).raise_for_status()
            exported = on_a.get(f"{q}/src/export").content
            assert on_a.delete(f"{q}/dst/kv/s/missing").json()["count"] == 0  # A: the writer
        with httpx.Client(base_url=b.url, headers=auth, timeout=60) as on_b:
            r = on_b.post(f"{q}/dst/import", content=exported)
            assert r.status_code == 200, r.text
            assert r.headers[FORWARDED_TO_HEADER] == a.url
            txid = r.json()["txid"]
            r = on_b.get(f"{q}/dst/export", params={"min_txid": txid})
            assert r.content == exported
