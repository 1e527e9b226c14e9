"""Tokens belong to the deployment: every node on one object store accepts them, including a
node started (with an empty data dir) after they were minted."""

from __future__ import annotations

import httpx

from memoturn.engine.tokens import TokenAuthority
from memoturn.http import ThrowawayNode


def test_nodes_on_one_store_accept_each_others_tokens(tmp_path, embedder) -> None:
    store = f"file://{tmp_path / 'store'}"
    with ThrowawayNode(tmp_path / "a", embedder=embedder, object_store=store) as a:
        root_a = {"Authorization": f"Bearer {a.root_token}"}
        httpx.post(a.url + "/v1/namespaces", json={"name": "acme"}, headers=root_a)
        httpx.post(a.url + "/v1/namespaces/acme/profiles", json={"name": "alice"}, headers=root_a)
        minted = httpx.post(
            a.url + "/v1/namespaces/acme/tokens", json={"profile": "alice"}, headers=root_a
        ).json()["token"]
        r = httpx.post(
            a.url + "/v1/namespaces/acme/profiles/alice/memories",
            json={"type": "fact", "content": "written through node a"},
            headers={"Authorization": f"Bearer {minted}"},
        )
        assert r.status_code == 200
        txid = r.json()["txid"]
    # A fresh node, new data dir, same store: the old tokens work, root included.
    with ThrowawayNode(tmp_path / "b", embedder=embedder, object_store=store) as b:
        r = httpx.get(
            b.url + "/v1/namespaces/acme/profiles/alice/memories",
            params={"min_txid": txid},
            headers={"Authorization": f"Bearer {minted}"},
        )
        assert r.status_code == 200, r.text
        assert [m["content"] for m in r.json()["memories"]] == ["written through node a"]
        r = httpx.get(b.url + "/v1/namespaces", headers=root_a)
        assert r.json() == {"namespaces": ["acme"]}
    # A node on another store does not.
    with ThrowawayNode(tmp_path / "c", embedder=embedder) as c:
        r = httpx.get(c.url + "/v1/namespaces", headers=root_a)
        assert r.status_code == 401


def test_a_signing_key_is_shared_by_configuration(tmp_path, embedder) -> None:
    """MEMOTURN_SIGNING_KEY: nodes on different stores, one key, the same tokens."""
    seed = bytes(range(32))
    with ThrowawayNode(tmp_path / "a", embedder=embedder, signing_seed=seed) as a:
        token = a.root_token
    with ThrowawayNode(tmp_path / "b", embedder=embedder, signing_seed=seed) as b:
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(b.url + "/v1/namespaces", headers=headers).status_code == 200
        # The node's own store secret is not used: its tokens are refused.
        store_token = TokenAuthority(b.engine).mint_root()
        headers = {"Authorization": f"Bearer {store_token}"}
        assert httpx.get(b.url + "/v1/namespaces", headers=headers).status_code == 401
