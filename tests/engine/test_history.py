"""Checkpoints, rewind and branches: atomic, isolated, metadata-only where promised."""

from __future__ import annotations

import pytest
from tests.engine.conftest import provision, state

from memoturn import Conflict, InvalidInput, NotFound, Unavailable
from memoturn.core.clock import ManualClock
from memoturn.engine.engine import HIBERNATION_SNAPSHOT_AFTER
from memoturn.storage import keys, replica
from memoturn.storage.lease import DEFAULT_TTL_S
from memoturn.storage.localstates import KEPT_FILES
from memoturn.storage.wrappers import MeteredStore


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


@pytest.mark.parametrize("pattern", ["to previous txid", "to head"])
def test_rewinds_do_not_nest_wakes(make_engine, shared_store, pattern) -> None:
    # A rewind's run stands on an earlier txid of the branch; however many rewinds
    # follow one another, a wake after hibernation reads one snapshot or a short run.
    metered = MeteredStore(shared_store)
    eng = make_engine(object_store=metered)
    p = provision(eng)
    for i in range(5):
        p.ingest("fact", f"fact {i}")
    for _ in range(HIBERNATION_SNAPSHOT_AFTER + 4):
        eng.rewind("acme", "alice", txid=p.txid - 1 if pattern == "to previous txid" else p.txid)
    expected = len(p.list_memories().memories)
    eng.hibernate("acme", "alice")
    metered.reset()
    assert len(p.list_memories().memories) == expected
    stats = metered.stats()
    assert stats.get("get_snapshot", {}).get("calls", 0) <= 1
    assert stats.get("get_segment", {}).get("calls", 0) < HIBERNATION_SNAPSHOT_AFTER
    fresh = make_engine().profile("acme", "alice")
    assert len(fresh.list_memories().memories) == expected


@pytest.mark.parametrize("durability", ["object", "local"])
def test_rewind_is_shipped_like_every_write(make_engine, durability) -> None:
    # One commit path: the rewind's segment is reported to the metrics callback and
    # counted by the store metrics, in both durability modes.
    eng = make_engine(durability=durability)
    shipped: list[tuple[int, int]] = []
    eng.on_segment_shipped = lambda txid, nbytes, seconds: shipped.append((txid, nbytes))
    p = provision(eng)
    p.ingest("fact", "keep me")
    eng.create_checkpoint("acme", "alice", "cp")
    p.ingest("fact", "drop me")
    eng.hibernate("acme", "alice")  # ships what local mode queued
    assert [t for t, _ in shipped] == [1, 2]
    puts = eng.metered.stats()["put_segment"]["calls"]
    r = eng.rewind("acme", "alice", checkpoint="cp")
    assert shipped[-1][0] == r.txid == 3 and shipped[-1][1] > 0
    assert eng.metered.stats()["put_segment"]["calls"] == puts + 1
    p.ingest("fact", "after")
    eng.close()
    fresh = make_engine().profile("acme", "alice")
    assert [m.content for m in fresh.list_memories().memories] == ["keep me", "after"]


def test_stale_writer_rewind_is_refused_and_changes_nothing(make_engine, shared_store) -> None:
    # Node a still believes it holds the lease (its clock lags), but b took the branch
    # over and fenced a's epoch: a's rewind fails at its commit point, nothing lands.
    clock_a, clock_b = ManualClock(), ManualClock()
    a = make_engine(node_id="node-a", clock=clock_a)
    b = make_engine(node_id="node-b", clock=clock_b)
    pa = provision(a)
    pa.ingest("fact", "one")
    a.create_checkpoint("acme", "alice", "cp")
    pa.ingest("fact", "two")
    clock_b.advance(DEFAULT_TTL_S + 1)  # in b's view a's lease has lapsed
    pb = b.profile("acme", "alice")
    pb.ingest("fact", "from b")  # b takes the lease at a new epoch
    before = shared_store.get(keys.manifest("acme--alice", "main")).data
    shipped: list[int] = []
    a.on_segment_shipped = lambda txid, nbytes: shipped.append(txid)
    with pytest.raises(Unavailable, match="another node"):
        a.rewind("acme", "alice", checkpoint="cp")
    assert shared_store.get(keys.manifest("acme--alice", "main")).data == before
    assert shipped == []
    assert {c.name for c in b.list_checkpoints("acme", "alice")} == {"cp"}
    expected = ["one", "two", "from b"]
    assert [m.content for m in pb.list_memories().memories] == expected
    assert [m.content for m in pa.list_memories().memories] == expected  # a reloaded from the store
    assert [
        m.content for m in make_engine().profile("acme", "alice").list_memories().memories
    ] == expected


@pytest.mark.parametrize("fold_wal", [False, True])
def test_rewind_from_local_wal_or_from_the_store_agree(make_engine, monkeypatch, fold_wal) -> None:
    # The local copy is rolled back by cutting its WAL when the WAL still holds the
    # target; once the WAL was folded into the database file, from the store's history.
    # Either way the result is the state at the target, here and on a fresh node.
    if fold_wal:
        monkeypatch.setattr(replica, "WAL_CHECKPOINT_BYTES", 0)  # fold after every commit
    metered_gets: list[int] = []
    eng = make_engine()
    p = provision(eng)
    states = {0: state(p)}
    for i in range(6):
        p.ingest("fact", f"fact {i}", topic=f"t{i % 2}")
        states[p.txid] = state(p)
        p.kv_set("s", "n", i)
        states[p.txid] = state(p)
    undo = ""
    for step in (9, 5, "undo", 2, "undo", "undo", 1):
        eng.metered.reset()
        if step == "undo":  # back to the state just before the last rewind
            target = next(c.txid for c in eng.list_checkpoints("acme", "alice") if c.name == undo)
            undo = eng.rewind("acme", "alice", checkpoint=undo).undo_checkpoint
        else:
            target = step
            undo = eng.rewind("acme", "alice", txid=target).undo_checkpoint
        metered_gets.append(eng.metered.stats().get("get_segment", {}).get("calls", 0))
        got = state(p)
        assert got["memories"] == states[target]["memories"] and got["kv"] == states[target]["kv"]
        states[p.txid] = got
        fresh = make_engine().profile("acme", "alice")
        assert state(fresh) == got
        # The vectors too (an undo reuses those of the state it returns to).
        for query in ("fact 3", "fact 4"):
            hits = [(h.memory.id, h.score) for h in p.recall(query, k=4, mode="vector").results]
            assert hits == [
                (h.memory.id, h.score) for h in fresh.recall(query, k=4, mode="vector").results
            ]
    # From the WAL a rewind reads nothing; from the store it reads the target's history.
    # An undo reads nothing either way: the rewind kept the files it rolled back aside.
    from_store = [gets > 0 for gets in metered_gets]
    assert from_store == (
        [True, True, False, True, False, False, True] if fold_wal else [False] * 7
    )


def test_files_kept_for_undo_are_bounded_and_go_at_hibernation(make_engine, tmp_path) -> None:
    eng = make_engine()
    p = provision(eng)
    for i in range(4):
        p.ingest("fact", f"fact {i}")
    folder = tmp_path / "node0" / "cache" / "acme--alice"
    for i in range(12):
        eng.rewind("acme", "alice", txid=p.txid - 1 - i % 3)
        assert len(list(folder.iterdir())) <= 3 + KEPT_FILES  # db, -wal, -shm + kept
    eng.hibernate("acme", "alice")
    assert list(folder.iterdir()) == []
