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


def test_readiness_needs_the_object_store_and_the_deployment_signing_key(tmp_path, embedder):
    """/readyz is 503 (with the reason) while the store does not answer, and while the store
    no longer holds the signing key this node started with; ready again once it does."""
    from memoturn.engine.tokens import SIGNING_SECRET
    from memoturn.storage import keys
    from memoturn.storage.localdir import LocalDirStore
    from memoturn.storage.wrappers import FaultyStore

    store = FaultyStore(LocalDirStore(tmp_path / "store"))
    with ThrowawayNode(tmp_path / "a", embedder=embedder, object_store=store) as a:
        assert httpx.get(a.url + "/readyz").json() == {"status": "ready"}

        store.fail_next("list_namespaces")
        r = httpx.get(a.url + "/readyz")
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        assert "Retry-After" in r.headers
        assert httpx.get(a.url + "/healthz").status_code == 200  # alive, only not ready

        store.fail_next("get_secret")
        assert httpx.get(a.url + "/readyz").status_code == 503

        key = keys.deployment_secret(SIGNING_SECRET)
        secret = store.get(key).data
        store.delete(key)
        r = httpx.get(a.url + "/readyz")
        assert r.status_code == 503
        assert "holds none" in r.json()["error"]["message"]
        store.put(key, bytes(32))
        r = httpx.get(a.url + "/readyz")
        assert r.status_code == 503
        assert "holds another" in r.json()["error"]["message"]
        store.put(key, secret)
        assert httpx.get(a.url + "/readyz").json() == {"status": "ready"}


def test_readiness_with_a_configured_signing_key_needs_no_stored_one(tmp_path, embedder):
    from memoturn.engine.tokens import SIGNING_SECRET
    from memoturn.storage import keys
    from memoturn.storage.localdir import LocalDirStore

    store = LocalDirStore(tmp_path / "store")
    with ThrowawayNode(
        tmp_path / "a", embedder=embedder, object_store=store, signing_seed=bytes(range(32))
    ) as a:
        assert store.head(keys.deployment_secret(SIGNING_SECRET)) is None
        assert httpx.get(a.url + "/readyz").json() == {"status": "ready"}
