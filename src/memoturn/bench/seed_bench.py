"""The seed prototype's headline figures, measured the same way on this node: provisioning
on the in-memory store, a batch of 10,000 on the local-dir store, branch and checkpoint
creation at 10 and 10,000 memories, wake + query at 10 memories, and failover after
``kill -9`` of the writer (two real processes).

Each result carries ``seed_ms``, the seed's figure, beside this run's floor."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

import memoturn
from memoturn.bench import corpus, floors
from memoturn.bench.stats import Result, progress, time_calls
from memoturn.storage import manifest as manifests
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.memory import MemoryStore
from memoturn.storage.replica import build_image

SEED_PROVISION_MS = 0.017
SEED_BATCH_MS = 93.0
SEED_BRANCH_MS = 0.047
SEED_WAKE_MS = 0.7
SEED_FAILOVER_MS = 15_000.0


def run(*, quick: bool, root: Path) -> list[Result]:
    # First: its RSS figure is the process's, and the other scenarios leave memory behind
    # (a profile of 10,000 memories among them).
    many = _many_profiles(root, 20_000 if quick else 100_000)
    results = _floors(root)
    results += _memory_store(root, n=500 if quick else 5000, big=300 if quick else 10_000)
    results += _batch(root, 10_000, rounds=2 if quick else 5)
    results += many
    results += _failover(root, profiles=2 if quick else 3)
    return results


def _floors(root: Path) -> list[Result]:
    store = MemoryStore()
    keys = (f"k/{i}" for i in itertools.count())
    local = LocalDirStore(root / "seed-floor")
    blob = json.dumps([f"user-{i:06d}" for i in range(10_000)]).encode()
    blobs = (f"b/{i}" for i in itertools.count())
    return [
        Result(
            "floor: conditional PUT, memory store",
            "s",
            time_calls(lambda: store.put(next(keys), b"{}", if_absent=True), 2000),
        ),
        Result(
            "floor: conditional PUT of 10k names, local dir",
            "s",
            time_calls(lambda: local.put(next(blobs), blob, if_absent=True), 20),
            note=f"{len(blob) / 1e3:.0f} kB, fsync'd: one durable write of the batch",
        ),
    ]


def _memory_store(root: Path, n: int, *, big: int) -> list[Result]:
    progress("seed: provision / branch / checkpoint / wake on the memory store")
    with memoturn.open(root / "seed-mem", object_store="memory://") as eng:
        eng.create_namespace("seed")
        names = (f"p{i}" for i in itertools.count())
        provision = time_calls(lambda: eng.create_profile("seed", next(names)), n)
        eng.create_profile("seed", "x")
        p = eng.profile("seed", "x")
        p.ingest_many(corpus.memories(10, seed=3))
        history = _branch_and_checkpoint(eng, "x", n // 10)
        queries = itertools.cycle(corpus.queries(50))
        wake: list[float] = []

        def wake_and_query() -> None:
            eng.hibernate("seed", "x")
            t0 = time.perf_counter()
            p.recall(next(queries), k=10, mode="keyword")
            wake.append(time.perf_counter() - t0)

        time_calls(wake_and_query, max(20, n // 25), warmup=2)
        image = build_image(eng.store, manifests.load(eng.store, *p.key)[0], p.txid)
        wake_floor = floors.image_and_query(bytes(image), corpus.queries(50), max(20, n // 25))
        progress(f"seed: branch / checkpoint at {big} memories on the memory store")
        eng.create_profile("seed", "big")
        pool = corpus.memories(big, seed=4)
        for start in range(0, big, 500):
            eng.profile("seed", "big").ingest_many(pool[start : start + 500])
        history_big = _branch_and_checkpoint(eng, "big", n // 10)
    floor = "floor: conditional PUT, memory store"
    wake_floor_name = "floor: deserialize image + first keyword query @10"
    label = f"@{big // 1000}k" if big >= 1000 else f"@{big}"
    out = [
        Result("seed: provision (memory store)", "s", provision, floor=floor,
               seed_ms=SEED_PROVISION_MS, note="one profile per call"),
        Result(wake_floor_name, "s", wake_floor,
               note=f"the {len(image) / 1e3:.0f} kB image: deserialize, one FTS5 query"),
    ]  # fmt: skip
    for suffix, size, (branch, checkpoint) in (("", 10, history), (f" {label}", big, history_big)):
        out += [
            Result(f"seed: branch create (memory store){suffix}", "s", branch, floor=floor,
                   seed_ms=SEED_BRANCH_MS, note=f"a branch of a profile with {size} memories"),
            Result(f"seed: checkpoint create (memory store){suffix}", "s", checkpoint,
                   floor=floor, seed_ms=SEED_BRANCH_MS,
                   note=f"a profile with {size} memories and {STANDING_CHECKPOINTS} other "
                   "checkpoints (each timed one is deleted after, untimed)"),
        ]  # fmt: skip
    out.append(
        Result("seed: wake + query @10 (memory store)", "s", wake, seed_ms=SEED_WAKE_MS,
               floor=wake_floor_name,
               note="hibernated profile, 10 memories: manifest, segments (checksums), "
               "in-memory open, keyword recall k=10")
    )  # fmt: skip
    return out


STANDING_CHECKPOINTS = 10
"""Checkpoints a profile holds while checkpoint creation is timed: a manifest names every
checkpoint, so a profile that only ever gains them (thousands, in a benchmark loop) measures
the manifest's size, not the operation."""


