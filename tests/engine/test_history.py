"""Checkpoints, rewind and branches: atomic, isolated, metadata-only where promised."""

from __future__ import annotations

import pytest
from tests.engine.conftest import provision, state

from memoturn import Conflict, InvalidInput, NotFound


def test_checkpoint_and_rewind_is_atomic_and_undoable(make_engine) -> None:
    eng = make_engine()
    p = provision(eng)
    p.ingest("fact", "Alice likes tea", topic="drink")
    p.kv_set("s", "mood", "calm")
    p.append_turn("s1", "user", "hello")
    cp = eng.create_checkpoint("acme", "alice", "before-night")
    assert cp.txid == 3
    good = state(p)

    p.ingest("fact", "Alice likes motor oil", topic="drink")  # garbage learned overnight
    p.kv_set("s", "mood", "broken")
    p.add_document("nonsense " * 50)
    bad = state(p)

    r = eng.rewind("acme", "alice", checkpoint="before-night")
    assert r.txid == 7 and p.txid == 7
    after = state(p)
    assert after["memories"] == good["memories"] and after["kv"] == good["kv"]
    assert p.recall("drink", k=5).results[0].memory.content == "Alice likes tea"
    assert len(p.read_turns("s1").turns) == 1

    # The state just before the rewind is kept: undo the rewind.
    names = {c.name: c for c in eng.list_checkpoints("acme", "alice")}
    assert names[r.undo_checkpoint].txid == 6 and names[r.undo_checkpoint].automatic
    eng.rewind("acme", "alice", checkpoint=r.undo_checkpoint)
    assert state(p)["memories"] == bad["memories"] and state(p)["kv"] == bad["kv"]
    assert p.txid == 8


def test_rewind_to_txid_and_to_zero(make_engine) -> None:
    eng = make_engine()
    p = provision(eng)
    for i in range(5):
        p.ingest("fact", f"fact number {i}")
    eng.rewind("acme", "alice", txid=2)
    assert [m.content for m in p.list_memories().memories] == ["fact number 0", "fact number 1"]
    eng.rewind("acme", "alice", txid=0)
    assert p.list_memories().memories == []
    p.ingest("fact", "fresh start")
    assert [m.content for m in p.list_memories().memories] == ["fresh start"]
    # History before the rewinds stays restorable on a fresh node.
    fresh = make_engine().profile("acme", "alice")
    assert [m.content for m in fresh.list_memories().memories] == ["fresh start"]


def test_rewind_survives_restart_on_fresh_node(make_engine) -> None:
    eng = make_engine()
    p = provision(eng)
    p.ingest("fact", "keep me")
    eng.create_checkpoint("acme", "alice", "cp")
    p.ingest("fact", "drop me")
    eng.rewind("acme", "alice", checkpoint="cp")
    p.ingest("fact", "after rewind")
    eng.close()
    q = make_engine().profile("acme", "alice")
    assert [m.content for m in q.list_memories().memories] == ["keep me", "after rewind"]


def test_bad_rewinds_change_nothing(make_engine) -> None:
    eng = make_engine()
    p = provision(eng)
    p.ingest("fact", "x")
    before = state(p)
    with pytest.raises(NotFound):
        eng.rewind("acme", "alice", checkpoint="nope")
    with pytest.raises(NotFound):
        eng.rewind("acme", "alice", txid=99)
    with pytest.raises(InvalidInput):
        eng.rewind("acme", "alice")
    with pytest.raises(InvalidInput):
        eng.rewind("acme", "alice", txid=1, checkpoint="cp")
    assert state(p) == before
    eng.create_checkpoint("acme", "alice", "cp")
    with pytest.raises(Conflict):
        eng.create_checkpoint("acme", "alice", "cp")
    with pytest.raises(InvalidInput):
        eng.create_checkpoint("acme", "alice", "Bad Name")


def test_branches_are_isolated_both_ways(make_engine) -> None:
    eng = make_engine()
    p = provision(eng)
    p.ingest("fact", "shared past")
    b = eng.create_branch("acme", "alice", "experiment")
    assert (b.parent, b.parent_txid, b.txid) == ("main", 1, 1)
    exp = eng.profile("acme", "alice", "experiment")
    assert [m.content for m in exp.list_memories().memories] == ["shared past"]
    exp.ingest("fact", "only in the experiment")
    p.ingest("fact", "only in main")
    assert exp.txid == 2 and p.txid == 2
    assert [m.content for m in exp.list_memories().memories] == [
        "shared past",
        "only in the experiment",
    ]
    assert [m.content for m in p.list_memories().memories] == ["shared past", "only in main"]
    assert exp.recall("only in main", mode="keyword").results[0].memory.content != "only in main"
    names = [x.name for x in eng.list_branches("acme", "alice")]
    assert names == ["main", "experiment"]
    # Survives on a fresh node too.
    other = make_engine()
    assert [
        m.content for m in other.profile("acme", "alice", "experiment").list_memories().memories
    ] == [
        "shared past",
        "only in the experiment",
    ]
    eng.delete_branch("acme", "alice", "experiment")
    with pytest.raises(NotFound):
        eng.profile("acme", "alice", "experiment").list_memories()
    assert [m.content for m in p.list_memories().memories] == ["shared past", "only in main"]


