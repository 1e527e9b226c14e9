"""Checkpoints, rewind and branches over REST, and the 503 a held writer lease gives."""

from __future__ import annotations

import httpx
import pytest

P = "/v1/namespaces/hist/profiles/{profile}"


@pytest.fixture(scope="module")
def hist(admin) -> None:
    admin.provision("hist", *(f"p{i}" for i in range(6)))


def _ingest(root: httpx.Client, profile: str, content: str, branch: str = "main") -> int:
    r = root.post(
        P.format(profile=profile) + "/memories",
        params={"branch": branch},
        json={"type": "fact", "content": content},
    )
    assert r.status_code == 200, r.text
    return int(r.json()["txid"])


def _contents(root: httpx.Client, profile: str, branch: str = "main") -> list[str]:
    r = root.get(P.format(profile=profile) + "/memories", params={"branch": branch})
    assert r.status_code == 200, r.text
    return [m["content"] for m in r.json()["memories"]]


def test_write_while_another_node_holds_the_lease_is_503_with_retry_after(
    root, hist, node, embedder, node_clock, tmp_path
) -> None:
    import memoturn

    with memoturn.open(
        tmp_path / "other", object_store=node.engine.store, embedder=embedder,
        clock=node_clock, node_id="other-node",
    ) as other:  # fmt: skip
        other.profile("hist", "p0").ingest("fact", "written by the other node")
        r = root.post(P.format(profile="p0") + "/memories", json={"type": "fact", "content": "x"})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "unavailable" and "other-node" in r.text
        assert int(r.headers["Retry-After"]) >= 1
    # The other node released its lease on close: writes go through again.
    assert _ingest(root, "p0", "after the other node left") >= 2


def test_checkpoint_create_list_delete(root, hist) -> None:
    base = P.format(profile="p1")
    txid = _ingest(root, "p1", "before the checkpoint")
    r = root.post(base + "/checkpoints", json={"name": "cp1"})
    assert r.status_code == 201, r.text
    cp = r.json()
    assert (cp["name"], cp["branch"], cp["txid"], cp["automatic"]) == ("cp1", "main", txid, False)
    names = [c["name"] for c in root.get(base + "/checkpoints").json()["checkpoints"]]
    assert "cp1" in names
    assert root.post(base + "/checkpoints", json={"name": "cp1"}).status_code == 409
    assert root.delete(base + "/checkpoints/cp1").json() == {"deleted": True}
    assert root.delete(base + "/checkpoints/cp1").status_code == 404


def test_rewind_to_checkpoint_and_undo(root, hist) -> None:
    base = P.format(profile="p2")
    _ingest(root, "p2", "kept")
    assert root.post(base + "/checkpoints", json={"name": "good"}).status_code == 201
    _ingest(root, "p2", "a mistake")
    r = root.post(base + "/rewind", json={"checkpoint": "good"})
    assert r.status_code == 200, r.text
    undo = r.json()["undo_checkpoint"]
    assert _contents(root, "p2", "main") == ["kept"]
    assert root.post(base + "/rewind", json={"checkpoint": undo}).status_code == 200
    assert _contents(root, "p2", "main") == ["kept", "a mistake"]


def test_rewind_to_txid(root, hist) -> None:
    base = P.format(profile="p3")
    first = _ingest(root, "p3", "one")
    _ingest(root, "p3", "two")
    r = root.post(base + "/rewind", json={"txid": first})
    assert r.status_code == 200, r.text
    assert _contents(root, "p3") == ["one"]


def test_rewind_needs_exactly_one_target(root, hist) -> None:
    base = P.format(profile="p3")
    for body in ({}, {"checkpoint": "x", "txid": 1}):
        r = root.post(base + "/rewind", json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid"


def test_branches_are_isolated(root, admin, anon, hist) -> None:
    base = P.format(profile="p4")
    _ingest(root, "p4", "shared past")
    r = root.post(base + "/branches", json={"name": "exp", "ttl_s": 3600})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "exp" and r.json()["parent"] == "main"
    _ingest(root, "p4", "only on exp", branch="exp")
    _ingest(root, "p4", "only on main")
    assert _contents(root, "p4", "exp") == ["shared past", "only on exp"]
    assert _contents(root, "p4", "main") == ["shared past", "only on main"]
    names = [b["name"] for b in root.get(base + "/branches").json()["branches"]]
    assert {"main", "exp"} <= set(names)
    # A token locked to the branch works there and nowhere else.
    locked = {"Authorization": f"Bearer {admin.mint('hist', profile='p4', branch='exp')}"}
    assert anon.get(base + "/memories?branch=exp", headers=locked).status_code == 200
    assert anon.get(base + "/memories?branch=main", headers=locked).status_code == 403
    assert root.delete(base + "/branches/exp").json() == {"deleted": True}
    assert root.get(base + "/memories?branch=exp").status_code == 404


def test_branch_from_checkpoint(root, hist) -> None:
    base = P.format(profile="p5")
    _ingest(root, "p5", "v1")
    assert root.post(base + "/checkpoints", json={"name": "c"}).status_code == 201
    _ingest(root, "p5", "v2")
    r = root.post(base + "/branches", json={"name": "old", "from_checkpoint": "c"})
    assert r.status_code == 201, r.text
    assert _contents(root, "p5", "old") == ["v1"]
