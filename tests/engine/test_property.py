"""Property tests: random operation sequences against the invariants of DESIGN §3.

- restore(T) gives exactly the state committed at T, for every T in history (checked by
  forking a branch at T — a metadata-only fork restores T — and reading it on a fresh node);
- a branch never sees its parent's later writes, and the parent never sees the branch's;
- rewind is all-or-nothing: a rewind that fails at its commit point changes nothing;
- a rewind rolls the local copy back from its WAL or from the store (once the WAL was folded
  into the database file, as ``fold`` does), with the same result.
"""

from __future__ import annotations

import itertools
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.engine.conftest import provision

import memoturn
from memoturn.storage import replica
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.objectstore import StoreError
from memoturn.storage.wrappers import FaultyStore

TOPICS = [None, "diet", "home"]
WORDS = ["tea", "coffee", "Paris", "Berlin", "vegan", "cats"]

op = st.one_of(
    st.tuples(st.just("ingest"), st.sampled_from(TOPICS), st.sampled_from(WORDS)),
    st.tuples(st.just("kv"), st.sampled_from(["a", "b"]), st.integers(0, 3)),
    st.tuples(st.just("kv_del"), st.sampled_from(["a", "b"])),
    st.tuples(st.just("fold"), st.sampled_from(["a", "b"]), st.integers(0, 3)),
    st.tuples(st.just("turn"), st.sampled_from(WORDS)),
    st.tuples(st.just("forget"), st.integers(0, 5)),
    st.tuples(st.just("rewind"), st.integers(0, 30)),
    st.tuples(st.just("bad_rewind"), st.integers(0, 30)),
)


def snapshot(p) -> tuple:
    return (
        tuple(
            (m.id, m.content, m.topic, m.valid_to)
            for m in p.list_memories(include_history=True).memories
        ),
        tuple((i.key, i.value) for i in p.kv_list("s").items),
        tuple(t.content for t in p.read_turns("chat").turns) if _has_chat(p) else (),
    )


def _has_chat(p) -> bool:
    try:
        p.read_turns("chat")
    except memoturn.NotFound:
        return False
    return True


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=14))
def test_restore_at_every_txid_and_atomic_rewind(tmp_path_factory, embedder, ops) -> None:
    root = tmp_path_factory.mktemp("prop")
    store = FaultyStore(LocalDirStore(root / "store"))
    eng = memoturn.open(root / "a", object_store=store, embedder=embedder)
    try:
        p = provision(eng)
        states = {0: snapshot(p)}
        for step in ops:
            kind = step[0]
            if kind == "ingest":
                p.ingest("fact", f"likes {step[2]}", topic=step[1])
            elif kind == "kv":
                p.kv_set("s", step[1], step[2])
            elif kind == "kv_del":
                p.kv_delete("s", step[1])
            elif kind == "fold":  # a write after which the WAL is folded into the db file
                with mock.patch.object(replica, "WAL_CHECKPOINT_BYTES", -1):
                    p.kv_set("s", step[1], step[2])
            elif kind == "turn":
                p.append_turn("chat", "user", step[1])
            elif kind == "forget":
                mems = p.list_memories().memories
                if mems:
                    p.forget(mems[step[1] % len(mems)].id)
            elif kind == "rewind":
                target = step[1] % (p.txid + 1)
                r = eng.rewind("acme", "alice", txid=target)
                assert snapshot(p) == states[target]
                assert r.txid == p.txid
            else:  # a rewind whose commit point fails changes nothing
                before, txid = snapshot(p), p.txid
                store.fail_next("cas_manifest", exc=StoreError("injected"))
                with pytest.raises(memoturn.Unavailable):
                    eng.rewind("acme", "alice", txid=step[1] % (p.txid + 1))
                assert (snapshot(p), p.txid) == (before, txid)
                continue
            states[p.txid] = snapshot(p)
        head = p.txid
        # Restore every T through a fork on a fresh node; writes to forks stay there.
        other = memoturn.open(root / "b", object_store=store, embedder=embedder)
        try:
            for n, t in zip(itertools.count(), sorted(states)):
                eng.create_branch("acme", "alice", f"at-{n}", from_txid=t)
                fork = other.profile("acme", "alice", f"at-{n}")
                assert fork.txid == t
                assert snapshot(fork) == states[t], f"restore at txid {t}"
                fork.kv_set("s", "fork-only", n)
            assert p.txid == head and snapshot(p) == states[head]
            assert snapshot(other.profile("acme", "alice")) == states[head]
        finally:
            other.close()
    finally:
        eng.close()


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(st.tuples(op, st.booleans()), min_size=1, max_size=14),
    snapshot_every=st.sampled_from([2, 3, 256]),
)
def test_a_reader_following_the_writer_equals_a_fresh_restore(
    tmp_path_factory, embedder, steps, snapshot_every
) -> None:
    """A node that is not the writer, reading after random writes and rewinds (looking
    at the store after some steps only, so it catches up over several segments at once),
    always holds exactly the database a fresh restore of its txid gives."""
    from memoturn.core.clock import ManualClock
    from memoturn.engine import engine as engine_module
    from memoturn.engine.follow import STALENESS_S
    from memoturn.storage import manifest as manifests
    from memoturn.storage.replica import build_image

    root = tmp_path_factory.mktemp("follow")
    store = LocalDirStore(root / "store")
    clock = ManualClock()
    opts = {"object_store": store, "embedder": embedder, "clock": clock}
    with mock.patch.object(engine_module, "SNAPSHOT_EVERY", snapshot_every):
        a = memoturn.open(root / "a", node_id="a", **opts)
        b = memoturn.open(root / "b", node_id="b", **opts)
        try:
            p = provision(a)
            states = {0: snapshot(p)}
            reader = b.profile("acme", "alice")

            def check() -> None:
                clock.advance(STALENESS_S)
                got = snapshot(reader)  # catches up first: the bound has passed
                ob = b._open[reader.key]
                assert ob.profile.txid == p.txid
                assert got == states[p.txid]
                assert b.events.follows["failed"] == 0  # no silent fallback to a wake
                conn = ob.profile.db.conn
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                fresh = ob.profile._load_indexes()  # the vectors follow too
                assert [_rows(i) for i in ob.profile.indexes()] == [_rows(i) for i in fresh]
                if p.txid > 0:
                    m, _ = manifests.load(store, *reader.key)
                    expected = build_image(store, m, p.txid)
                    if ob.in_memory:  # served from memory: its image, WAL mark aside
                        local = bytearray(ob.profile.db.conn.serialize("main"))
                        local[18:20] = expected[18:20]
                    else:
                        local = bytearray(ob.path.read_bytes())
                    assert local == expected

            for step, look in steps:
                kind = step[0]
                if kind == "ingest":
                    p.ingest("fact", f"likes {step[2]}", topic=step[1])
                elif kind in ("kv", "fold"):
                    p.kv_set("s", step[1], step[2])
                elif kind == "kv_del":
                    p.kv_delete("s", step[1])
                elif kind == "turn":
                    p.append_turn("chat", "user", step[1])
                elif kind == "forget":
                    mems = p.list_memories().memories
                    if mems:
                        p.forget(mems[step[1] % len(mems)].id)
                elif kind in ("rewind", "bad_rewind"):
                    a.rewind("acme", "alice", txid=step[1] % (p.txid + 1))
                states[p.txid] = snapshot(p)
                if look:
                    check()
            check()
        finally:
            b.close()
            a.close()


def _rows(index) -> dict:
    return {
        rid: (index._mat[i].tobytes(), index._valid_from[i], index._valid_to[i], index._expires[i])
        for rid, i in index._row.items()
    }
