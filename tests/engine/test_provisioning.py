"""Provisioning is a metadata write: one entry in the namespace's profile log, shared by
the calls that arrive meanwhile (group commit), a batch of thousands in one entry, and the
profile's manifest made on first use. Several nodes on one store see one log."""

from __future__ import annotations

import threading

import pytest

from memoturn.core.errors import InvalidInput, NotFound
from memoturn.engine import provisioning
from memoturn.storage import keys
from memoturn.storage import manifest as manifests
from memoturn.storage.manifest import Manifest


def _appends(engine) -> int:
    return engine.metered.stats().get("append_profile_log", {}).get("calls", 0)


def test_a_batch_is_one_write_and_every_node_sees_it(make_engine) -> None:
    a, b = make_engine(), make_engine()
    a.create_namespace("acme")
    names = [f"user-{i:05d}" for i in range(3000)]
    a.metered.reset()
    made = a.create_profiles("acme", names)
    assert made.created == names and made.existing == []
    writes = {
        op: s["calls"]
        for op, s in a.metered.stats().items()
        if op.startswith(("put", "app", "cre", "cas"))
    }
    assert writes == {"append_profile_log": 1}
    assert b.list_profiles("acme", limit=2).profiles == ["user-00000", "user-00001"]
    assert b.list_profiles("acme", limit=1, cursor="user-02998").profiles == ["user-02999"]
    again = b.create_profiles("acme", ["user-00007", "new-one"])
    assert again.created == ["new-one"] and again.existing == ["user-00007"]
    assert a.create_profile("acme", "new-one") is False


def test_a_profile_s_manifest_is_made_on_first_use(make_engine, shared_store) -> None:
    a = make_engine()
    a.create_namespace("acme")
    assert a.create_profile("acme", "alice") is True
    assert shared_store.head(keys.manifest("acme--alice", "main")) is None
    assert a.profile("acme", "alice").ingest("fact", "Alice likes tea").txid == 1
    m, _ = manifests.load(shared_store, "acme--alice", "main")
    assert m.head == 1


def test_bad_or_repeated_names_refuse_the_whole_batch(make_engine) -> None:
    a = make_engine()
    a.create_namespace("acme")
    for names, message in [
        (["ok", "Not-Ok"], "names\\[1\\]"),
        (["ok", "a--b"], "names\\[1\\]"),
        (["ok", 7], "names\\[1\\]"),
        (["ok", "ok"], "named twice"),
        ([], "1 to 10000"),
        ([f"p{i}" for i in range(10_001)], "1 to 10000"),
        ("alice", "list"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            a.create_profiles("acme", names)  # type: ignore[arg-type]
    assert a.list_profiles("acme").profiles == []
    with pytest.raises(NotFound):
        a.create_profiles("nope", ["alice"])


def test_concurrent_provisions_share_log_entries(make_engine) -> None:
    a = make_engine()
    a.create_namespace("acme")
    space = a.catalog.profiles._ns("acme")
    results: dict[str, bool] = {}
    with space.commit_lock:  # an entry "in flight": the calls below queue behind it
        threads = [
            threading.Thread(
                target=lambda n=f"p{i}": results.__setitem__(n, a.create_profile("acme", n))
            )
            for i in range(20)
        ]
        for t in threads:
            t.start()
        while True:
            with space.queue_lock:
                if len(space.queue) == 20:
                    break
            threading.Event().wait(0.001)
    for t in threads:
        t.join()
    assert results == {f"p{i}": True for i in range(20)}
    assert _appends(a) == 1  # twenty provisions, one entry
    assert len(a.list_profiles("acme").profiles) == 20


def test_two_nodes_racing_for_one_seq_both_land(make_engine) -> None:
    a, b = make_engine(), make_engine()
    a.create_namespace("acme")
    assert a.create_profile("acme", "first") is True
    b.list_profiles("acme")  # B has read the log up to seq 1
    assert a.create_profile("acme", "from-a") is True  # seq 2
    assert b.create_profile("acme", "from-b") is True  # B loses seq 2, writes seq 3
    assert b.create_profile("acme", "from-a") is False
    assert a.list_profiles("acme").profiles == ["first", "from-a", "from-b"]


def test_a_stale_node_learns_of_a_profile_from_its_lost_race(make_engine) -> None:
    # B does not read before it writes: its create-if-absent PUT of the next entry fails
    # while A's entry is there, and only then does it read and plan again.
    a, b = make_engine(), make_engine()
    a.create_namespace("acme")
    b.list_profiles("acme")  # B has read the (empty) log
    for name in ("x", "y", "z"):
        assert a.create_profile("acme", name) is True  # seq 1..3, unseen by B
    assert b.create_profile("acme", "y") is False
    assert b.create_profiles("acme", ["z", "w"]).created == ["w"]
    assert a.list_profiles("acme").profiles == ["w", "x", "y", "z"]


def test_delete_and_create_again(make_engine) -> None:
    a, b = make_engine(), make_engine()
    a.create_namespace("acme")
    a.create_profiles("acme", ["alice", "bob"])
    a.profile("acme", "alice").ingest("fact", "old memory")
    a.delete_profile("acme", "alice")
    assert b.list_profiles("acme").profiles == ["bob"]
    with pytest.raises(NotFound):
        a.profile("acme", "alice")
    assert b.create_profile("acme", "alice") is True
    assert a.profile("acme", "alice").list_memories().memories == []


def test_a_node_starting_up_reads_the_folded_state_and_the_entries_after(
    make_engine, monkeypatch
) -> None:
    monkeypatch.setattr(provisioning, "FOLD_EVERY", 4)
    a = make_engine()
    a.create_namespace("acme")
    for i in range(6):
        a.create_profile("acme", f"p{i}")
    b = make_engine()
    assert b.list_profiles("acme").profiles == [f"p{i}" for i in range(6)]
    reads = b.metered.stats()["get_profile_log"]["calls"]
    assert reads == 4  # state (seq 4), entries 5 and 6, and the miss at 7


def test_profiles_provisioned_as_manifests_before_the_log_are_adopted(
    make_engine, shared_store
) -> None:
    a = make_engine()
    a.create_namespace("acme")
    for name in ("old1", "old2"):
        manifests.create(shared_store, Manifest.new(f"acme--{name}", "main", 0.0))
    assert a.list_profiles("acme").profiles == ["old1", "old2"]
    assert a.create_profile("acme", "old1") is False
    assert a.create_profile("acme", "new") is True
