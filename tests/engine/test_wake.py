"""Waking a hibernated profile: one wake per branch however many calls wait for it, and no
other profile waits for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

import memoturn
from memoturn.core.names import database_id
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.wrappers import StoreWrapper

T = TypeVar("T")


class HoldingStore(StoreWrapper):
    """A real store whose reads of one profile's manifest can be held at a barrier: the
    test decides when a wake of that profile may go on. (Instrumentation around a real
    store, not a fake: every call still reaches the store.)"""

    def __init__(self, inner: LocalDirStore) -> None:
        super().__init__(inner)
        self.hold_prefix: str | None = None
        self.hold_op = "get_manifest"
        self.held = threading.Event()  # a call is waiting at the barrier
        self.release = threading.Event()
        self.manifest_reads: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, key: str, *, op: str = "get") -> Any:
        if op == "get_manifest":
            with self._lock:
                self.manifest_reads[key] = self.manifest_reads.get(key, 0) + 1
        found = super().get(key, op=op)
        if op == self.hold_op and self.hold_prefix and key.startswith(self.hold_prefix):
            self.held.set()  # read, and held before the caller sees it
            assert self.release.wait(30), "the test never released the held wake"
        return found


def _in_thread(fn: Callable[[], T]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # handed to the test thread
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


@pytest.fixture
def node(tmp_path: Path, embedder: Any, clock: Any) -> Any:
    store = HoldingStore(LocalDirStore(tmp_path / "store"))
    with memoturn.open(tmp_path / "node", object_store=store, embedder=embedder, clock=clock) as e:
        e.create_namespace("acme")
        for name in ("slow", "busy"):
            e.create_profile("acme", name)
            e.profile("acme", name).kv_set("s", "k", name)
        yield e, store


def test_a_slow_wake_does_not_hold_up_other_profiles(node) -> None:
    eng, store = node
    busy = eng.profile("acme", "busy")
    assert busy.kv_get("s", "k").value == "busy"  # open on this node
    assert eng.hibernate("acme", "slow")
    store.hold_prefix = "manifests/acme/slow/"
    try:
        waking, out = _in_thread(lambda: eng.profile("acme", "slow").kv_get("s", "k"))
        assert store.held.wait(30)  # the wake of "slow" is in flight, stuck in the store
        # Calls on another profile go on meanwhile: reads, writes, and its own wake.
        assert busy.kv_get("s", "k").value == "busy"
        busy.kv_set("s", "k2", "more")
        assert eng.hibernate("acme", "busy")
        assert busy.kv_get("s", "k2").value == "more"
        assert waking.is_alive()
    finally:
        store.release.set()
    waking.join(30)
    assert "error" not in out and out["value"].value == "slow"


def test_concurrent_calls_share_one_wake(node) -> None:
    eng, store = node
    assert eng.hibernate("acme", "slow")
    key = next(k for k in store.manifest_reads if k.startswith("manifests/acme/slow/"))
    store.hold_prefix = "manifests/acme/slow/"
    before = store.manifest_reads[key]
    try:
        callers = [
            _in_thread(lambda: eng.profile("acme", "slow").kv_get("s", "k")) for _ in range(6)
        ]
        assert store.held.wait(30)
    finally:
        store.release.set()
    for t, out in callers:
        t.join(30)
        assert "error" not in out and out["value"].value == "slow"
    assert store.manifest_reads[key] == before + 1  # one wake served all six
    assert eng.open_profile_count() == 2
    assert database_id("acme", "slow") in {k[0] for k in eng._open}


def test_a_failed_wake_is_retried_by_the_next_call(node) -> None:
    eng, store = node
    assert eng.hibernate("acme", "slow")
    inner = store.inner
    # Hide the manifest: the wake fails with NotFound, and nothing half-open is left.
    key = next(k for k in store.manifest_reads if k.startswith("manifests/acme/slow/"))
    saved = inner.get(key, op="get")
    inner.delete(key, op="delete")
    with pytest.raises(memoturn.NotFound):
        eng.profile("acme", "slow").kv_get("s", "k")
    assert database_id("acme", "slow") not in {k[0] for k in eng._open}
    inner.put(key, saved.data, op="put")
    assert eng.profile("acme", "slow").kv_get("s", "k").value == "slow"


def test_a_profile_deleted_during_its_wake_is_not_served_from_the_old_data(node) -> None:
    """The wake read the old profile's data; the profile is deleted and created anew before
    the wake ends. The old copy must not be kept: reads see the new profile."""
    eng, store = node
    assert eng.hibernate("acme", "slow")
    store.hold_op, store.hold_prefix = "get_segment", f"data/{database_id('acme', 'slow')}/"
    try:
        waking, _out = _in_thread(lambda: eng.profile("acme", "slow").kv_get("s", "k"))
        assert store.held.wait(30)  # the old data is read; the wake is not done
        eng.delete_profile("acme", "slow")
        eng.create_profile("acme", "slow")
    finally:
        store.hold_prefix = None
        store.release.set()
    waking.join(30)
    assert not waking.is_alive()
    with pytest.raises(memoturn.NotFound):  # the new profile has no such key
        eng.profile("acme", "slow").kv_get("s", "k")
    eng.profile("acme", "slow").kv_set("s", "k", "new profile")
    assert eng.profile("acme", "slow").kv_get("s", "k").value == "new profile"
