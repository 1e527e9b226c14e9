"""Crash tests of erasure: a node process is SIGKILLed between the steps of phase 1 and of
phase 2 (it stops just before a named store call, then dies), and another node on the same
store resumes the erasure: it completes, no copy of the canary is left in the store, and
the profile keeps everything else (its state restores and passes the integrity check)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import memoturn
from memoturn.core.clock import ManualClock

pytestmark = pytest.mark.slow

CANARY = "zq-crash-canary-41d the pin code is 8812"

VICTIM = r"""
import sys, time, memoturn
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.wrappers import StoreWrapper

store_dir, data, stop_op, stop_n, phase = sys.argv[1:6]
stop_n = int(stop_n)

class StopBefore(StoreWrapper):
    armed = False
    seen = 0
    def _call(self, op, fn, *, size=0):
        if self.armed and op == stop_op:
            self.seen += 1
            if self.seen == stop_n:
                print("stopped", flush=True)
                time.sleep(3600)
        return fn()

store = StopBefore(LocalDirStore(store_dir))
eng = memoturn.open(data, object_store=store, node_id="victim")
eng.create_namespace("acme"); eng.create_profile("acme", "alice")
eng.set_policy("acme", {"erasure_grace_s": 1})
p = eng.profile("acme", "alice")
for i in range(5):
    p.ingest("fact", f"filler memory {i}")
m = p.ingest("fact", sys.argv[6]).memory
p.ingest("fact", "filler after")
if phase == "1":
    store.armed = True
    p.erase(memory_ids=[m.id])
else:
    p.erase(memory_ids=[m.id])
    time.sleep(1.2)
    store.armed = True
    eng.sweep_erasures()
print("finished", flush=True)
time.sleep(3600)
"""

POINTS = [
    ("1", "put_segment", 1),  # the delete committed locally, not shipped
    ("1", "put_erasure", 2),  # the delete shipped, the record not updated
    ("2", "put_snapshot", 1),  # before the snapshot at the cut
    ("2", "cas_manifest", 1),  # the snapshot written, the history not cut
    ("2", "erasure_delete", 1),  # the cut made, the old objects listed, not deleted
    ("2", "put_erasure", 3),  # the objects deleted, the erasure not marked complete
]


def _holding(root: Path) -> list[str]:
    raw = CANARY.encode()
    return [
        str(Path(d, f).relative_to(root))
        for d, _, files in os.walk(root)
        for f in files
        if raw in Path(d, f).read_bytes()
    ]


@pytest.mark.parametrize(("phase", "op", "n"), POINTS, ids=[f"{p}-{o}-{n}" for p, o, n in POINTS])
def test_a_node_killed_inside_an_erasure_is_resumed_by_another(
    tmp_path, embedder, phase, op, n
) -> None:
    store = tmp_path / "bucket"
    proc = subprocess.Popen(
        [sys.executable, "-c", VICTIM, str(store), str(tmp_path / "victim"), op, str(n), phase,
         CANARY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "stopped", (line, proc.stderr.read() if proc.poll() is not None else "")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # another node, later (past the grace window and the phase-1 resume delay; the dead
    # node's lease has lapsed by then)
    clock = ManualClock(time.time() + 600)
    with memoturn.open(
        tmp_path / "other", object_store=store.as_uri(), embedder=embedder, clock=clock
    ) as eng:
        for _ in range(3):
            eng.sweep_erasures()
        p = eng.profile("acme", "alice")
        (erasure,) = p.list_erasures().erasures
        assert erasure.state == "complete", erasure
        contents = sorted(m.content for m in p.list_memories(include_history=True).memories)
        assert contents == ["filler after"] + [f"filler memory {i}" for i in range(5)]
        eng.hibernate("acme", "alice")
        assert len(eng.profile("acme", "alice").list_memories().memories) == 6  # restored
    assert _holding(store) == []
    assert _holding(tmp_path / "other") == []


def test_a_real_node_keeps_no_copy_in_its_data_dir_or_its_log(tmp_path) -> None:
    from memoturn.testing import NodeProcess

    with NodeProcess(data_dir=tmp_path / "data", args=["--log-level", "debug"]) as node:
        with memoturn.Client(node.url, node.root_token) as client:
            client.create_namespace("acme")
            client.create_profile("acme", "alice")
            client.set_policy("acme", {"erasure_grace_s": 1})
            p = client.profile("acme", "alice")
            m = p.ingest("fact", CANARY).memory
            p.kv_set("notes", "k", CANARY)
            p.append_turn("chat", "user", CANARY)
            assert _holding(tmp_path / "data")
            e = p.erase(memory_ids=[m.id], session_id="chat", kv=[{"space": "notes", "key": "k"}])
            local = [f for f in _holding(tmp_path / "data") if not f.startswith("store/")]
            assert local == []
            time.sleep(1.1)  # the grace window (1 s), then the sweeper now
            client.gc()
            assert p.get_erasure(e.erasure.id).erasure.state == "complete"
        assert _holding(tmp_path / "data") == []
        assert CANARY.encode() not in node.log_path.read_bytes()
