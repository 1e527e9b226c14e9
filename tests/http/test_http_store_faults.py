"""A store fault is a 503 whose body gives a short reason and a request id; the paths and
object keys of the fault go to the node's log only, under that id."""

from __future__ import annotations

import logging

import httpx

from memoturn.http import ThrowawayNode
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.objectstore import StoreError
from memoturn.storage.wrappers import FaultyStore

P = "/v1/namespaces/acme/profiles/alice"


def test_a_store_fault_answers_a_short_reason_and_logs_the_details(
    tmp_path, embedder, caplog
) -> None:
    root_dir = tmp_path / "store"
    store = FaultyStore(LocalDirStore(root_dir))
    with ThrowawayNode(tmp_path / "node", object_store=store, embedder=embedder) as node:
        auth = {"Authorization": f"Bearer {node.root_token}"}
        with httpx.Client(base_url=node.url, headers=auth, timeout=60) as c:
            c.post("/v1/namespaces", json={"name": "acme"}).raise_for_status()
            c.post("/v1/namespaces/acme/profiles", json={"name": "alice"}).raise_for_status()
            c.post(P + "/memories", json={"type": "fact", "content": "one"}).raise_for_status()
            detail = f"[Errno 28] No space left on device: '{root_dir}/profiles/acme--alice/x'"
            store.fail_next("put_segment", count=10, exc=StoreError(detail))
            with caplog.at_level(logging.WARNING, logger="memoturn"):
                r = c.post(P + "/memories", json={"type": "fact", "content": "two"})
            assert r.status_code == 503, r.text
            assert "Retry-After" in r.headers
            request_id = r.headers["X-Request-Id"]
            error = r.json()["error"]
            assert error["code"] == "unavailable"
            assert request_id in error["message"] and "object store" in error["message"]
            assert str(tmp_path) not in r.text and "profiles/" not in r.text
    logged = [rec.getMessage() for rec in caplog.records if request_id in rec.getMessage()]
    assert logged and str(root_dir) in logged[0]
