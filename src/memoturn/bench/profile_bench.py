"""One profile: ingest rates and recall latency at growing sizes, beside their floors."""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import apsw
import numpy as np

import memoturn
from memoturn.bench import corpus
from memoturn.bench.stats import Result, progress, time_calls
from memoturn.core.ranking import fts_query
from memoturn.profile import rows
from memoturn.storage.localdir import LocalDirStore


def run(sizes: list[int], *, n_queries: int, n_single: int) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp, memoturn.open(Path(tmp)) as eng:
        eng.create_namespace("bench")
        eng.create_profile("bench", "p")
        prof = eng.profile("bench", "p")
        embedder = eng.embedder
        embedder.embed_query("warm up")
        pool = corpus.memories(max(sizes) + n_single + 10, seed=1)
        cursor = itertools.count()

        progress(f"single ingest x{n_single}")
        singles = iter(pool[:n_single])

        def one() -> None:
            item = dict(next(singles))
            prof.ingest(**item)

        single = time_calls(one, n_single - 3)
        results.append(_single_floor(Path(tmp) / "floor-store", eng, n_single - 3))
        results.append(Result("ingest single (1 per call)", "s", single, floor=SINGLE_FLOOR))
        for _ in range(n_single):
            next(cursor)

        done = n_single
        progress("deferred-embedding batched ingest x2000 (acknowledge, then embed)")
        with tempfile.TemporaryDirectory() as tmp2, memoturn.open(Path(tmp2)) as eng2:
            eng2.create_namespace("bench")
            eng2.create_profile("bench", "d")
            prof2 = eng2.profile("bench", "d")
            bulk = corpus.memories(2000, seed=9)
            acked: list[float] = []
            for start in range(0, len(bulk), 500):
                batch = bulk[start : start + 500]
                t = time_calls(
                    lambda b=batch: prof2.ingest_many(b, defer_embedding=True), 1, warmup=0
                )[0]
                acked.extend([t / len(batch)] * len(batch))
            t0 = time.perf_counter()
            eng2.flush_embeddings("bench", "d")
            embed_s = time.perf_counter() - t0
            results.append(
                Result(
                    "ingest batched, deferred embedding (500 per call)",
                    "s",
                    acked,
                    note=f"acknowledged rate; embedding the 2000 afterwards took {embed_s:.1f} s",
                )
            )
        qs = corpus.queries(n_queries, seed=2)
        for size in sorted(sizes):
            need = size - done
            progress(f"batched ingest to {size} memories ({need} more)")
            per_item: list[float] = []
            while need > 0:
                batch = pool[done : done + min(500, need)]
                t = time_calls(lambda b=batch: prof.ingest_many(b), 1, warmup=0)[0]
                per_item.extend([t / len(batch)] * len(batch))
                done += len(batch)
                need -= len(batch)
            if per_item:
                results.append(
                    Result(
                        f"ingest batched (500 per call) to {size}",
                        "s",
                        per_item,
                        note="per memory, embedding included",
                    )
                )
            progress(f"recall at {size} memories, {n_queries} queries per mode")
            for mode in ("hybrid", "keyword", "vector"):
                it = itertools.cycle(qs)
                results.append(
                    Result(
                        f"recall {mode} k=10 @{size}",
                        "s",
                        time_calls(
                            lambda m=mode, it=it: prof.recall(next(it), k=10, mode=m), n_queries
                        ),
                        note="query embedding included" if mode != "keyword" else "",
                        floor={
                            "keyword": f"floor: fts5 query @{size}",
                            "vector": f"floor: embed query + numpy top-k @{size}",
                            "hybrid": f"floor: both lists, 50 deep @{size}",
                        }[mode],
                    )
                )
            db_file = next((Path(tmp) / "cache" / "bench--p").glob("main.*.db"))
            results.extend(_floors(db_file, embedder, qs, size, n_queries))
    return results


SINGLE_FLOOR = "floor: embed one text + one PUT of its segment"


def _single_floor(root: Path, eng: Any, n: int) -> Result:
    """What a single ingest cannot beat: its embedding and one PUT of a segment as large as
    the ones the single ingests just put (local dir store, same disk)."""
    stats = eng.metered.stats().get("put_segment", {})
    calls, written = int(stats.get("calls", 0) or 0), int(stats.get("bytes_written", 0) or 0)
    blob = bytes(max(1, written // calls) if calls else 16 * 1024)
    store = LocalDirStore(root)
    keys = (f"floor/{i}" for i in itertools.count())
    texts = (f"a floor note number {i}" for i in itertools.count())

    def floor() -> None:
        eng.embedder.embed([next(texts)])
        store.put(next(keys), blob)

    return Result(
        SINGLE_FLOOR, "s", time_calls(floor, n),
        note=f"{len(blob)} bytes, the mean segment of the single ingests",
    )  # fmt: skip


def _floors(db: Path, embedder: object, qs: list[str], size: int, n: int) -> list[Result]:
    """What recall cannot beat: a bare FTS5 query, and embedding + numpy top-k."""
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    it = itertools.cycle(qs)

    def fts() -> None:
        list(
            conn.execute(
                "SELECT rowid, bm25(memories_fts) FROM memories_fts WHERE memories_fts MATCH ? "
                "ORDER BY bm25(memories_fts) LIMIT 10",
                (fts_query(next(it)),),
            )
        )

    blobs = [
        b for (b,) in conn.execute("SELECT embedding FROM memories WHERE embedding IS NOT NULL")
    ]
    mat = rows.embedding_matrix(blobs, embedder.dim)  # type: ignore[attr-defined]

    def topk() -> None:
        q = embedder.embed_query(next(it))  # type: ignore[attr-defined]
        sims = mat @ q
        np.argpartition(-sims, 10)[:10]

    def both_lists() -> None:
        # What hybrid recall must do before fusing: both candidate lists, 50 deep.
        text = next(it)
        list(
            conn.execute(
                "SELECT rowid, bm25(memories_fts) FROM memories_fts WHERE memories_fts MATCH ? "
                "ORDER BY bm25(memories_fts) LIMIT 50",
                (fts_query(text),),
            )
        )
        sims = mat @ embedder.embed_query(text)  # type: ignore[attr-defined]
        np.argpartition(-sims, 50)[:50]

    out = [
        Result(f"floor: fts5 query @{size}", "s", time_calls(fts, n)),
        Result(f"floor: embed query + numpy top-k @{size}", "s", time_calls(topk, n)),
        Result(
            f"floor: both lists, 50 deep @{size}",
            "s",
            time_calls(both_lists, n),
            note="fts5 top-50 + embed query + numpy top-50: hybrid recall's two lists",
        ),
    ]
    conn.close()
    return out