def _branch_and_checkpoint(eng: Any, name: str, n: int) -> tuple[list[float], list[float]]:
    """``n`` branch creations and ``n`` checkpoint creations of profile ``name``."""
    branches = (f"b{i}" for i in itertools.count())
    branch = time_calls(lambda: eng.create_branch("seed", name, next(branches)), n)
    for i in range(STANDING_CHECKPOINTS):
        eng.create_checkpoint("seed", name, f"standing{i}")
    checkpoint: list[float] = []
    for i in range(n + 3):
        t0 = time.perf_counter()
        eng.create_checkpoint("seed", name, f"c{i}")
        took = time.perf_counter() - t0
        eng.delete_checkpoint("seed", name, f"c{i}")
        if i >= 3:  # warm-up
            checkpoint.append(took)
    return branch, checkpoint


def _batch(root: Path, n: int, rounds: int) -> list[Result]:
    progress(f"seed: provision {n} profiles in one batch, local-dir store ({rounds} rounds)")
    samples = []
    with memoturn.open(root / "seed-batch") as eng:
        for r in range(rounds):
            ns = f"batch{r}"
            eng.create_namespace(ns)
            names = [f"user-{i:06d}" for i in range(n)]
            t0 = time.perf_counter()
            made = eng.create_profiles(ns, names)
            samples.append(time.perf_counter() - t0)
            if len(made.created) != n:
                raise RuntimeError(f"batch provisioning created {len(made.created)} of {n}")
    return [
        Result(
            "seed: provision 10k batch (local store)", "s", samples,
            floor="floor: conditional PUT of 10k names, local dir", seed_ms=SEED_BATCH_MS,
            note=f"{n} profiles per call, durable (fsync) before it returns; one sample per batch",
        )
    ]  # fmt: skip


