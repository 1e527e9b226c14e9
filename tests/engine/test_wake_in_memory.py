"""A read-only wake serves the branch from memory: no local file, no lease, correct reads; the
first write takes the lease, wakes the branch again to a file and loses nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.engine.conftest import provision, state

from memoturn.storage.lease import HeldElsewhere


def _db_files(eng: Any) -> list[Path]:
    return sorted(p for p in (eng.cache_dir).rglob("*") if p.is_file())


def _seeded(make_engine: Any) -> tuple[Any, Any, dict[str, Any]]:
    eng = make_engine(node_id="node-a")
    p = provision(eng)
    p.ingest("fact", "the user lives in Lisbon", topic="home")
    p.ingest("preference", "likes green tea in the morning")
    p.kv_set("s", "k", 1)
    before = state(p)
    eng.hibernate("acme", "alice")
    assert eng.open_profile_count() == 0
    return eng, p, before


def test_a_read_after_hibernation_is_served_from_memory(make_engine):
    eng, p, before = _seeded(make_engine)
    eng.clock.advance(eng.lease_ttl + 1)  # the lease the writes took has lapsed
    hits = p.recall("where does the user live", k=3, mode="keyword").results
    assert hits[0].memory.content == "the user lives in Lisbon"
    ob = eng._open[p.key]
    assert ob.in_memory
    assert not ob.lease.valid()  # a read takes no lease
    assert _db_files(eng) == []  # no database file, no WAL, no shm
    assert ob.profile.loaded_indexes is None  # keyword recall loads no vector index
    assert state(p) == before  # every read of the copy gives what was committed


def test_vector_recall_on_an_in_memory_copy_loads_the_index(make_engine):
    eng, p, _ = _seeded(make_engine)
    eng.clock.advance(eng.lease_ttl + 1)
    hits = p.recall("which city is the user's home", k=1, mode="vector").results
    assert hits[0].memory.content == "the user lives in Lisbon"
    assert eng._open[p.key].profile.loaded_indexes is not None


def test_the_first_write_takes_the_lease_and_wakes_to_a_file(make_engine):
    eng, p, before = _seeded(make_engine)
    eng.clock.advance(eng.lease_ttl + 1)
    p.list_memories()
    reader = eng._open[p.key]
    assert reader.in_memory and not reader.lease.valid()
    written = p.kv_set("s", "k2", 2)
    assert written.txid == before["txid"] + 1
    writer = eng._open[p.key]
    assert writer is not reader and reader.closed
    assert not writer.in_memory and writer.lease.valid()
    files = [f.name for f in _db_files(eng)]
    assert any(name.endswith(".db") for name in files)
    # Nothing lost: what was there, and the write, on this node and on a fresh one.
    after = state(p)
    assert after["memories"] == before["memories"]
    assert after["kv"] == [*before["kv"], ("k2", 2)]
    eng.hibernate("acme", "alice")
    other = make_engine(node_id="node-b")
    assert state(other.profile("acme", "alice")) == after


def test_a_write_while_another_node_writes_is_refused_and_changes_nothing(make_engine):
    a = make_engine(node_id="node-a", address="http://node-a")
    b = make_engine(node_id="node-b", address="http://node-b")
    pa = provision(a)
    pa.kv_set("s", "k", 1)  # a holds the lease
    pb = b.profile("acme", "alice")
    assert pb.kv_get("s", "k").value == 1
    assert b._open[pb.key].in_memory
    with pytest.raises(HeldElsewhere):
        pb.kv_set("s", "k", 2)
    assert pa.kv_get("s", "k").value == 1
    assert pa.txid == 1
    assert pb.kv_get("s", "k").value == 1  # b still serves its copy


def test_a_profile_this_node_writes_wakes_to_a_file(make_engine):
    eng = make_engine()
    p = provision(eng)
    p.kv_set("s", "k", 1)
    eng.hibernate("acme", "alice")
    # Hibernation released the lease; a write wakes it (in memory first, then to a file).
    p.kv_set("s", "k", 2)
    ob = eng._open[p.key]
    assert not ob.in_memory and ob.lease.valid()
    # While the lease is held, a wake goes straight to a file.
    eng._discard(ob)  # drop the copy, keep the lease
    assert eng._leases[p.key].valid()
    assert p.kv_get("s", "k").value == 2
    assert not eng._open[p.key].in_memory


def test_an_in_memory_copy_follows_the_writer(make_engine):
    a, b = make_engine(node_id="node-a"), make_engine(node_id="node-b")
    pa = provision(a)
    pa.ingest("fact", "likes tea")
    pb = b.profile("acme", "alice")
    assert len(pb.list_memories().memories) == 1
    assert b._open[pb.key].in_memory
    pa.ingest("fact", "moved to Berlin", topic="home")
    b.clock.advance(b.staleness_s)
    assert [m.content for m in pb.list_memories().memories] == ["likes tea", "moved to Berlin"]
    assert b.events.follows["segments"] == 1
    assert b._open[pb.key].in_memory
