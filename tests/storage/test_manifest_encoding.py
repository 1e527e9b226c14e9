"""The manifest's hand-written encoding holds every field (a field added to the dataclass
but not to ``encode`` fails here) and round-trips; ids are ULIDs."""

from __future__ import annotations

import dataclasses
import json
import time

from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from memoturn.core.ids import new_id
from memoturn.storage.manifest import FORMAT, Manifest, Pin, Ref, Run


def _full() -> Manifest:
    parent = Ref("main", "01ABC", 7)
    m = Manifest.new("acme--alice", "exp", 1.5, parent=parent, expires_at=99.0)
    m.runs.append(Run(12, Ref("exp", m.id, 9)))
    m.head, m.epoch, m.write_id = 14, 3, "w1"
    m.epochs = [(8, 1), (12, 3)]
    m.snapshots = [(10, 1)]
    m.checkpoints = {"before": Pin(9, 2.0), "auto": Pin(11, 3.0, automatic=True)}
    return m


def test_encode_writes_exactly_the_dataclass_fields() -> None:
    m = _full()
    expected = json.loads(json.dumps(dataclasses.asdict(m) | {"format": FORMAT}))
    assert json.loads(m.encode()) == expected


def _dumps(m: Manifest) -> bytes:
    doc = dataclasses.asdict(m) | {"format": FORMAT}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def test_encode_is_byte_for_byte_the_json_module_s() -> None:
    m = _full()
    assert m.encode() == _dumps(m)
    bare = Manifest.new("ns--p", "main", 0.0)  # no parent, no expiry, no checkpoints
    assert bare.encode() == _dumps(bare)
    odd = Manifest.new("ns--ünï", "b-1", 1e-7, expires_at=1e16)
    odd.checkpoints = {"z": Pin(3, 10**20), "a": Pin(1, 2.5, automatic=True), "é": Pin(2, 0)}
    odd.erased_before, odd.floor, odd.created_at = 4, 2, 17
    assert odd.encode() == _dumps(odd)
    assert odd.encode() == _dumps(odd)  # again, with each checkpoint's encoding kept


@given(
    created=st.floats(allow_nan=False, allow_infinity=False) | st.integers(0, 2**62),
    expires=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    names=st.lists(st.text(min_size=1, max_size=8), max_size=6, unique=True),
    txids=st.lists(st.integers(0, 2**62), min_size=6, max_size=6),
)
def test_encode_matches_the_json_module_for_any_values(created, expires, names, txids) -> None:
    m = Manifest.new("db", "br", created, parent=Ref("main", "01X", txids[0]), expires_at=expires)
    m.checkpoints = {
        n: Pin(t, created, automatic=bool(t % 2))
        for n, t in zip(names, txids[: len(names)], strict=True)
    }
    m.epochs = [(t, i) for i, t in enumerate(sorted(txids))]
    m.snapshots = [(txids[1], 0)]
    assert m.encode() == _dumps(m)


def test_encode_round_trips() -> None:
    m = _full()
    assert Manifest.decode(m.encode()) == m


def test_new_id_is_a_time_ordered_ulid() -> None:
    before = int(time.time() * 1000)
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    for i in ids:
        assert len(i) == 26 and str(ULID.from_str(i)) == i
        assert before - 1 <= ULID.from_str(i).milliseconds <= int(time.time() * 1000) + 1
    later = new_id()
    time.sleep(0.002)
    assert new_id() > later  # a later millisecond sorts after


def test_a_copy_is_equal_and_independent() -> None:
    m = _full()
    before = Manifest.decode(m.encode())
    c = m.copy()
    assert c == m
    c.runs.append(Run(20, None))
    c.epochs.append((20, 4))
    c.snapshots.append((20, 4))
    c.checkpoints["new"] = Pin(20, 5.0)
    c.with_segment(15, 3)
    assert m == before and c != m
