"""Group commit of concurrent single ingests to one profile (profile/grouping.py).

The store's segment PUT is held shut while ingests queue up behind the commit in flight, so
the groups that form are known; every test then checks what each ingest was answered and
what the store holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.engine.conftest import provision

import memoturn
from memoturn.core.errors import Conflict, InvalidInput, MemoturnError
from memoturn.profile.grouping import IngestGroups
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.objectstore import ObjectStore, StoreError
from memoturn.storage.wrappers import FaultyStore, StoreWrapper

T = Any


class HeldStore(StoreWrapper):
    """Counts segment PUTs; while ``hold`` is set, a segment PUT waits for ``release``."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.hold = False
        self.release = threading.Event()
        self.held = threading.Event()
        self.segments = 0

    def _call(self, op: str, fn: Callable[[], T], *, size: int = 0) -> T:
        if op == "put_segment":
            self.segments += 1
            if self.hold:
                self.held.set()
                assert self.release.wait(30), "the test never released the store"
        return fn()


def _groups(eng: memoturn.Engine, ns: str = "acme", name: str = "alice") -> IngestGroups:
    return eng._open[(f"{ns}--{name}", "main")].profile.ingest_groups


def _wait(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


class Calls:
    """Ingests run in threads; each one's answer or error kept by its name."""

    def __init__(self, p: Any, groups: IngestGroups) -> None:
        self.p = p
        self.groups = groups
        self.threads: list[threading.Thread] = []
        self.answers: dict[str, Any] = {}

    def start(self, name: str, content: str, **fields: Any) -> None:
        """Start an ingest and wait until it is queued (so arrival order is known)."""
        before = self.groups.pending

        def run() -> None:
            try:
                self.answers[name] = self.p.ingest("fact", content, **fields)
            except Exception as e:  # kept, and checked by the test
                self.answers[name] = e

        t = threading.Thread(target=run)
        t.start()
        self.threads.append(t)
        _wait(lambda: self.groups.pending > before or name in self.answers, f"{name} queued")

    def join(self) -> dict[str, Any]:
        for t in self.threads:
            t.join(30)
            assert not t.is_alive()
        return self.answers


@pytest.fixture
def held(tmp_path: Path) -> HeldStore:
    return HeldStore(LocalDirStore(tmp_path / "store"))


def _behind_a_held_commit(
    make_engine: Any, held: HeldStore, setup: Callable[[Any], Any] | None = None, **options: Any
) -> tuple[memoturn.Engine, Any, Calls]:
    """An engine whose profile has one ingest committing, stuck in its segment PUT
    (``options``: the engine's, the store ``held`` by default)."""
    options.setdefault("object_store", held)
    eng = make_engine(**options)
    p = provision(eng)
    p.ingest("fact", "warm up")
    if setup is not None:
        setup(p)
    held.hold = True
    calls = Calls(p, _groups(eng))
    calls.start("first", "the ingest in flight")
    assert held.held.wait(30)
    return eng, p, calls


def test_concurrent_ingests_are_all_acknowledged_in_few_commits(make_engine, held) -> None:
    eng, p, calls = _behind_a_held_commit(make_engine, held)
    segments_before = held.segments - 1  # the first one's is in flight
    for i in range(20):
        calls.start(f"n{i}", f"concurrent note {i}")
    # Same topic: each supersedes the one that arrived before it, never in one group.
    for v in range(3):
        calls.start(f"city{v}", f"Alice lives in city number {v}", topic="city")
    held.release.set()
    answers = calls.join()
    assert all(not isinstance(a, Exception) for a in answers.values()), answers
    # 24 ingests; the first alone, then a few groups (each city version in its own).
    commits = held.segments - segments_before
    assert commits <= 6, f"{commits} segments for 24 ingests: no grouping"
    assert calls.groups.largest >= 10
    txids = {a.txid for a in answers.values()}
    assert len(txids) == commits and max(txids) == p.txid
    # Everything is there, once, and the topic's versions supersede in arrival order.
    contents = [m.content for m in p.list_memories(limit=1000).memories]
    for i in range(20):
        assert contents.count(f"concurrent note {i}") == 1
    cities = [answers[f"city{v}"] for v in range(3)]
    assert cities[0].txid < cities[1].txid < cities[2].txid
    assert cities[0].superseded == []
    assert cities[1].superseded == [cities[0].memory.id]
    assert cities[2].superseded == [cities[1].memory.id]
    history = p.topic_history("city").versions
    assert [m.id for m in history] == [c.memory.id for c in cities]
    assert [m.superseded_by for m in history] == [cities[1].memory.id, cities[2].memory.id, None]
    # Read-your-writes: a read at any member's txid sees it.
    for name, a in answers.items():
        got = eng.profile("acme", "alice", min_txid=a.txid).get_memory(a.memory.id)
        assert got.memory.content == a.memory.content, name


def test_same_idempotency_key_or_content_never_share_a_group(make_engine, held) -> None:
    _, p, calls = _behind_a_held_commit(make_engine, held)
    calls.start("k1", "ordered pizza", idempotency_key="order-1")
    calls.start("k2", "ordered pizza", idempotency_key="order-1")
    calls.start("k3", "ordered sushi", idempotency_key="order-1")
    calls.start("d1", "Alice has a dog")
    calls.start("d2", "Alice has a dog")
    held.release.set()
    a = calls.join()
    assert a["k2"].memory.id == a["k1"].memory.id and a["k2"].txid == a["k1"].txid
    assert isinstance(a["k3"], Conflict)
    assert a["d1"].duplicate is False
    assert a["d2"].duplicate is True and a["d2"].memory.id == a["d1"].memory.id
    contents = [m.content for m in p.list_memories(limit=1000).memories]
    assert contents.count("ordered pizza") == 1 and "ordered sushi" not in contents
    assert contents.count("Alice has a dog") == 1


def test_one_refused_member_does_not_fail_the_others(make_engine, held) -> None:
    jobs = []

    def setup(p: Any) -> None:
        p.open_session("s-ended")
        p.end_session("s-ended")
        jobs.append(p.ingest("fact", "Alice works at the bakery", topic="job").memory)

    _, p, calls = _behind_a_held_commit(make_engine, held, setup)
    current = jobs[0]
    calls.start("a", "good note a")
    calls.start("ended", "a note in an ended session", session_id="s-ended")
    calls.start("b", "good note b")
    calls.start("early", "Alice worked at the mill", topic="job",
                valid_from=current.valid_from - 3600)  # fmt: skip
    calls.start("c", "good note c")
    held.release.set()
    a = calls.join()
    assert isinstance(a["ended"], Conflict) and "ended" in a["ended"].message
    assert isinstance(a["early"], InvalidInput) and "valid_from" in a["early"].message
    good = [a["a"], a["b"], a["c"]]
    assert all(not isinstance(r, Exception) for r in good), a
    # "a" forms the group that waits behind the one in flight; the rest queue behind it
    # and are one group, the two refused ones included.
    assert a["b"].txid == a["c"].txid, "b and c were not one group"
    contents = [m.content for m in p.list_memories(include_history=True, limit=1000).memories]
    assert {"good note a", "good note b", "good note c"} <= set(contents)
    assert "a note in an ended session" not in contents
    assert "Alice worked at the mill" not in contents
    assert p.topic_history("job").versions[-1].id == current.id


def test_an_unexpected_error_in_one_member_reruns_the_group_one_by_one(
    make_engine, held, monkeypatch
) -> None:
    eng, p, calls = _behind_a_held_commit(make_engine, held)
    profile = eng._open[("acme--alice", "main")].profile
    real = type(profile)._ingest_in

    def faulty(self: Any, tx: Any, req: Any, vector: Any, **kw: Any) -> Any:
        if "poison" in req.content:
            raise RuntimeError("a defect met by one ingest")
        return real(self, tx, req, vector, **kw)

    monkeypatch.setattr(type(profile), "_ingest_in", faulty)
    for name in ("a", "b"):
        calls.start(name, f"fine note {name}")
    calls.start("bad", "poison pill")
    calls.start("c", "fine note c")
    held.release.set()
    a = calls.join()
    assert isinstance(a["bad"], RuntimeError)
    assert all(not isinstance(a[n], Exception) for n in "abc"), a
    contents = [m.content for m in p.list_memories(limit=1000).memories]
    assert {"fine note a", "fine note b", "fine note c"} <= set(contents)
    assert "poison pill" not in contents


class PickyEmbedder:
    """The real embedder, refusing texts that contain "REFUSE" (as an embedding service
    refuses an input it cannot take)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.self_hosted, self.egress, self.max_tokens = True, inner.egress, inner.max_tokens

    def embed(self, texts: list[str]) -> np.ndarray:
        if any("REFUSE" in t for t in texts):
            raise InvalidInput("the embedder refused a text")
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def test_an_embedding_refused_for_the_group_fails_only_its_text(
    make_engine, held, embedder
) -> None:
    _, p, calls = _behind_a_held_commit(make_engine, held, embedder=PickyEmbedder(embedder))
    calls.start("a", "fine text a")
    calls.start("bad", "please REFUSE this")
    calls.start("b", "fine text b")
    held.release.set()
    a = calls.join()
    assert isinstance(a["bad"], InvalidInput)
    assert not isinstance(a["a"], Exception) and not isinstance(a["b"], Exception), a
    contents = [m.content for m in p.list_memories(limit=1000).memories]
    assert "fine text a" in contents and "fine text b" in contents


def test_a_group_whose_commit_fails_acknowledges_none(make_engine, tmp_path) -> None:
    held = HeldStore(LocalDirStore(tmp_path / "store"))
    faulty = FaultyStore(held)
    eng, _, calls = _behind_a_held_commit(make_engine, held, object_store=faulty)
    for i in range(5):
        calls.start(f"n{i}", f"doomed note {i}")
    faulty.fail_next("put_segment", count=10)  # the first one is past the fault already
    held.release.set()
    a = calls.join()
    failed = [n for n, r in a.items() if isinstance(r, Exception)]
    assert failed and all(isinstance(a[n], StoreError | MemoturnError) for n in failed)
    faulty.clear()
    acked = {a[n].memory.content for n in a if n not in failed}
    # What the store holds is exactly what was acknowledged (a fresh node reads it).
    with memoturn.open(tmp_path / "reader", object_store=LocalDirStore(tmp_path / "store"),
                       embedder=eng.embedder) as fresh:  # fmt: skip
        stored = {m.content for m in fresh.profile("acme", "alice").list_memories().memories}
    assert acked <= stored
    doomed = {f"doomed note {i}" for i in range(5)}
    assert not doomed & (stored - acked), "a write that was not acknowledged is in the store"


WRITER = r"""
import sys, threading, memoturn
data, store = sys.argv[1], sys.argv[2]
eng = memoturn.open(data, object_store=store, node_id="victim")
eng.create_namespace("acme"); eng.create_profile("acme", "alice")
p = eng.profile("acme", "alice")
p.ingest("fact", "warm up")
print("ready", flush=True)
out = threading.Lock()

def client(c):
    i = 0
    while True:
        topic = f"t{c}" if i % 4 == 0 else None
        r = p.ingest("fact", f"client {c} note {i}", topic=topic)
        with out:
            print(f"ack {r.txid} {r.memory.id} client {c} note {i}", flush=True)
        i += 1

for c in range(16):
    threading.Thread(target=client, args=(c,), daemon=True).start()
threading.Event().wait()
"""


@pytest.mark.slow
def test_sigkill_mid_burst_loses_no_acknowledged_ingest(tmp_path, embedder) -> None:
    store = f"file://{tmp_path / 'store'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "victim"), store],
        stdout=subprocess.PIPE,
        text=True,
    )
    acked: list[tuple[int, str, str]] = []
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        while len(acked) < 300:
            line = proc.stdout.readline()
            assert line.startswith("ack "), line
            _, txid, mid, content = line.rstrip("\n").split(" ", 3)
            acked.append((int(txid), mid, content))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len({t for t, _, _ in acked}) < len(acked), "no two acknowledged ingests shared a group"
    with memoturn.open(tmp_path / "fresh", object_store=store, embedder=embedder) as eng:
        p = eng.profile("acme", "alice")
        stored = {m.id: m for m in p.list_memories(include_history=True, limit=1000).memories}
        while len(stored) % 1000 == 0 and stored:
            page = p.list_memories(include_history=True, limit=1000, cursor=max(stored))
            if not page.memories:
                break
            stored.update({m.id: m for m in page.memories})
        for txid, mid, content in acked:
            assert mid in stored, f"acknowledged ingest lost: {content} (txid {txid})"
            assert stored[mid].content == content
        # Each client's topic has exactly one current version: the newest it wrote.
        for c in range(16):
            versions = p.topic_history(f"t{c}").versions
            if versions:
                assert [m.superseded_by for m in versions[:-1]] == [m.id for m in versions[1:]]
                assert versions[-1].valid_to is None
