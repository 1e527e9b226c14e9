"""The storage engine: provisioning, branch/checkpoint/rewind cost at growing sizes, wake
from hibernation, write latency in both durability modes on the local and S3 stores."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import memoturn
from memoturn.bench import corpus, floors
from memoturn.bench.stats import Result, progress, time_calls
from memoturn.storage import manifest as manifests
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.objectstore import ObjectStore
from memoturn.storage.replica import build_image


def run(*, quick: bool, sizes: list[int], s3: Any | None = None) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results += _floors(root)
        results += _provisioning(root, 500 if quick else 10_000)
        results += _history(root, sizes, n=20 if quick else 100)
        results += _writes(
            root, "local dir", LocalDirStore(root / "wstore"), n=50 if quick else 300
        )
        if s3 is not None:
            results += _writes(root, "S3 (moto)", s3, n=30 if quick else 200)
    return results


def _floors(root: Path) -> list[Result]:
    d = root / "floor"
    d.mkdir()
    counter = itertools.count()

    def create(fsync: bool) -> None:
        fd = os.open(d / f"f{next(counter)}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.write(fd, b"{}")
        if fsync:
            os.fsync(fd)
        os.close(fd)

    store = LocalDirStore(root / "floorstore")
    keys = (f"k/{i}" for i in itertools.count())
    etag = [store.put("cas/object", MANIFEST_SIZED, if_absent=True)]
    return [
        Result("floor: O_EXCL create + write", "s", time_calls(lambda: create(False), 500)),
        Result("floor: O_EXCL create + write + fsync", "s", time_calls(lambda: create(True), 200)),
        Result(
            "floor: empty PUT, local dir store",
            "s",
            time_calls(lambda: store.put(next(keys), b""), 200),
        ),
        Result(
            "floor: conditional PUT (create-if-absent), local dir store",
            "s",
            time_calls(lambda: store.put(next(keys), MANIFEST_SIZED, if_absent=True), 200),
            note="a new 1 kB object: what a branch's new manifest costs the store",
        ),
        Result(
            "floor: conditional PUT (if-match), local dir store",
            "s",
            time_calls(lambda: _update(store, etag), 200),
            note="a 1 kB object replaced on its etag: what a manifest CAS costs the store",
        ),
    ]


MANIFEST_SIZED = b"x" * 1024
"""About the size of a small profile's manifest."""


def _update(store: LocalDirStore, etag: list[str]) -> None:
    etag[0] = store.put("cas/object", MANIFEST_SIZED, if_match=etag[0])


def _provisioning(root: Path, n: int) -> list[Result]:
    progress(f"provisioning {n} profiles")
    with memoturn.open(root / "prov") as eng:
        eng.create_namespace("bench")
        names = (f"p{i}" for i in itertools.count())
        t0 = time.perf_counter()
        samples = time_calls(lambda: eng.create_profile("bench", next(names)), n, warmup=0)
        total = time.perf_counter() - t0
    return [
        Result(
            f"provision a profile ({n} in total)",
            "s",
            samples,
            note=f"{n} profiles in {total * 1e3:.0f} ms; one conditional PUT of a manifest",
            floor="floor: O_EXCL create + write + fsync",
        )
    ]


def _history(root: Path, sizes: list[int], n: int) -> list[Result]:
    results: list[Result] = []
    for size in sizes:
        progress(f"branch / checkpoint / rewind / wake at {size} memories")
        with memoturn.open(root / f"hist{size}") as eng:
            eng.create_namespace("bench")
            eng.create_profile("bench", "p")
            p = eng.profile("bench", "p")
            pool = corpus.memories(size, seed=3)
            for start in range(0, size, 500):
                p.ingest_many(pool[start : start + 500])
            names = (f"b{i}" for i in itertools.count())
            results.append(Result(
                f"branch create @{size}", "s",
                time_calls(lambda e=eng, it=names: e.create_branch("bench", "p", next(it)), n),
                floor="floor: conditional PUT (create-if-absent), local dir store",
            ))  # fmt: skip
            cps = (f"c{i}" for i in itertools.count())
            results.append(Result(
                f"checkpoint create @{size}", "s",
                time_calls(lambda e=eng, it=cps: e.create_checkpoint("bench", "p", next(it)), n),
                floor="floor: conditional PUT (if-match), local dir store",
            ))  # fmt: skip
            db_file = next((root / f"hist{size}" / "cache" / "bench--p").glob("main.*.db"))
            copies = (root / f"copy{size}-{i}.db" for i in itertools.count())
            results.append(Result(
                f"floor: copy profile db @{size}", "s",
                time_calls(
                    lambda f=db_file, it=copies: shutil.copyfile(f, next(it)), max(5, n // 4)
                ),
                note=f"{db_file.stat().st_size / 1e6:.1f} MB: what a naive branch costs",
            ))  # fmt: skip
            results.append(Result(
                f"rewind to previous txid @{size}", "s",
                time_calls(
                    lambda e=eng, q=p: e.rewind("bench", "p", txid=q.txid - 1), max(5, n // 4)
                ),
                note="restore the target state, one segment, one manifest CAS, reopen",
            ))  # fmt: skip
            queries = itertools.cycle(corpus.queries(50))

            wake: list[float] = []
            time_calls(
                lambda e=eng, q=p, it=queries, out=wake: _wake_and_query(e, q, it, out),
                max(5, n // 2),
                warmup=1,
            )
            image = build_image(eng.store, manifests.load(eng.store, *p.key)[0], p.txid)
            floor = f"floor: read + deserialize image + first keyword query @{size}"
            results.append(Result(
                floor, "s",
                floors.image_and_query(
                    bytes(image), corpus.queries(50), max(5, n // 2),
                    path=root / f"image{size}.db",
                ),
                note=f"the {len(image) / 1e6:.1f} MB image read from a local file, "
                "deserialized, one FTS5 query",
            ))  # fmt: skip
            results.append(Result(
                f"hibernated wake + keyword query @{size}", "s", wake,
                note="manifest + snapshot read, restore (pages checked by checksum), "
                "in-memory open (a read-only wake), query (vector indexes load only for a "
                "call that needs them)",
                floor=floor,
            ))  # fmt: skip
    return results


def _wake_and_query(eng: Any, p: Any, queries: Any, out: list[float]) -> None:
    eng.hibernate("bench", "p")
    t0 = time.perf_counter()
    p.recall(next(queries), k=10, mode="keyword")
    out.append(time.perf_counter() - t0)


def _writes(root: Path, label: str, store: ObjectStore, n: int) -> list[Result]:
    results: list[Result] = []
    keys = (f"floor/{i}" for i in itertools.count())
    results.append(Result(
        f"floor: empty PUT, {label}", "s", time_calls(lambda: store.put(next(keys), b""), n)
    ))  # fmt: skip
    for durability in ("object", "local"):
        progress(f"write latency, durability={durability}, {label}")
        with memoturn.open(root / f"w-{label}-{durability}".replace(" ", ""), object_store=store,
                           durability=durability) as eng:  # fmt: skip
            eng.create_namespace("bench")
            eng.create_profile("bench", durability)
            p = eng.profile("bench", durability)
            values = itertools.count()
            results.append(Result(
                f"write (kv set) durability={durability}, {label}", "s",
                time_calls(lambda q=p, it=values: q.kv_set("s", "k", next(it)), n),
                note="acknowledged after the segment and manifest are in the store"
                if durability == "object" else "acknowledged after the local commit",
                floor=f"floor: empty PUT, {label}",
            ))  # fmt: skip
    return results
