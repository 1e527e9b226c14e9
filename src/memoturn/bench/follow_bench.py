"""Reads on a node that is not the writer: read-your-writes across two nodes on one store.

Two engines in this process over one local store: node A writes (it holds the lease), node
B serves reads from its own copy. Each sample is one memory ingested on A (not timed), then
the timed read of it with the write's ``min_txid``: on A (the floor: the writer's copy is
the head) and on B (B reads the manifest, fetches and applies the new segment, reopens its
copy, then reads; its vector indexes wait for a recall). The same for a hybrid recall.
Beside them: a read on B within the staleness bound (no store read at all) and B's
catch-up by a full wake (what it cost before).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import memoturn
from memoturn.bench import corpus
from memoturn.bench.stats import Result, progress, time_calls
from memoturn.engine.follow import STALENESS_S
from memoturn.storage.localdir import LocalDirStore


def run(*, quick: bool, sizes: list[int]) -> list[Result]:
    results: list[Result] = []
    n = 10 if quick else 50
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for size in sizes:
            results += _size(root / f"s{size}", size, n)
    return results


def _size(root: Path, size: int, n: int) -> list[Result]:
    progress(f"cross-node read-your-writes at {size} memories")
    store = LocalDirStore(root / "store")
    a = memoturn.open(root / "a", object_store=store, node_id="bench-a")
    b = memoturn.open(root / "b", object_store=store, node_id="bench-b", embedder=a.embedder)
    try:
        a.create_namespace("bench")
        a.create_profile("bench", "p")
        pa = a.profile("bench", "p")
        pool = corpus.memories(size, seed=5)
        for start in range(0, size, 500):
            pa.ingest_many(pool[start : start + 500])
        b.profile("bench", "p").list_memories(limit=1)  # b wakes its copy
        texts = (f"note {i}: the bench wrote this" for i in itertools.count())

        def write_then_read(node: Any, out: list[float]) -> None:
            w = pa.ingest("fact", next(texts))
            t0 = time.perf_counter()
            got = node.profile("bench", "p", min_txid=w.txid).get_memory(w.memory.id)
            out.append(time.perf_counter() - t0)
            assert got.memory.content.startswith("note")

        on_a: list[float] = []
        on_b: list[float] = []
        time_calls(lambda: write_then_read(a, on_a), n, warmup=2)
        time_calls(lambda: write_then_read(b, on_b), n, warmup=2)
        follows = dict(b.events.follows)

        def write_then_recall(node: Any, out: list[float]) -> None:
            w = pa.ingest("fact", next(texts))
            t0 = time.perf_counter()
            node.profile("bench", "p", min_txid=w.txid).recall("what did the bench write", k=5)
            out.append(time.perf_counter() - t0)

        recall_a: list[float] = []
        recall_b: list[float] = []
        time_calls(lambda: write_then_recall(a, recall_a), max(5, n // 2), warmup=1)
        time_calls(lambda: write_then_recall(b, recall_b), max(5, n // 2), warmup=1)
        pb = b.profile("bench", "p")
        memory_id = pb.list_memories(limit=1).memories[0].id
        within = time_calls(lambda: pb.get_memory(memory_id), n)

        wake: list[float] = []

        def write_then_wake() -> None:
            w = pa.ingest("fact", next(texts))
            b.hibernate("bench", "p")
            t0 = time.perf_counter()
            b.profile("bench", "p", min_txid=w.txid).get_memory(w.memory.id)
            wake.append(time.perf_counter() - t0)

        time_calls(write_then_wake, max(5, n // 5), warmup=1)
    finally:
        b.close()
        a.close()
    floor = f"read-your-writes on the writer @{size}"
    return [
        Result(floor, "s", on_a, note="get_memory(min_txid) on the node that wrote it"),
        Result(
            f"read-your-writes on another node @{size}",
            "s",
            on_b,
            floor=floor,
            note=f"manifest read + new segment applied + reopen + read; catch-ups {follows}",
        ),
        Result(f"recall on the writer @{size}", "s", recall_a, note="hybrid recall(min_txid)"),
        Result(
            f"recall on another node after a write @{size}",
            "s",
            recall_a and recall_b,
            floor=f"recall on the writer @{size}",
            note="catch-up, then the vector indexes loaded again, then the recall",
        ),
        Result(
            f"read on another node within the {STALENESS_S:g} s bound @{size}",
            "s",
            within,
            floor=floor,
            note="no min_txid: no store read",
        ),
        Result(
            f"read-your-writes on another node by a full wake @{size}",
            "s",
            wake,
            floor=floor,
            note="what catching up cost before: restore from snapshot + segments",
        ),
    ]
