"""Reads on a node that is not the writer: staleness bounded by ``staleness_s``."""

from __future__ import annotations

from tests.engine.conftest import provision

from memoturn.engine.follow import STALENESS_S


def _calls(eng, op: str) -> int:
    return int(eng.store.stats().get(op, {}).get("calls", 0))


def test_the_bound_is_one_second() -> None:
    assert STALENESS_S == 1.0


def test_a_write_on_the_writer_is_visible_on_a_reader_within_the_bound(make_engine, clock):
    a, b = make_engine(node_id="node-a"), make_engine(node_id="node-b")
    pa = provision(a)
    pa.kv_set("s", "k", 1)
    pb = b.profile("acme", "alice")
    assert pb.kv_get("s", "k").value == 1  # b wakes at the head
    txid = pa.kv_set("s", "k", 2).txid
    reads = _calls(b, "get_manifest")
    for _ in range(24):  # within the bound: b serves its copy, no store read per call
        clock.advance(STALENESS_S / 32)  # (binary fractions: the sums are exact)
        assert pb.kv_get("s", "k").value == 1
    assert _calls(b, "get_manifest") == reads
    clock.advance(STALENESS_S / 4)  # now exactly the bound since b last looked
    assert pb.kv_get("s", "k").value == 2
    assert pb.txid == txid
    reads = _calls(b, "get_manifest")
    assert pb.kv_get("s", "k").value == 2
    assert _calls(b, "get_manifest") == reads


def test_a_reader_with_nothing_new_reads_the_manifest_once_per_bound(make_engine, clock):
    a, b = make_engine(node_id="node-a"), make_engine(node_id="node-b")
    provision(a).kv_set("s", "k", 1)
    pb = b.profile("acme", "alice")
    pb.kv_get("s", "k")
    reads = _calls(b, "get_manifest")
    for _ in range(10):
        clock.advance(STALENESS_S)
        for _ in range(5):
            assert pb.kv_get("s", "k").value == 1
    assert _calls(b, "get_manifest") == reads + 10


def test_the_writer_reads_no_manifest_for_its_reads(make_engine, clock):
    a = make_engine(node_id="node-a")
    pa = provision(a)
    pa.kv_set("s", "k", 1)
    reads = _calls(a, "get_manifest")
    for _ in range(5):
        clock.advance(STALENESS_S)
        assert pa.kv_get("s", "k").value == 1
    assert _calls(a, "get_manifest") == reads


def test_a_reader_follows_a_rewind_and_a_new_writer(make_engine, clock):
    a, b = make_engine(node_id="node-a"), make_engine(node_id="node-b")
    pa = provision(a)
    t1 = pa.kv_set("s", "k", 1).txid
    pa.kv_set("s", "k", 2)
    pb = b.profile("acme", "alice")
    assert pb.kv_get("s", "k").value == 2
    a.rewind("acme", "alice", txid=t1)
    clock.advance(STALENESS_S)
    assert pb.kv_get("s", "k").value == 1
    a.close()
    clock.advance(60)  # a's lease lapses; b becomes the writer, a fresh a reads it
    pb.kv_set("s", "k", 3)
    c = make_engine(node_id="node-c")
    pc = c.profile("acme", "alice")
    assert pc.kv_get("s", "k").value == 3
    pb.kv_set("s", "k", 4)
    clock.advance(STALENESS_S)
    assert pc.kv_get("s", "k").value == 4


def test_a_reader_catches_up_by_applying_the_new_segments(make_engine, clock):
    a, b = make_engine(node_id="node-a"), make_engine(node_id="node-b")
    pa = provision(a)
    for i in range(5):
        pa.ingest("fact", f"likes tea number {i}", topic=f"t{i}")
    pb = b.profile("acme", "alice")
    assert len(pb.list_memories().memories) == 5
    gets = _calls(b, "get_segment")
    pa.ingest("fact", "moved to Berlin", topic="home")
    pa.kv_set("s", "k", 1)
    clock.advance(STALENESS_S)
    assert pb.kv_get("s", "k").value == 1
    assert b.events.follows == {"segments": 1, "wake": 0, "failed": 0}
    assert _calls(b, "get_segment") == gets + 2  # the two new segments, nothing else
    assert _calls(b, "get_snapshot") == 0
    assert b._open[pb.key].profile._indexes is None  # vectors load only when a call needs them
    hits = pb.recall("which city is the user's home", k=1).results
    assert hits[0].memory.content == "moved to Berlin"  # the vector index follows too
    assert len(b._open[pb.key].profile.memory_index) == 6
    assert pb.txid == pa.txid
    a.rewind("acme", "alice", txid=1)
    clock.advance(STALENESS_S)
    assert len(pb.list_memories().memories) == 1
    assert b.events.follows == {"segments": 1, "wake": 1, "failed": 0}  # a rewind: a wake


def test_min_txid_catches_up_at_once(make_engine, clock):
    a, b = make_engine(node_id="node-a"), make_engine(node_id="node-b")
    pa = provision(a)
    pa.kv_set("s", "k", 1)
    assert b.profile("acme", "alice").kv_get("s", "k").value == 1
    txid = pa.kv_set("s", "k", 2).txid
    assert b.profile("acme", "alice", min_txid=txid).kv_get("s", "k").value == 2
    assert b.events.follows["segments"] == 1
