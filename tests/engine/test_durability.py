"""Object storage is the source of truth: restart, hibernation, faults, leases."""

from __future__ import annotations

from typing import Any

import pytest
from tests.engine.conftest import provision, state

from memoturn import Unavailable
from memoturn.storage.lease import HeldElsewhere
from memoturn.storage.memory import MemoryStore
from memoturn.storage.objectstore import StoreError
from memoturn.storage.wrappers import FaultyStore, MeteredStore


def _fill(p) -> None:
    p.ingest("preference", "Alice is vegetarian", topic="diet", metadata={"k": 1})
    p.append_turns(
        "s1", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    )
    p.ingest("task", "book the train", session_id="s1")
    p.kv_set("s", "a", [1, 2, 3])
    p.add_document("A manual about bicycles. " * 80, title="Bikes")
    p.vector_upsert("v", "x", [0.1, 0.2, 0.3])


def test_fresh_node_with_empty_disk_serves_everything(make_engine) -> None:
    a = make_engine()
    p = provision(a)
    _fill(p)
    before = state(p)
    a.close()
    q = make_engine().profile("acme", "alice")
    assert state(q) == before
    assert q.recall("what should I cook?").results[0].memory.content == "Alice is vegetarian"
    assert q.recall("bicycles", scopes=["documents"]).results[0].memory.title == "Bikes"
    assert [t.content for t in q.read_turns("s1").turns] == ["hi", "yo"]
    assert q.vector_query("v", [0.1, 0.2, 0.3]).results[0].id == "x"


def test_hibernate_and_wake(make_engine, tmp_path) -> None:
    eng = make_engine(hibernate_after=0)
    p = provision(eng)
    _fill(p)
    before = state(p)
    eng.maintain()
    assert eng.open_profile_count() == 0
    assert not list((tmp_path / "node0" / "cache" / "acme--alice").glob("*.db*"))
    assert state(p) == before  # the handle wakes it
    assert eng.open_profile_count() == 1


def test_hibernation_snapshot_makes_wake_read_one_image(make_engine, shared_store) -> None:
    metered = MeteredStore(shared_store)
    eng = make_engine(object_store=metered)
    p = provision(eng)
    for i in range(20):
        p.ingest("fact", f"fact {i}")
    assert eng.hibernate("acme", "alice")
    metered.reset()
    assert len(p.list_memories().memories) == 20
    stats = metered.stats()
    assert stats["get_snapshot"]["calls"] == 1 and "get_segment" not in stats


def test_idle_profiles_cause_no_lease_traffic(make_engine, shared_store, clock) -> None:
    metered = MeteredStore(shared_store)
    eng = make_engine(object_store=metered)
    p = provision(eng)
    p.ingest("fact", "x")
    metered.reset()
    clock.advance(eng.lease_ttl + 1)
    eng.maintain()  # releases the idle writer's lease
    assert metered.stats()["cas_lease"]["calls"] == 1
    metered.reset()
    for _ in range(3):
        p.recall("x")
        eng.maintain()
    assert not {op for op in metered.stats() if "lease" in op}


@pytest.mark.parametrize("op", ["put_segment", "cas_manifest"])
def test_failed_store_op_fails_write_cleanly_then_next_succeeds(
    make_engine, shared_store, op
) -> None:
    faulty = FaultyStore(shared_store)
    eng = make_engine(object_store=faulty)
    p = provision(eng)
    p.ingest("fact", "before the fault")
    faulty.fail_next(op, exc=StoreError(f"injected {op} failure"))
    with pytest.raises(Unavailable):
        p.ingest("fact", "never acknowledged")
    assert [m.content for m in p.list_memories().memories] == ["before the fault"]
    r = p.ingest("fact", "after the fault")
    assert r.txid == 2
    fresh = make_engine().profile("acme", "alice")
    assert [m.content for m in fresh.list_memories().memories] == [
        "before the fault",
        "after the fault",
    ]


def test_cas_that_landed_but_lost_its_answer_is_acknowledged(make_engine, shared_store) -> None:
    faulty = FaultyStore(shared_store)
    eng = make_engine(object_store=faulty)
    p = provision(eng)
    p.ingest("fact", "one")
    faulty.fail_next("cas_manifest", exc=StoreError("timeout"), after=True)
    r = p.ingest("fact", "two")
    assert r.txid == 2
    fresh = make_engine().profile("acme", "alice")
    assert [m.content for m in fresh.list_memories().memories] == ["one", "two"]


def test_local_durability_ships_in_background(make_engine) -> None:
    eng = make_engine(durability="local")
    p = provision(eng)
    for i in range(30):
        p.ingest("fact", f"fact {i}")
    eng.close()  # flushes
    assert len(make_engine().profile("acme", "alice").list_memories().memories) == 30


def test_second_node_is_refused_while_holder_lives_then_takes_over(make_engine, clock) -> None:
    a = make_engine(node_id="node-a", address="127.0.0.1:1")
    b = make_engine(node_id="node-b")
    pa = provision(a)
    pa.ingest("fact", "from a")
    pb = b.profile("acme", "alice")
    assert [m.content for m in pb.list_memories().memories] == ["from a"]  # reads need no lease
    with pytest.raises(HeldElsewhere, match="node-a") as err:
        pb.ingest("fact", "from b")
    assert err.value.status == 503 and err.value.retry_after
    pa.ingest("fact", "a again")
    clock.advance(11)  # a's lease lapses (a died, in effect)
    pb.ingest("fact", "from b")
    assert [m.content for m in pb.list_memories().memories] == ["from a", "a again", "from b"]
    # a is fenced: its next write fails and nothing of it lands.
    with pytest.raises(Unavailable):
        pa.ingest("fact", "stale a")
    fresh = make_engine().profile("acme", "alice")
    assert [m.content for m in fresh.list_memories().memories] == ["from a", "a again", "from b"]


