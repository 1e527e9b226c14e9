"""RetryingStore, FaultyStore and MeteredStore, alone and stacked."""

from __future__ import annotations

import itertools

import pytest
from test_objectstore_conformance import ObjectStoreConformance

from memoturn.storage.memory import MemoryStore
from memoturn.storage.objectstore import (
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoreError,
)
from memoturn.storage.wrappers import FaultyStore, MeteredStore, RetryingStore


@pytest.fixture
def store_kind() -> str:
    return "wrapped-memory"


@pytest.fixture
def store() -> ObjectStore:
    return MeteredStore(RetryingStore(FaultyStore(MemoryStore()), sleep=lambda _: None))


class TestWrappedConformance(ObjectStoreConformance):
    """A full wrapper stack with no faults armed behaves like the store it wraps."""


def stack() -> tuple[RetryingStore, FaultyStore, MeteredStore, list[float]]:
    """Retrying -> Faulty -> Metered -> Memory, and the list of sleeps the retrier took."""
    sleeps: list[float] = []
    metered = MeteredStore(MemoryStore())
    faulty = FaultyStore(metered)
    return RetryingStore(faulty, attempts=3, sleep=sleeps.append), faulty, metered, sleeps


def test_retry_succeeds_after_transient_failures() -> None:
    retrying, faulty, metered, sleeps = stack()
    retrying.put("k", b"v")
    faulty.fail_next("get", count=2)
    assert retrying.get("k").data == b"v"
    assert sleeps == [0.05, 0.1]
    assert metered.stats()["get"]["calls"] == 1  # the two faults never reached the store
    assert faulty.fired == {"get": 2} and faulty.pending() == 0


def test_retry_gives_up_after_the_last_attempt() -> None:
    retrying, faulty, _, sleeps = stack()
    faulty.fail_next("head", count=5)
    with pytest.raises(StoreError):
        retrying.head("k")
    assert len(sleeps) == 2 and faulty.pending("head") == 2


def test_retry_waits_at_least_retry_after() -> None:
    retrying, faulty, _, sleeps = stack()
    faulty.fail_next("head", exc=StoreError("slow down", retry_after=1.5))
    assert retrying.head("k") is None
    assert sleeps == [1.5]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.put("k", b"again", if_absent=True), PreconditionFailed),
        (lambda s: s.put("k", b"again", if_match="stale"), PreconditionFailed),
        (lambda s: s.get("missing"), ObjectNotFound),
        (lambda s: s.get("/bad"), InvalidKey),
    ],
)
def test_retry_never_repeats_permanent_failures(call, error) -> None:
    retrying, _, metered, sleeps = stack()
    retrying.put("k", b"v")
    metered.reset()
    with pytest.raises(error):
        call(retrying)
    assert sleeps == []
    assert sum(s["calls"] for s in metered.stats().values()) == 1


def test_fault_before_the_call_leaves_the_store_untouched() -> None:
    inner = MemoryStore()
    faulty = FaultyStore(inner)
    faulty.fail_next("put_segment")
    with pytest.raises(StoreError, match="put_segment"):
        faulty.put("seg/1", b"pages", if_absent=True, op="put_segment")
    assert inner.head("seg/1") is None
    faulty.put("seg/1", b"pages", if_absent=True, op="put_segment")  # the fault is spent
    assert inner.get("seg/1").data == b"pages"


def test_fault_picks_calls_by_op_not_by_method() -> None:
    faulty = FaultyStore(MemoryStore())
    faulty.fail_next("cas_manifest", exc=TimeoutError)
    faulty.put("seg/1", b"x", op="put_segment")  # another op of the same method passes
    with pytest.raises(TimeoutError):
        faulty.put("manifest", b"m", op="cas_manifest")
    assert faulty.fired == {"cas_manifest": 1}


def test_fault_after_the_call_lands_the_write_but_loses_the_answer() -> None:
    inner = MemoryStore()
    faulty = FaultyStore(inner)
    faulty.fail_next("cas_manifest", after=True)
    with pytest.raises(StoreError, match="after the call landed"):
        faulty.put("manifest", b"v1", if_absent=True, op="cas_manifest")
    assert inner.get("manifest").data == b"v1"


def test_a_lost_answer_is_resolved_by_the_write_id() -> None:
    """The pattern the engine uses: a retried create reports PreconditionFailed, and the
    write-id in the metadata tells whether the object there is our own write."""
    inner = MemoryStore()
    faulty = FaultyStore(inner)
    store = RetryingStore(faulty, sleep=lambda _: None)
    faulty.fail_next("cas_manifest", after=True)
    with pytest.raises(PreconditionFailed):
        store.put(
            "manifest", b"v1", if_absent=True, metadata={"write-id": "w-1"}, op="cas_manifest"
        )
    assert store.get("manifest").metadata["write-id"] == "w-1"  # ours: the write landed


def test_faults_queue_in_order_with_instances_and_classes() -> None:
    faulty = FaultyStore(MemoryStore())
    faulty.fail_next("get", exc=KeyError("first"))
    faulty.fail_next("get", count=2, exc=ValueError)
    assert faulty.pending() == 3
    with pytest.raises(KeyError):
        faulty.get("k")
    for _ in range(2):
        with pytest.raises(ValueError):
            faulty.get("k")
    with pytest.raises(ObjectNotFound):
        faulty.get("k")
    faulty.fail_next("list")
    faulty.clear()
    assert list(faulty.list()) == []


def test_fault_on_list_fires_at_the_call() -> None:
    faulty = FaultyStore(MemoryStore())
    faulty.fail_next("list_segments")
    with pytest.raises(StoreError):
        faulty.list("seg/", op="list_segments")


def test_metrics_count_calls_bytes_errors_and_latency() -> None:
    ticks = itertools.count(0.0, 0.5)  # each clock read is 0.5 s after the last
    metered = MeteredStore(MemoryStore(), clock=lambda: next(ticks))
    metered.put("seg/1", b"12345", op="put_segment")
    metered.put("seg/2", b"123", op="put_segment")
    assert metered.get("seg/1").data == b"12345"
    assert metered.get_range("seg/2", 1, 5) == b"23"
    with pytest.raises(PreconditionFailed):
        metered.put("seg/1", b"x", if_absent=True, op="put_segment")
    with pytest.raises(ObjectNotFound):
        metered.get("nope")
    assert len(list(metered.list("seg/"))) == 2
    stats = metered.stats()
    assert stats["put_segment"] == {
        "calls": 3,
        "errors": 1,
        "bytes_read": 0,
        "bytes_written": 8,
        "seconds_total": 1.5,
        "seconds_max": 0.5,
        "errors_by_kind": {"PreconditionFailed": 1},
    }
    assert stats["get"]["calls"] == 2 and stats["get"]["bytes_read"] == 5
    assert stats["get"]["errors_by_kind"] == {"ObjectNotFound": 1}
    assert stats["get_range"]["bytes_read"] == 2
    assert stats["list"]["calls"] == 1
    metered.reset()
    assert metered.stats() == {}


def test_delete_many_and_ops_pass_through_the_stack() -> None:
    retrying, faulty, metered, _ = stack()
    for i in range(3):
        retrying.put(f"g/{i}", b"x", op="put_segment")
    faulty.fail_next("gc_delete")
    retrying.delete_many(["g/0", "g/1"], op="gc_delete")
    assert [i.key for i in retrying.list("g/")] == ["g/2"]
    assert metered.stats()["gc_delete"]["calls"] == 1
    assert repr(retrying).startswith("RetryingStore(FaultyStore(MeteredStore(MemoryStore(")
