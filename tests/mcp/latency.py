"""Measure (not a test): p50 latency of one ``memory_recall`` call in process, over REST, and
over MCP (streamable HTTP in both protocol eras, stdio in process and through a node).

    .venv/bin/python tests/mcp/latency.py [CALLS]

Paths run in blocks of 25 calls, in turn, so that load drifting on a shared machine hits
them alike; the other processes idle between blocks (their thread pools would otherwise
spin on the same cores).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

import memoturn
from memoturn.engine.tokens import TokenAuthority
from memoturn.http import create_app
from memoturn.http.live import BackgroundServer
from memoturn.mcp import http_app
from memoturn.mcp.backends import EngineBackend
from memoturn.mcp.tools import BY_NAME, bind, call

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

Run = Callable[[], Awaitable[Any]]


async def measure(calls: int, cases: dict[str, Run]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in cases}
    for run in cases.values():
        for _ in range(5):
            await run()
    for _ in range(max(1, calls // BLOCK)):
        for name, run in cases.items():
            await anyio.sleep(0.05)
            for _ in range(BLOCK):
                start = time.perf_counter()
                await run()
                times[name].append(time.perf_counter() - start)
    return times


def main(calls: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="memoturn-latency-"))
    engine = memoturn.open(data)
    app = create_app(engine)
    authority = TokenAuthority(engine)
    app.router.add_route("/mcp", http_app(engine, authority), include_in_schema=False)
    engine.create_namespace("acme")
    engine.create_profile("acme", "alice")
    token = authority.mint(authority.verify(authority.mint_root()), "acme", profile="alice").token
    alice = engine.profile("acme", "alice")
    alice.ingest_many([{"type": "fact", "content": f"{FACTS[i % 7]} ({i})"} for i in range(200)])
    backend = EngineBackend(engine, authority, lambda: authority.verify(token))
    binding = bind(authority.verify(token))

    def sync(fn: Callable[[], Any]) -> Run:
        async def run() -> None:
            fn()

        return run

    async def session() -> None:
        async with contextlib.AsyncExitStack() as stack:

            async def mcp(server: Any, mode: str) -> Run:
                client = await stack.enter_async_context(Client(server, mode=mode))

                async def run() -> None:
                    result = await client.call_tool("memory_recall", QUERY)
                    assert not result.is_error, result

                return run

            async def over_http() -> Any:
                headers = {"Authorization": f"Bearer {token}"}
                http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers))
                return streamable_http_client(server.url + "/mcp", http_client=http)

            def stdio(*args: str) -> StdioServerParameters:
                return StdioServerParameters(
                    command=sys.executable, args=["-m", "memoturn.mcp", *args]
                )

            rest = stack.enter_context(
                httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
            )
            recall_url = "/v1/namespaces/acme/profiles/alice/recall"
            cases = {
                "in process: engine recall": sync(lambda: alice.recall(**QUERY)),
                "in process: tool layer": sync(
                    lambda: call(BY_NAME, backend, binding, "memory_recall", QUERY)
                ),
                "REST POST /recall": sync(
                    lambda: rest.post(recall_url, json=QUERY).raise_for_status()
                ),
                "MCP HTTP, 2025-11-25 handshake": await mcp(await over_http(), "legacy"),
                "MCP HTTP, 2026-07-28": await mcp(await over_http(), "auto"),
                "MCP stdio --data (in process)": await mcp(
                    stdio("--data", str(data), "--token", token), "legacy"
                ),
                "MCP stdio --url (through the node)": await mcp(
                    stdio("--url", server.url, "--token", token), "legacy"
                ),
            }
            for name, xs in (await measure(calls, cases)).items():
                xs.sort()
                p50, p90 = statistics.median(xs) * 1000, xs[int(0.9 * len(xs))] * 1000
                print(f"{name:38s} p50 {p50:6.2f} ms   p90 {p90:6.2f} ms")

    with BackgroundServer(app) as server:
        anyio.run(session)
    engine.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