def test_min_txid_catches_up_from_another_writer(make_engine, clock) -> None:
    a = make_engine(node_id="a")
    b = make_engine(node_id="b")
    pa = provision(a)
    pa.ingest("fact", "one")
    assert b.profile("acme", "alice").txid == 1
    t = pa.ingest("fact", "two").txid
    pb = b.profile("acme", "alice", min_txid=t)
    assert [m.content for m in pb.list_memories().memories] == ["one", "two"]


def test_memory_store_backend_works_too(tmp_path, embedder, clock) -> None:
    import memoturn

    store = MemoryStore()
    with memoturn.open(tmp_path / "a", object_store=store, embedder=embedder, clock=clock) as a:
        provision(a).ingest("fact", "in memory")
    with memoturn.open(tmp_path / "b", object_store=store, embedder=embedder, clock=clock) as b:
        assert b.profile("acme", "alice").list_memories().memories[0].content == "in memory"


def test_maintenance_embeds_deferred_memories(make_engine) -> None:
    eng = make_engine()
    p = provision(eng)
    p.ingest_many(
        [{"type": "fact", "content": f"bulk {i}"} for i in range(10)], defer_embedding=True
    )
    assert eng.pending_embeddings("acme", "alice") == 10
    eng.maintain()
    assert eng.pending_embeddings("acme", "alice") == 0
    fresh = make_engine()
    assert fresh.pending_embeddings("acme", "alice") == 0  # the embeddings were shipped too


def test_a_reader_leaves_deferred_embeddings_to_the_writer(make_engine, clock, caplog) -> None:
    a = make_engine(node_id="node-a")
    pa = provision(a)
    pa.ingest_many(
        [{"type": "fact", "content": f"bulk {i}"} for i in range(5)], defer_embedding=True
    )
    b = make_engine(node_id="node-b")
    assert b.pending_embeddings("acme", "alice") == 5  # b has the profile open, as a reader

    def lease_reads() -> int:
        return int(b.store.stats().get("get_lease", {}).get("calls", 0))

    before = lease_reads()
    for _ in range(5):  # five maintenance rounds within a's lease: b asks once
        b.maintain()
    assert lease_reads() == before + 1
    assert b.pending_embeddings("acme", "alice") == 5
    assert "background embedding" not in caplog.text
    a.maintain()  # the writer embeds them
    assert a.pending_embeddings("acme", "alice") == 0


def test_hibernation_follows_the_injected_clock(make_engine, clock) -> None:
    eng = make_engine(hibernate_after=300)
    p = provision(eng)
    p.ingest("fact", "x")
    eng.maintain()
    assert eng.open_profile_count() == 1
    clock.advance(299)
    eng.maintain()
    assert eng.open_profile_count() == 1
    clock.advance(2)
    eng.maintain()
    assert eng.open_profile_count() == 0
    assert p.list_memories().memories[0].content == "x"


def test_maintenance_sweeps_expired_rows_of_written_branches(make_engine, clock) -> None:
    eng = make_engine()
    p = provision(eng)
    p.ingest("fact", "short-lived", ttl_s=5)
    p.kv_set("s", "k", 1, ttl_s=5)
    txid = p.txid
    clock.advance(6)
    p.ingest("fact", "keeps the lease fresh")
    eng.maintain()
    assert p.txid == txid + 2  # the sweep was one write
    fresh = make_engine().profile("acme", "alice")
    assert [m.content for m in fresh.list_memories(include_history=True).memories] == [
        "keeps the lease fresh"
    ]


class CountingEmbedder:
    """The real embedder, counting the texts it embeds (instrumentation, not a fake)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.dim, self.self_hosted = inner.name, inner.dim, inner.self_hosted
        self.max_tokens = inner.max_tokens
        self.texts = 0

    def embed(self, texts: Any) -> Any:
        self.texts += len(texts)
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> Any:
        return self.inner.embed_query(text)


def test_a_refused_write_is_refused_before_it_is_embedded(make_engine, embedder) -> None:
    a = make_engine(node_id="node-a")
    counting = CountingEmbedder(embedder)
    b = make_engine(node_id="node-b", embedder=counting)
    provision(a).ingest("fact", "from a")
    pb = b.profile("acme", "alice")
    calls = [
        lambda: pb.ingest("fact", "a long fact from b " * 20),
        lambda: (
            pb.ingest_many([{"type": "fact", "content": f"batch {i}"} for i in range(50)]).results
        ),
        lambda: pb.append_turns("s1", [{"role": "user", "content": "hello"}] * 20).turns,
        lambda: pb.add_document("a document " * 200, title="doc"),
    ]
    for call in calls:
        with pytest.raises(HeldElsewhere, match="node-a"):
            call()
    assert counting.texts == 0
    # A duplicate needs no write at all: any node answers it.
    assert pb.ingest("fact", "from a").duplicate
