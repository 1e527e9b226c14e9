"""Verifiable erasure over REST and the SDK: for every item kind a canary is ingested,
erased, and then no byte of it is found in the node's local files (after phase 1) nor
anywhere under its data directory, object store included (after phase 2); blockers,
force, the receipt, restarts, a second node that had the profile open, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.governance.conftest import bearer

import memoturn
from memoturn.core.clock import ManualClock
from memoturn.engine import receipts
from memoturn.http import ThrowawayNode

CANARY = "zq-canary-7f3a9 the secret about the purple giraffe"
GRACE = 3600
P = "/v1/namespaces/acme/profiles/alice"


def copies(root: Path, needle: str = CANARY, *, skip: str | None = None) -> list[str]:
    """Every file under ``root`` holding the bytes (``grep -rlac``), but ``skip``."""
    found, raw = [], needle.encode()
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if skip is not None and skip in path.parts:
                continue
            if raw in path.read_bytes():
                found.append(str(path.relative_to(root)))
    return found


@pytest.fixture
def node(tmp_path, embedder) -> Iterator[ThrowawayNode]:
    with ThrowawayNode(tmp_path / "node", embedder=embedder, clock=ManualClock()) as n:
        n.engine.create_namespace("acme")
        n.engine.create_profile("acme", "alice")
        n.engine.set_policy("acme", {"audit": True, "erasure_grace_s": GRACE})
        yield n


@pytest.fixture
def client(node) -> Iterator[memoturn.Client]:
    with memoturn.Client(node.url, node.root_token) as c:
        yield c


def sweep(node: ThrowawayNode, client: memoturn.Client) -> None:
    """Let the grace window pass and run the sweeper on demand (``POST /v1/gc``)."""
    node.engine.clock.advance(GRACE + 1)  # type: ignore[attr-defined]
    client.gc()


def _fill(p: memoturn.client.Profile) -> None:
    for i in range(20):
        p.ingest("fact", f"an ordinary memory number {i} about the weather")


def _ingest_kind(p: memoturn.client.Profile, kind: str) -> dict[str, object]:
    """Put the canary in as ``kind``; the erasure request that names it."""
    if kind == "memory":
        first = p.ingest("fact", f"old: {CANARY}", topic="giraffe").memory
        p.ingest("fact", f"new: {CANARY}", topic="giraffe")  # the topic chain goes too
        p.forget(first.id, reason=CANARY)  # the tombstone's reason
        return {"memory_ids": [first.id]}
    if kind == "topic":
        p.ingest("preference", f"v1 {CANARY}", topic="colour")
        p.ingest("preference", "v2 blue", topic="colour")  # the canary is history now
        return {"topic": "colour"}
    if kind == "session":
        p.open_session("chat-1")
        p.append_turn("chat-1", "user", CANARY)
        p.ingest("task", f"remember {CANARY}", session_id="chat-1")
        return {"session_id": "chat-1"}
    if kind == "document":
        doc = p.add_document(f"{CANARY}. " + "filler text for the chunker. " * 80, title="t")
        return {"document_ids": [doc.document.id]}
    if kind == "kv":
        p.kv_set("notes", "k1", {"secret": CANARY})
        return {"kv": [{"space": "notes", "key": "k1"}]}
    assert kind == "all"
    p.ingest("fact", CANARY)
    p.append_turn("chat-2", "user", CANARY)
    p.kv_set("notes", "k2", CANARY)
    return {"all": True}


@pytest.mark.parametrize("kind", ["memory", "topic", "session", "document", "kv", "all"])
def test_a_canary_is_gone_from_local_files_at_once_and_from_history_after_phase_2(
    node, client, kind
) -> None:
    p = client.profile("acme", "alice")
    _fill(p)
    asked = _ingest_kind(p, kind)
    _fill(p)
    data = node.data_dir
    assert copies(data, skip="store"), "the canary must be in the local files before"
    erasure = p.erase(**asked, reason="right to be forgotten").erasure
    assert erasure.state == "pending" and erasure.erased >= 1 and erasure.txid is not None
    # phase 1: no local file holds it; history still does until the grace window passes
    assert copies(data, skip="store") == []
    assert copies(data / "store")
    found = p.recall("purple giraffe secret", k=50, include_history=True,
                     scopes=["memories", "transcript", "documents"])  # fmt: skip
    assert all(CANARY not in json.dumps(h.to_dict()) for h in found.results)
    assert CANARY not in p.export_profile()
    sweep(node, client)
    done = p.get_erasure(erasure.id).erasure
    assert done.state == "complete" and done.receipt is not None
    assert copies(data) == []
    assert receipts.check(done.receipt) == []
    assert p.ingest("fact", "life goes on").txid > erasure.txid
    assert CANARY not in p.export_profile()


def test_reads_of_the_erased_memory_are_not_found_and_history_is_gone(client) -> None:
    p = client.profile("acme", "alice")
    m = p.ingest("fact", CANARY, topic="giraffe").memory
    p.erase(memory_ids=[m.id])
    with pytest.raises(memoturn.NotFound):
        p.get_memory(m.id)
    assert p.topic_history("giraffe").versions == []
    assert p.list_memories(include_history=True).memories == []


def test_a_rewind_or_branch_to_before_the_hard_delete_is_refused(node, client) -> None:
    p = client.profile("acme", "alice")
    m = p.ingest("fact", CANARY).memory
    before = p.ingest("fact", "other").txid
    p.erase(memory_ids=[m.id])
    with pytest.raises(memoturn.Conflict, match="erased content"):
        client.rewind("acme", "alice", txid=before)
    with pytest.raises(memoturn.Conflict, match="erased content"):
        client.create_branch("acme", "alice", "old", from_txid=before)
    client.create_branch("acme", "alice", "new")  # from the head: fine
    assert p.list_memories().memories[0].content == "other"


def test_a_checkpoint_and_a_branch_block_it_until_deleted(node, client) -> None:
    p = client.profile("acme", "alice")
    m = p.ingest("fact", CANARY).memory
    client.create_checkpoint("acme", "alice", "before")
    client.create_branch("acme", "alice", "experiment", from_checkpoint="before")
    erasure = p.erase(memory_ids=[m.id]).erasure
    assert erasure.state == "blocked"
    assert erasure.blocked_by == [
        {"kind": "checkpoint", "name": "before", "branch": "main", "txid": 1},
        {"kind": "branch", "name": "experiment"},
    ]
    with pytest.raises(memoturn.Conflict):
        client.rewind("acme", "alice", checkpoint="before")  # it would bring the canary back
    sweep(node, client)
    assert p.get_erasure(erasure.id).erasure.state == "blocked"
    assert copies(node.data_dir / "store")  # blocked, never silent: history kept
    client.delete_checkpoint("acme", "alice", "before")
    sweep(node, client)
    again = p.get_erasure(erasure.id).erasure
    assert again.state == "blocked" and again.blocked_by == [
        {"kind": "branch", "name": "experiment"}
    ]
    client.delete_branch("acme", "alice", "experiment")
    sweep(node, client)
    done = p.get_erasure(erasure.id).erasure
    assert done.state == "complete"
    assert copies(node.data_dir) == []
    resolutions = {(b["kind"], b["name"]): b["resolution"] for b in done.receipt["blockers"]}
    assert resolutions == {("checkpoint", "before"): "deleted", ("branch", "experiment"): "deleted"}


def test_force_rewrites_the_blocking_checkpoint_and_branch_without_the_content(
    node, client
) -> None:
    p = client.profile("acme", "alice")
    m = p.ingest("fact", CANARY).memory
    p.ingest("fact", "kept fact one")
    client.create_checkpoint("acme", "alice", "before")
    client.create_branch("acme", "alice", "experiment", from_checkpoint="before")
    b = client.profile("acme", "alice", branch="experiment")
    b.ingest("fact", "the branch's own fact")
    p.ingest("fact", "main after the checkpoint")
    erasure = p.erase(memory_ids=[m.id], force=True).erasure
    assert erasure.state == "pending" and len(erasure.blocked_by) == 2
    assert copies(node.data_dir / "store")
    sweep(node, client)
    done = p.get_erasure(erasure.id).erasure
    assert done.state == "complete"
    assert copies(node.data_dir) == []
    # the branch keeps its other state; the checkpoint still rewinds, minus the canary
    assert sorted(x.content for x in b.list_memories().memories) == [
        "kept fact one", "the branch's own fact"
    ]  # fmt: skip
    client.rewind("acme", "alice", checkpoint="before")
    assert [x.content for x in p.list_memories().memories] == ["kept fact one"]
    kinds = sorted((x["kind"], x["resolution"]) for x in done.receipt["blockers"])
    assert kinds == [("branch", "rewritten"), ("checkpoint", "rewritten")]
    assert copies(node.data_dir) == []


def test_phase_2_survives_a_node_restart(tmp_path, embedder) -> None:
    clock = ManualClock()
    data, store = tmp_path / "node", (tmp_path / "bucket").as_uri()
    with ThrowawayNode(data, embedder=embedder, clock=clock, object_store=store) as n:
        n.engine.create_namespace("acme")
        n.engine.create_profile("acme", "alice")
        n.engine.set_policy("acme", {"erasure_grace_s": 60})
        h = n.engine.profile("acme", "alice")
        m = h.ingest("fact", CANARY).memory
        eid = h.erase(memory_ids=[m.id]).erasure.id
    clock.advance(61)
    with ThrowawayNode(data, embedder=embedder, clock=clock, object_store=store) as n:
        n.engine.gc()
        assert n.engine.profile("acme", "alice").get_erasure(eid).erasure.state == "complete"
    assert copies(tmp_path) == []


def test_a_second_node_that_had_the_profile_open_drops_the_bytes(tmp_path, embedder) -> None:
    store = (tmp_path / "bucket").as_uri()
    clock = ManualClock()
    opts = {"embedder": embedder, "clock": clock, "object_store": store}
    with ThrowawayNode(tmp_path / "a", **opts) as a, ThrowawayNode(tmp_path / "b", **opts) as b:
        a.engine.create_namespace("acme")
        a.engine.create_profile("acme", "alice")
        writer = a.engine.profile("acme", "alice")
        m = writer.ingest("fact", CANARY).memory
        reader = b.engine.profile("acme", "alice")
        assert reader.get_memory(m.id).memory.content == CANARY
        # A reader serves its copy from memory (no local file): the bytes are there.
        assert copies(tmp_path / "b") == []
        ob = b.engine._open[reader.key]
        assert ob.in_memory and CANARY.encode() in bytes(ob.profile.db.conn.serialize("main"))
        writer.erase(memory_ids=[m.id])
        clock.advance(2)  # past the reader's staleness bound: its maintenance catches up
        b.engine.maintain()
        assert copies(tmp_path / "b") == []
        ob = b.engine._open.get(reader.key)
        if ob is not None:  # caught up in place: the copy no longer holds the bytes
            assert CANARY.encode() not in bytes(ob.profile.db.conn.serialize("main"))
        with pytest.raises(memoturn.NotFound):
            reader.get_memory(m.id)


def test_every_erasure_phase_is_audited_without_content(node, client) -> None:
    p = client.profile("acme", "alice")
    m = p.ingest("fact", CANARY).memory
    p.erase(memory_ids=[m.id])
    sweep(node, client)
    node.app.state.audit.close()
    events = node.app.state.audit.events("acme", limit=1000)[0]
    ops = [e["op"] for e in events]
    assert "erase" in ops and "erasure_phase1" in ops and "erasure_phase2" in ops
    assert CANARY not in json.dumps(events)


# -- the receipt -----------------------------------------------------------------------------


@pytest.fixture
def receipt(node, client) -> dict:
    p = client.profile("acme", "alice")
    m = p.ingest("fact", CANARY).memory
    client.create_checkpoint("acme", "alice", "c1")
    eid = p.erase(memory_ids=[m.id], force=True).erasure.id
    sweep(node, client)
    r = p.get_erasure(eid).erasure.receipt
    assert r is not None and receipts.check(r) == []
    return r


CHANGES = {
    "erasure_id": lambda r: r.update(erasure_id="01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    "namespace": lambda r: r.update(namespace="other"),
    "profile": lambda r: r.update(profile="bob"),
    "branch": lambda r: r.update(branch="experiment"),
    "asked": lambda r: r["asked"].update(memory_ids=["01HXXXXXXXXXXXXXXXXXXXXXXX"]),
    "item id": lambda r: r["items"][0].update(id="01HYYYYYYYYYYYYYYYYYYYYYYY"),
    "item digest": lambda r: r["items"][0].update(digest="0" * 64),
    "items removed": lambda r: r["items"].clear(),
    "digest key id": lambda r: r.update(digest_key_id="0" * 16),
    "txid": lambda r: r.update(hard_delete_txid=r["hard_delete_txid"] + 1),
    "requested_at": lambda r: r.update(requested_at="2020-01-01T00:00:00.000000Z"),
    "phase1_at": lambda r: r.update(phase1_at="2020-01-01T00:00:00.000000Z"),
    "phase2_at": lambda r: r.update(phase2_at="2099-01-01T00:00:00.000000Z"),
    "object deleted key": lambda r: r["objects_deleted"][0].update(key="data/x"),
    "object deleted hash": lambda r: r["objects_deleted"][0].update(sha256="1" * 64),
    "object written": lambda r: r["objects_written"].pop(),
    "blockers": lambda r: r["blockers"][0].update(resolution="deleted"),
    "state": lambda r: r.update(state="pending"),
    "key id": lambda r: r.update(key_id="0" * 16),
    "public key": lambda r: r.update(public_key="A" * 43 + "="),
    "signature": lambda r: r.update(signature=r["signature"][:-4] + "AAA="),
    "an added field": lambda r: r.update(note="nothing to see"),
    "a removed field": lambda r: r.pop("objects_written"),
}


@pytest.mark.parametrize("part", sorted(CHANGES))
def test_a_changed_receipt_fails_verification(receipt, part) -> None:
    changed = json.loads(json.dumps(receipt))
    CHANGES[part](changed)
    assert receipts.check(changed) != []


def _verify(*args: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("memoturn")
    return subprocess.run([str(cli), "erasure", "verify", *args], capture_output=True, text=True)


def test_the_cli_verifies_a_receipt_and_scans_for_copies(node, receipt, tmp_path) -> None:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    store = (node.data_dir / "store").as_uri()
    ok = _verify(str(path), "--object-store", store, "--content", CANARY, "--data",
                 str(node.data_dir))  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "no copy of the content found" in ok.stdout
    assert "the content is the erased memory" in ok.stdout
    # a copy left somewhere (say, a backup in the data dir) is found and reported
    (node.data_dir / "backup.txt").write_text(f"kept: {CANARY}")
    found = _verify(str(path), "--object-store", store, "--content", CANARY, "--data",
                    str(node.data_dir))  # fmt: skip
    assert found.returncode == 1 and "backup.txt" in found.stdout
    # a changed receipt fails, with or without the store
    changed = dict(receipt, hard_delete_txid=receipt["hard_delete_txid"] + 1)
    path.write_text(json.dumps(changed))
    assert _verify(str(path)).returncode == 1
    assert _verify(str(path), "--object-store", store).returncode == 1


def test_a_receipt_signed_by_another_key_fails_against_the_deployment(node, receipt, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = receipts.sign(
        {k: v for k, v in receipt.items() if k not in ("signature", "key_id", "public_key")},
        Ed25519PrivateKey.generate(),
    )
    assert receipts.check(forged) == []  # self-consistent ...
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    out = _verify(str(path), "--object-store", (node.data_dir / "store").as_uri())
    assert out.returncode == 1 and "another key" in out.stderr  # ... but not the deployment's


# -- bad input -------------------------------------------------------------------------------

BAD = [
    {},
    {"reason": "nothing named"},
    {"force": True},
    {"memory_ids": []},
    {"memory_ids": "01H"},
    {"memory_ids": [1]},
    {"memory_ids": [""]},
    {"topic": ""},
    {"topic": 5},
    {"session_id": "bad id!"},
    {"document_ids": [None]},
    {"kv": []},
    {"kv": [{"space": "Bad Space", "key": "k"}]},
    {"kv": [{"space": "notes"}]},
    {"kv": [{"space": "notes", "key": "k", "extra": 1}]},
    {"kv": ["notes/k"]},
    {"all": "yes"},
    {"all": True, "topic": "x"},
    {"force": "true", "topic": "x"},
    {"unknown": 1},
    {"memory_ids": [f"id{i}" for i in range(1001)]},
]


@pytest.mark.parametrize("body", BAD, ids=[json.dumps(b)[:40] for b in BAD])
def test_bad_erasure_requests_are_400_and_change_nothing(node, body) -> None:
    with httpx.Client(base_url=node.url, headers=bearer(node.root_token)) as c:
        before = c.get(P + "/memories").json()
        r = c.post(P + "/erasures", json=body)
        assert r.status_code in (400, 413), r.text
        assert r.json()["error"]["message"]
        assert c.get(P + "/erasures").json() == {"erasures": []}
        assert c.get(P + "/memories").json()["txid"] == before["txid"]


def test_an_unknown_erasure_is_404(node) -> None:
    with httpx.Client(base_url=node.url, headers=bearer(node.root_token)) as c:
        assert c.get(P + "/erasures/01HNOSUCHERASURE0000000000").status_code == 404
        assert c.get(P + "/erasures/..%2Fx").status_code == 404


def test_a_branch_locked_token_may_not_erase(node) -> None:
    with httpx.Client(base_url=node.url, headers=bearer(node.root_token)) as c:
        token = c.post(
            "/v1/namespaces/acme/tokens", json={"profile": "alice", "branch": "main"}
        ).json()["token"]
    with httpx.Client(base_url=node.url, headers=bearer(token)) as c:
        r = c.post(P + "/erasures", json={"all": True})
        assert r.status_code == 403
        assert c.get(P + "/erasures").status_code == 200


def test_retention_erases_what_is_older_with_one_receipt_per_sweep(node, client) -> None:
    p = client.profile("acme", "alice")
    p.ingest("fact", CANARY)
    p.append_turn("chat-1", "user", CANARY)
    client.set_profile_policy("acme", "alice", {"retention_s": 600})
    node.engine.clock.advance(601)
    p.ingest("fact", "a fresh memory")  # this node writes the profile now
    node.engine.maintain()
    (erasure,) = p.list_erasures().erasures
    assert erasure.asked["reason"] == "retention_s 600" and erasure.erased == 2
    assert copies(node.data_dir, skip="store") == []
    assert [m.content for m in p.list_memories().memories] == ["a fresh memory"]
    assert len(p.list_erasures().erasures) == 1
    sweep(node, client)
    done = p.get_erasure(erasure.id).erasure
    assert done.state == "complete" and receipts.check(done.receipt) == []
    assert copies(node.data_dir) == []


def test_the_states_a_rewind_kept_in_local_files_go_too(node, client) -> None:
    p = client.profile("acme", "alice")
    m = p.ingest("fact", CANARY).memory
    p.ingest("fact", "later")
    undo = client.rewind("acme", "alice", txid=0).undo_checkpoint  # local files keep the past
    assert p.list_memories(include_history=True).memories == []
    assert copies(node.data_dir, skip="store"), "the rewound-away state is kept locally"
    erasure = p.erase(memory_ids=[m.id]).erasure  # not at the head: only in history
    assert erasure.erased == 0 and erasure.state == "blocked"
    assert erasure.blocked_by == [
        {"kind": "checkpoint", "name": undo, "branch": "main", "txid": 2}
    ]  # fmt: skip
    assert copies(node.data_dir, skip="store") == []
    client.delete_checkpoint("acme", "alice", undo)
    sweep(node, client)
    assert p.get_erasure(erasure.id).erasure.state == "complete"
    assert copies(node.data_dir) == []