def test_branch_from_checkpoint_and_txid(make_engine) -> None:
    eng = make_engine()
    p = provision(eng)
    for i in range(4):
        p.ingest("fact", f"step {i}")
        if i == 1:
            eng.create_checkpoint("acme", "alice", "two")
    eng.create_branch("acme", "alice", "from-cp", from_checkpoint="two")
    eng.create_branch("acme", "alice", "from-tx", from_txid=3)
    assert len(eng.profile("acme", "alice", "from-cp").list_memories().memories) == 2
    assert len(eng.profile("acme", "alice", "from-tx").list_memories().memories) == 3
    eng.create_branch("acme", "alice", "nested", from_branch="from-tx")
    n = eng.profile("acme", "alice", "nested")
    n.ingest("fact", "nested fact")
    assert len(n.list_memories().memories) == 4
    with pytest.raises(Conflict):
        eng.delete_branch("acme", "alice", "from-tx")  # nested was forked from it
    with pytest.raises(Conflict):
        eng.create_branch("acme", "alice", "from-cp")
    with pytest.raises(Conflict):
        eng.delete_branch("acme", "alice", "main")
    with pytest.raises(NotFound):
        eng.create_branch("acme", "alice", "x", from_txid=99)
    with pytest.raises(NotFound):
        eng.create_branch("acme", "alice", "x", from_checkpoint="nope")


def test_burner_branch_expires(make_engine, clock) -> None:
    eng = make_engine()
    p = provision(eng)
    p.ingest("fact", "main fact")
    eng.create_branch("acme", "alice", "burner", ttl_s=60)
    eng.profile("acme", "alice", "burner").ingest("fact", "burner fact")
    eng.hibernate("acme", "alice", "burner")
    clock.advance(61)
    with pytest.raises(NotFound):
        eng.profile("acme", "alice", "burner").list_memories()
    assert [b.name for b in eng.list_branches("acme", "alice")] == ["main"]
    assert [m.content for m in p.list_memories().memories] == ["main fact"]


def test_an_open_burner_branch_is_gone_the_moment_it_expires(make_engine, clock) -> None:
    eng = make_engine()
    provision(eng).ingest("fact", "main fact")
    eng.create_branch("acme", "alice", "burner", ttl_s=60)
    burner = eng.profile("acme", "alice", "burner")
    burner.ingest("fact", "burner fact")  # open on this node, not hibernated
    clock.advance(59)
    assert [m.content for m in burner.list_memories().memories] == ["main fact", "burner fact"]
    clock.advance(1)
    for read in (burner.list_memories, lambda: burner.recall("fact")):
        with pytest.raises(NotFound, match="has expired"):
            read()
    with pytest.raises(NotFound, match="has expired"):
        burner.ingest("fact", "too late")
    assert eng.open_profile_count() == 1  # its copy was dropped; main stays open


def test_branch_and_checkpoint_are_metadata_only(make_engine, shared_store) -> None:
    from memoturn.storage.wrappers import MeteredStore

    metered = MeteredStore(shared_store)
    eng = make_engine(object_store=metered)
    p = provision(eng)
    p.ingest_many([{"type": "fact", "content": f"memory {i}"} for i in range(200)])
    metered.reset()
    eng.create_branch("acme", "alice", "b1")
    stats = metered.stats()
    assert set(stats) <= {"get_manifest", "create_manifest", "head_manifest", "head_namespace"}
    assert stats["create_manifest"]["calls"] == 1
    assert stats["create_manifest"]["bytes_written"] < 4096
    metered.reset()
    eng.create_checkpoint("acme", "alice", "cp")
    assert set(metered.stats()) <= {"get_manifest", "cas_manifest", "get_lease", "cas_lease"}


def test_gc_deletes_only_unreachable_and_expired(make_engine, shared_store, clock) -> None:
    eng = make_engine()
    p = provision(eng)
    for i in range(3):
        p.ingest("fact", f"fact {i}")
    eng.create_branch("acme", "alice", "burner", ttl_s=10)
    eng.profile("acme", "alice", "burner").ingest("fact", "burner fact")
    eng.hibernate("acme", "alice", "burner")
    orphan = "data/acme--alice/main.orphan/seg/0000000000000001.1"
    shared_store.put(orphan, b"left by a failed write")
    young = next(r for r in eng.gc(min_age_s=3600) if r.db == "acme--alice")
    assert young.deleted == 0 and young.expired_branches == []
    clock.advance(11)
    report = next(r for r in eng.gc(min_age_s=0) if r.db == "acme--alice")
    assert report.expired_branches == ["burner"]
    assert shared_store.head(orphan) is None
    remaining = [i.key for i in shared_store.list("data/acme--alice/")]
    assert remaining and all("/main." in k for k in remaining)
    fresh = make_engine().profile("acme", "alice")
    assert len(fresh.list_memories().memories) == 3


def test_rewind_leaves_a_snapshot_so_wakes_do_not_nest(make_engine, shared_store) -> None:
    from memoturn.storage.wrappers import MeteredStore

    metered = MeteredStore(shared_store)
    eng = make_engine(object_store=metered)
    p = provision(eng)
    for i in range(5):
        p.ingest("fact", f"fact {i}")
    for _ in range(3):
        eng.rewind("acme", "alice", txid=p.txid - 1)
    eng.hibernate("acme", "alice")
    metered.reset()
    assert len(p.list_memories().memories) == 4
    stats = metered.stats()
    assert stats["get_snapshot"]["calls"] == 1 and "get_segment" not in stats
