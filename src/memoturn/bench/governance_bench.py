"""Governance costs: what the audit stream adds to ingest and recall over HTTP (audit off vs
on, on the local-dir store and on S3), how many events share one PUT under concurrency
(group commit), and how long ``audit verify`` takes for 100k events.

Off and on run in blocks of 25 calls, in turn, so load drifting on a shared machine hits
them alike."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import memoturn
from memoturn.bench.stats import Result, progress
from memoturn.core.clock import SystemClock
from memoturn.engine.audit import Actor, AuditLog, Call, verify
from memoturn.engine.governance import Policies
from memoturn.http import ThrowawayNode
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.objectstore import ObjectStore

BLOCK = 25
CLIENTS = 16


def run(*, quick: bool, s3: Callable[[str], Any] | None = None) -> list[Result]:
    calls = 50 if quick else 300
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        stores: dict[str, Callable[[], ObjectStore | None]] = {
            "local": lambda: LocalDirStore(Path(tmp) / "store"),
        }
        if s3 is not None:
            stores["S3 (moto)"] = lambda: s3("governance")
        for label, make in stores.items():
            progress(f"audit off vs on, {label}, {calls} calls each")
            results += _overhead(Path(tmp) / label.split()[0], make(), label, calls)
        progress("audit verify")
        results += _verify(Path(tmp) / "verify", 10_000 if quick else 100_000)
        for size in (10, 1_000 if quick else 10_000):
            progress(f"erasure phases, {size} memories")
            results += _erasure(Path(tmp) / f"erasure-{size}", size, 3 if quick else 5)
    return results


def _erasure(folder: Path, size: int, rounds: int) -> list[Result]:
    """Phase 1 (the request: hard delete, WAL truncate) and phase 2 (the history rewrite,
    the deletions and the signed receipt) of erasing one memory from a profile of ``size``
    memories, in process on the local-dir store."""
    from memoturn.core.clock import ManualClock

    clock = ManualClock()
    phase1, phase2 = [], []
    with memoturn.open(folder, clock=clock) as eng:
        eng.create_namespace("acme")
        eng.set_policy("acme", {"erasure_grace_s": 1})
        for r in range(rounds):
            name = f"p{r}"
            eng.create_profile("acme", name)
            p = eng.profile("acme", name)
            for start in range(0, size, 500):
                n = min(500, size - start)
                p.ingest_many([{"type": "fact", "content": f"note {start + i} of {name}"}
                               for i in range(n)])  # fmt: skip
            target = p.ingest("fact", "the memory to erase").memory.id
            t0 = time.perf_counter()
            eid = p.erase(memory_ids=[target]).erasure.id
            phase1.append(time.perf_counter() - t0)
            clock.advance(2)
            t0 = time.perf_counter()
            eng.sweep_erasures()
            phase2.append(time.perf_counter() - t0)
            assert p.get_erasure(eid).erasure.state == "complete"
    return [
        Result(f"erasure phase 1 (hard delete), {size} memories (local)", "s", phase1),
        Result(
            f"erasure phase 2 (history rewrite + receipt), {size} memories (local)",
            "s",
            phase2,
            note="one sweep of one due erasure",
        ),
    ]


def _overhead(data: Path, store: ObjectStore | None, label: str, calls: int) -> list[Result]:
    with ThrowawayNode(data, object_store=store) as node:
        eng = node.engine
        for ns in ("off", "on"):
            eng.create_namespace(ns)
            eng.create_profile(ns, "alice")
        eng.set_policy("on", {"audit": True})
        client = memoturn.Client(node.url, node.root_token)
        counter = iter(range(10**9))
        cases: dict[str, Callable[[], Any]] = {}
        for ns in ("off", "on"):
            p = client.profile(ns, "alice")
            p.ingest_many([{"type": "fact", "content": f"Alice note {i}"} for i in range(200)])
            cases[f"ingest SDK, audit {ns} ({label})"] = lambda p=p: p.ingest(
                "fact", f"Alice note {next(counter)}"
            )
            cases[f"recall SDK, audit {ns} ({label})"] = lambda p=p: p.recall(
                "what does Alice note?", k=10
            )
        times: dict[str, list[float]] = {k: [] for k in cases}
        for fn in cases.values():
            for _ in range(3):
                fn()
        for _ in range(max(1, calls // BLOCK)):
            for name, fn in cases.items():
                for _ in range(BLOCK):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
        results = [
            Result(name, "s", xs, floor=name.replace("audit on", "audit off") if " on " in name
                   else None)
            for name, xs in times.items()
        ]  # fmt: skip
        results.append(_concurrent(node, client, label))
        client.close()
    return results


def _concurrent(node: ThrowawayNode, client: memoturn.Client, label: str) -> Result:
    audit: AuditLog = node.app.state.audit
    samples: list[float] = []
    lock = threading.Lock()
    puts_before = audit.puts

    def work(i: int) -> None:
        p = memoturn.Client(node.url, node.root_token).profile("on", "alice")
        mine = []
        for j in range(10):
            t0 = time.perf_counter()
            p.recall(f"note {i} {j}", k=5)
            mine.append(time.perf_counter() - t0)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    puts = audit.puts - puts_before
    return Result(
        f"recall, {CLIENTS} SDK clients, audit on ({label})",
        "s",
        samples,
        note=f"group commit: {len(samples)} events in {puts} batch PUTs",
    )


def _verify(folder: Path, n: int, per_batch: int = 10) -> list[Result]:
    store = LocalDirStore(folder)
    clock = SystemClock()
    policies = Policies(store, clock)
    policies.set_namespace("acme", {"audit": True})
    key = Ed25519PrivateKey.generate()
    log = AuditLog(store, policies, clock, "bench-node", key)
    actor = Actor("profile", "acme--alice", "0123456789abcdef")
    answer = {"txid": 1, "memory": {"id": "01M8T4WH3DECAYQNKZ73VYCPV2"}}
    call = Call("acme", "ingest", 200, actor, "alice", "main", answer=answer)
    t0 = time.perf_counter()
    for _ in range(n // per_batch):
        for f in [log.submit(call) for _ in range(per_batch)]:
            assert f is not None
            f.result()
    written = time.perf_counter() - t0
    log.close()
    samples = []
    for _ in range(3):
        t0 = time.perf_counter()
        verdict = verify(store, "acme", key.public_key())
        samples.append(time.perf_counter() - t0)
        assert verdict.ok and verdict.events == n, verdict
    return [
        Result(
            f"audit verify, {n // 1000}k events in {verdict.batches} batches (local)",
            "s",
            samples,
            note=f"writing them took {written:.1f} s ({n / written:.0f} events/s, "
            f"{per_batch} per batch)",
        )
    ]
