"""Crash tests: a node process is SIGKILLed mid-stream.

Invariant 1: an acknowledged write survives kill -9 of the node and the loss of its local
disk. Invariant 5: two nodes never both commit to one branch; a dead holder's lease is taken
over within 15 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import memoturn
from memoturn.storage.lease import HeldElsewhere

WRITER = r"""
import sys, memoturn
store, data, durability = sys.argv[1], sys.argv[2], sys.argv[3]
eng = memoturn.open(data, object_store=store, durability=durability, node_id="victim")
eng.create_namespace("acme"); eng.create_profile("acme", "alice")
p = eng.profile("acme", "alice")
print("ready", flush=True)
i = 0
while True:
    batch = [{"type": "fact", "content": f"item {i} part {k}"} for k in range(3)]
    r = p.ingest_many(batch).results
    print(f"ack {i} {r[0].txid}", flush=True)
    i += 1
"""


def _start(tmp_path: Path, durability: str = "object") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            f"file://{tmp_path / 'store'}",
            str(tmp_path / "victim"),
            durability,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def _read_acks(proc: subprocess.Popen[str], want: int) -> list[int]:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    acked = []
    while len(acked) < want:
        line = proc.stdout.readline()
        assert line.startswith("ack "), line
        acked.append(int(line.split()[1]))
    return acked


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill_and_disk_loss(tmp_path, embedder) -> None:
    proc = _start(tmp_path)
    try:
        acked = _read_acks(proc, 25)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The victim's local disk is gone too.
    import shutil

    shutil.rmtree(tmp_path / "victim")
    with memoturn.open(
        tmp_path / "fresh", object_store=f"file://{tmp_path / 'store'}", embedder=embedder
    ) as eng:
        contents = [
            m.content for m in eng.profile("acme", "alice").list_memories(limit=1000).memories
        ]
    items: dict[int, int] = {}
    for c in contents:
        items[int(c.split()[1])] = items.get(int(c.split()[1]), 0) + 1
    assert set(acked) <= set(items), "an acknowledged write was lost"
    assert all(n == 3 for n in items.values()), "a half-applied transaction"
    assert sorted(items) == list(range(len(items))), "history has a hole"


@pytest.mark.slow
def test_lease_failover_within_15s_after_sigkill(tmp_path, embedder) -> None:
    proc = _start(tmp_path)
    try:
        _read_acks(proc, 3)
        with memoturn.open(
            tmp_path / "b",
            object_store=f"file://{tmp_path / 'store'}",
            embedder=embedder,
            node_id="survivor",
        ) as b:
            pb = b.profile("acme", "alice")
            with pytest.raises(HeldElsewhere, match="victim"):
                pb.ingest("fact", "while the victim lives")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed = time.monotonic()
            while True:
                try:
                    pb.ingest("fact", "survivor took over")
                    break
                except HeldElsewhere as e:
                    assert time.monotonic() - killed < 15, "failover took longer than 15 s"
                    time.sleep(min(e.retry_after or 0.5, 0.5))
            took = time.monotonic() - killed
            assert took < 15
            assert pb.list_memories(limit=1000).memories[-1].content == "survivor took over"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