def _many_profiles(root: Path, n: int) -> list[Result]:
    """``n`` provisioned, hibernated profiles on one node: the first page of the profile
    list on a node that has just started (it reads the log), then warm; the node's RSS."""
    progress(f"{n} provisioned profiles: list the first page, RSS")
    store = LocalDirStore(root / "many-store")
    with memoturn.open(root / "many-a", object_store=store) as eng:
        eng.create_namespace("many")
        for start in range(0, n, 10_000):
            eng.create_profiles("many", [f"user-{i:07d}" for i in range(start, start + 10_000)])
    cold = []
    for i in range(3):
        with memoturn.open(root / f"many-b{i}", object_store=store) as eng:
            t0 = time.perf_counter()
            page = eng.list_profiles("many", limit=100)
            cold.append(time.perf_counter() - t0)
            if len(page.profiles) != 100:
                raise RuntimeError("the first page is not 100 profiles")
    with memoturn.open(root / "many-c", object_store=store) as eng:
        eng.list_profiles("many", limit=100)
        cursors = itertools.cycle([None, "user-0050000", "user-0099000"])
        warm = time_calls(lambda: eng.list_profiles("many", limit=100, cursor=next(cursors)), 200)
        eng.profile("many", "user-0000007")  # a request on one of them: found, no wake
        eng.embedder.embed_query("warm up")  # a serving node has its model loaded
        rss = _rss_mib()
    return [
        Result(f"list profiles, first page, node just started @{n // 1000}k", "s", cold,
               note="reads the folded log state and the entries after it"),
        Result(f"list profiles, a page of 100 @{n // 1000}k", "s", warm,
               note=f"process RSS {rss:.0f} MiB with {n} hibernated profiles known "
               "(including the embedding model and this benchmark)"),
    ]  # fmt: skip


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _failover(root: Path, profiles: int) -> list[Result]:
    """Two ``memoturn serve`` processes on one local-dir store. A writes to ``profiles``
    profiles (so it holds their leases) and is killed with SIGKILL; each profile's time is
    from the kill to B acknowledging a write to it (clients poll every 0.2 s)."""
    from memoturn.testing import NodeProcess

    progress(f"seed: failover after kill -9 ({profiles} profiles, two processes)")
    store = (root / "seed-failover-store").as_uri()
    a = NodeProcess(data_dir=root / "seed-fo-a", object_store=store)
    b = NodeProcess(data_dir=root / "seed-fo-b", object_store=store)
    with contextlib.ExitStack() as stack:
        stack.callback(a.stop)
        stack.callback(b.stop)
        a.launch(), b.launch()
        a.wait_ready(), b.wait_ready()
        auth = {"Authorization": f"Bearer {a.root_token}"}
        names = [f"u{i}" for i in range(profiles)]
        with httpx.Client(headers=auth, timeout=60) as c:
            _ok(c.post(f"{a.url}/v1/namespaces", json={"name": "fo"}))
            for name in names:
                path = f"/v1/namespaces/fo/profiles/{name}"
                _ok(c.post(f"{a.url}/v1/namespaces/fo/profiles", json={"name": name}))
                _ok(c.post(f"{a.url}{path}/memories", json={"type": "fact", "content": "on A"}))
                _ok(c.post(f"{b.url}{path}/recall", json={"query": "on A"}))  # B is warm
            killed_at = time.monotonic()
            a.kill()
            took: dict[str, float] = {}
            threads = [
                threading.Thread(target=_write_until_ok, args=(b.url, auth, n, killed_at, took))
                for n in names
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    return [
        Result(
            "seed: failover after kill -9", "s", [took[n] for n in names],
            seed_ms=SEED_FAILOVER_MS,
            note="kill -9 of the lease holder to the first write acknowledged by the other "
            "node; one sample per profile (lease TTL 10 s)",
        )
    ]  # fmt: skip


def _write_until_ok(
    url: str, auth: dict[str, str], name: str, since: float, took: dict[str, float]
) -> None:
    path = f"{url}/v1/namespaces/fo/profiles/{name}/memories"
    with httpx.Client(headers=auth, timeout=60) as c:
        while time.monotonic() - since < 120:
            r = c.post(path, json={"type": "fact", "content": "on B"})
            if r.status_code == 200:
                took[name] = time.monotonic() - since
                return
            if r.status_code != 503:
                raise RuntimeError(f"failover write: {r.status_code} {r.text}")
            time.sleep(0.2)
    raise RuntimeError("no failover within 120 s")


def _ok(r: Any) -> None:
    if r.status_code >= 300:
        raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text}")
