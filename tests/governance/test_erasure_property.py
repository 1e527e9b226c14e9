"""Property test of erasure: random operation sequences with erasures (some blocked by a
checkpoint, all forced), then phase 2. For every state still restorable afterwards — each
txid from the branch's new oldest state to its head, and each checkpoint (rewritten
without the content) — restore(T) equals the state committed at T minus the erased items,
and no byte of an erased item is left in the store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memoturn
from memoturn.core.clock import ManualClock

pytestmark = pytest.mark.slow

TOPICS = [None, "diet", "home"]

op = st.one_of(
    st.tuples(st.just("ingest"), st.integers(0, 9), st.sampled_from(TOPICS)),
    st.tuples(st.just("kv"), st.sampled_from(["a", "b"]), st.integers(0, 9)),
    st.tuples(st.just("checkpoint"), st.none(), st.none()),
    st.tuples(st.just("erase"), st.integers(0, 50), st.none()),
    st.tuples(st.just("erase_kv"), st.sampled_from(["a", "b"]), st.none()),
)


def _state(p) -> frozenset:
    memories = {(m.id, m.content, m.topic) for m in p.list_memories(include_history=True).memories}
    kv = {(i.key, str(i.value)) for i in p.kv_list("s").items}
    return frozenset(memories | kv)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=10))
def test_restore_after_erasure_is_the_state_then_minus_the_erased(embedder, ops) -> None:
    clock = ManualClock()
    with (
        tempfile.TemporaryDirectory() as tmp,
        memoturn.open(tmp, embedder=embedder, clock=clock) as eng,
    ):
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        eng.set_policy("acme", {"erasure_grace_s": 60})
        p = eng.profile("acme", "alice")
        states: dict[int, frozenset] = {0: frozenset()}
        pins: dict[str, int] = {}
        erased_texts: set[str] = set()
        serial = 0
        for kind, a, b in ops:
            serial += 1
            if kind == "ingest":
                p.ingest("fact", f"memory-{serial}-word{a}", topic=b)
            elif kind == "kv":
                p.kv_set("s", a, f"value-{serial}-{b}")
            elif kind == "checkpoint":
                name = f"c{len(pins)}"
                pins[name] = eng.create_checkpoint("acme", "alice", name).txid
                continue
            elif kind == "erase":
                current = p.list_memories(include_history=True).memories
                if not current:
                    continue
                target = current[a % len(current)]
                chain = [m for m in current if m.id == target.id or
                         (target.topic is not None and m.topic == target.topic)]  # fmt: skip
                erased_texts.update(m.content for m in chain)
                p.erase(memory_ids=[target.id], force=True)
            else:
                found = [i for i in p.kv_list("s").items if i.key == a]
                if not found:
                    continue
                # erasing a key takes every value it ever had (its history goes too), so
                # a checkpoint from before an overwrite loses the key as well
                erased_texts.update(x[1] for st in states.values() for x in st if x[0] == a)
                erased_texts.add(str(found[0].value))
                p.erase(kv=[{"space": "s", "key": a}], force=True)
            states[p.txid] = _state(p)
        clock.advance(61)
        eng.sweep_erasures()
        eng.sweep_erasures()  # an erasure another one's force unblocked completes now
        erasures = p.list_erasures().erasures
        assert all(e.state == "complete" for e in erasures), erasures
        erased = {i["id"] for e in erasures for i in e.receipt["items"]}

        def expected(txid: int) -> frozenset:
            return frozenset(x for x in states[txid] if x[0] not in erased and
                             x[1] not in erased_texts)  # fmt: skip

        m = eng.store.get("manifests/acme/alice/main.json").data
        oldest = memoturn.storage.manifest.Manifest.decode(m).oldest
        checked = 0
        for txid in sorted(t for t in states if t >= oldest):
            b = eng.create_branch("acme", "alice", f"at{txid}", from_txid=txid)
            assert _state(eng.profile("acme", "alice", b.name)) == expected(txid), txid
            checked += 1
        for name, txid in pins.items():
            if txid in states:
                b = eng.create_branch("acme", "alice", f"pin-{name}", from_checkpoint=name)
                assert _state(eng.profile("acme", "alice", b.name)) == expected(txid), name
        assert checked >= 1
        for text in erased_texts:
            raw = text.encode()
            for folder, _, files in os.walk(Path(tmp)):
                for f in files:
                    assert raw not in Path(folder, f).read_bytes(), (text, f)
