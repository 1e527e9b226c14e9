"""The edges: one call in process, through the SDK over HTTP, and as an MCP tool (stdio and
streamable HTTP); throughput with 16 concurrent SDK clients on one profile and on 16.

Floors, measured in the same run: one embedding + one PUT of a single ingest's segment
(what an ingest cannot beat in process), a no-op HTTP call to the same node (``/healthz``,
no auth, no audit) and the two together (what an ingest over HTTP cannot beat), and one
embedding run of 16 texts (what 16 concurrent ingests cannot beat).

Paths run in blocks of 25 calls, in turn, so load drifting on a shared machine hits them
alike."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp.client.client import Client as McpClient
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

import memoturn
from memoturn.bench.stats import Result, progress
from memoturn.http import ThrowawayNode
from memoturn.storage.localdir import LocalDirStore

QUERY = {"query": "what does Alice eat?", "k": 10}
FACTS = [
    "Alice is vegetarian",
    "Alice lives in Lyon",
    "Alice works as a nurse",
    "Alice has a cat",
    "Alice prefers window seats",
    "Alice plays chess on Sundays",
    "Alice is allergic to peanuts",
]
BLOCK = 25
CLIENTS = 16
Run = Callable[[], Awaitable[Any]]


def run(*, quick: bool) -> list[Result]:
    calls = 50 if quick else 300
    with tempfile.TemporaryDirectory() as tmp, ThrowawayNode(Path(tmp) / "node") as node:
        eng = node.engine
        eng.create_namespace("acme")
        for i in range(CLIENTS):
            eng.create_profile("acme", f"p{i}")
        eng.create_profile("acme", "alice")
        alice = eng.profile("acme", "alice")
        alice.ingest_many(
            [{"type": "fact", "content": f"{FACTS[i % 7]} ({i})"} for i in range(200)]
        )
        sdk = memoturn.Client(node.url, node.root_token).profile("acme", "alice")
        progress(f"in process vs SDK over HTTP vs MCP, {calls} calls each")
        counter = iter(range(10**9))
        for _ in range(5):
            alice.ingest("fact", f"Alice note {next(counter)}")
        floors = _Floors(node, Path(tmp) / "floor-store", _segment_bytes(node))
        cases: dict[str, Callable[[], Any]] = {
            "recall in process": lambda: alice.recall(**QUERY),
            "recall SDK over HTTP": lambda: sdk.recall(**QUERY),
            "ingest in process": lambda: alice.ingest("fact", f"Alice note {next(counter)}"),
            "ingest SDK over HTTP": lambda: sdk.ingest("fact", f"Alice note {next(counter)}"),
            "kv set in process": lambda: alice.kv_set("s", "k", next(counter)),
            "kv set SDK over HTTP": lambda: sdk.kv_set("s", "k", next(counter)),
            FLOOR_EMBED_PUT: floors.embed_put,
            FLOOR_HTTP: floors.noop_http,
            FLOOR_HTTP_EMBED_PUT: floors.http_embed_put,
        }
        times = anyio.run(_mcp_and_sync, node, cases, calls)
        results = [
            Result(name, "s", xs, floor=_floor(name), note=_NOTES.get(name, ""))
            for name, xs in times.items()
        ]
        progress(f"{CLIENTS} concurrent SDK clients")
        batch = floors.embed_batch(calls // 4)
        results.append(batch)
        results += _concurrency(node, n=40 if quick else 200, floor=batch.summary()["ops_per_s"])
        floors.close()
    return results


FLOOR_EMBED_PUT = "floor: embed one text + one PUT"
FLOOR_HTTP = "floor: no-op HTTP (GET /healthz)"
FLOOR_HTTP_EMBED_PUT = "floor: no-op HTTP + embed + PUT"
FLOOR_BATCH = f"floor: embed batch of {CLIENTS} (per text)"
_NOTES = {
    FLOOR_EMBED_PUT: "the embedding of one text, then a PUT of a single ingest's segment "
    "(local dir store)",
    FLOOR_HTTP: "same node, same HTTP client library, keep-alive; no auth, no audit",
}


def _segment_bytes(node: ThrowawayNode) -> int:
    """The mean size of the segments the node has put so far (single ingests)."""
    stats = node.engine.metered.stats().get("put_segment", {})
    calls, written = int(stats.get("calls", 0) or 0), int(stats.get("bytes_written", 0) or 0)
    return max(1, written // calls) if calls else 16 * 1024


class _Floors:
    """What an ingest cannot beat, measured beside it."""

    def __init__(self, node: ThrowawayNode, root: Path, segment_bytes: int) -> None:
        self.embedder = node.engine.embedder
        self.store = LocalDirStore(root)
        self.blob = bytes(segment_bytes)
        self.http = httpx.Client(base_url=node.url)
        self.texts = (f"Alice floor note {i}" for i in range(10**9))
        self.keys = (f"floor/{i}" for i in range(10**9))

    def embed_put(self) -> None:
        self.embedder.embed([next(self.texts)])
        self.store.put(next(self.keys), self.blob)

    def noop_http(self) -> None:
        self.http.get("/healthz").raise_for_status()

    def http_embed_put(self) -> None:
        self.noop_http()
        self.embed_put()

    def embed_batch(self, n: int) -> Result:
        samples = []
        for _ in range(max(5, n)):
            texts = [next(self.texts) for _ in range(CLIENTS)]
            t0 = time.perf_counter()
            self.embedder.embed(texts)
            samples.append((time.perf_counter() - t0) / CLIENTS)
        return Result(
            FLOOR_BATCH, "s", samples,
            note=f"one model run of {CLIENTS} texts, divided by {CLIENTS}: the most "
            "ingests per second one node's embedder allows",
        )  # fmt: skip

    def close(self) -> None:
        self.http.close()


async def _mcp_and_sync(
    node: ThrowawayNode, cases: dict[str, Callable[[], Any]], calls: int
) -> dict[str, list[float]]:
    token = memoturn.Client(node.url, node.root_token).mint_token("acme", "alice").token
    async with contextlib.AsyncExitStack() as stack:

        async def mcp(server: Any, mode: str) -> Run:
            client = await stack.enter_async_context(McpClient(server, mode=mode))

            async def call() -> None:
                result = await client.call_tool("memory_recall", QUERY)
                assert not result.is_error, result

            return call

        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        )
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "memoturn.mcp", "--url", node.url, "--token", token]
        )
        runs: dict[str, Run] = {name: _async(fn) for name, fn in cases.items()}
        runs["MCP HTTP memory_recall"] = await mcp(
            streamable_http_client(node.url + "/mcp", http_client=http), "auto"
        )
        runs["MCP stdio memory_recall (via node)"] = await mcp(params, "legacy")
        return await _measure(calls, runs)


def _floor(name: str) -> str | None:
    """An ingest is compared with what it cannot beat; other edges with the same call in
    process."""
    if name == "ingest in process":
        return FLOOR_EMBED_PUT
    if name == "ingest SDK over HTTP":
        return FLOOR_HTTP_EMBED_PUT
    if name.startswith("MCP"):
        return "recall in process"
    return name.replace("SDK over HTTP", "in process") if "SDK" in name else None


def _async(fn: Callable[[], Any]) -> Run:
    async def call() -> None:
        fn()

    return call


async def _measure(calls: int, cases: dict[str, Run]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in cases}
    for call in cases.values():
        for _ in range(3):
            await call()
    for _ in range(max(1, calls // BLOCK)):
        for name, call in cases.items():
            for _ in range(BLOCK):
                start = time.perf_counter()
                await call()
                times[name].append(time.perf_counter() - start)
    return times


def _concurrency(node: ThrowawayNode, n: int, floor: float) -> list[Result]:
    """``floor``: ingests per second that the embedding of batches of 16 allows."""
    results = []
    spreads = {
        "one profile": ["alice"] * CLIENTS,
        f"{CLIENTS} profiles": [f"p{i}" for i in range(CLIENTS)],
    }
    for label, profiles in spreads.items():
        for op in ("ingest", "recall"):
            samples: list[float] = []
            lock = threading.Lock()

            def work(
                profile: str, op: str = op, samples: list[float] = samples, lock: Any = lock
            ) -> None:
                p = memoturn.Client(node.url, node.root_token).profile("acme", profile)
                mine = []
                for i in range(n // CLIENTS + 1):
                    t0 = time.perf_counter()
                    if op == "ingest":
                        p.ingest("fact", f"{profile} concurrent note {i} {threading.get_ident()}")
                    else:
                        p.recall(QUERY["query"], k=10)
                    mine.append(time.perf_counter() - t0)
                with lock:
                    samples.extend(mine)

            threads = [threading.Thread(target=work, args=(p,)) for p in profiles]
            segments = _segments(node)
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            note = f"throughput {len(samples) / wall:.0f} ops/s overall"
            if op == "ingest":
                per = (_segments(node) - segments) / len(samples)
                note += f", {per:.2f} segments per ingest; {FLOOR_BATCH}: {floor:.0f}/s"
            results.append(Result(f"{op}, {CLIENTS} SDK clients, {label}", "s", samples, note=note))
    return results


def _segments(node: ThrowawayNode) -> int:
    return int(node.engine.metered.stats().get("put_segment", {}).get("calls", 0) or 0)
