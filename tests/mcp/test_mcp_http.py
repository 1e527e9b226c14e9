"""Streamable HTTP MCP at /mcp on a live node, with the real mcp client."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from tests.mcp.conftest import http_session
from tests.mcp.scenario import EXPECTED_TOOLS, bad_arguments, exercise

from memoturn.http.live import listening_socket
from memoturn.mcp import http_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_every_tool_over_http(node) -> None:
    node.provision("acme", "alice", "bob")
    async with http_session(node.url, node.token("acme", "alice")) as s:
        await exercise(s)


async def test_the_handshake_era_clients_use_works_too(node) -> None:
    node.provision("hs", "ann")
    async with http_session(node.url, node.token("hs", "ann"), mode="legacy") as s:
        assert list(await s.tools()) == EXPECTED_TOOLS
        wrote = await s.call("memory_ingest", type="preference", content="Ann likes tea")
        hits = await s.call("memory_recall", query="tea")
        assert hits["results"][0]["memory"]["id"] == wrote["memory"]["id"]
        await bad_arguments(s)


async def test_another_profiles_token_is_refused(node) -> None:
    node.provision("acme", "alice", "bob")
    bob = node.token("acme", "bob")
    async with http_session(node.url, bob, query="?profile=alice") as s:
        refused = await s.fail("memory_recall", query="Alice")
        assert refused == {
            "code": "forbidden",
            "message": "this token may not act on this profile",
            "hint": "use a token minted for the profile you address",
        }
        assert (await s.fail("branch_list"))["code"] == "forbidden"
        assert (await s.fail("memory_ingest", type="fact", content="x"))["code"] == "forbidden"
    # ... and without naming alice, bob's session only sees bob.
    async with http_session(node.url, bob) as s:
        await s.call("memory_ingest", type="fact", content="Bob's secret plan")
    async with http_session(node.url, node.token("acme", "alice")) as s:
        hits = await s.call("memory_recall", query="secret plan", scopes=["memories"])
        assert "Bob's secret plan" not in [h["memory"]["content"] for h in hits["results"]]


async def test_a_namespace_token_names_the_profile_per_call(node) -> None:
    node.provision("ns1", "p1", "p2")
    async with http_session(node.url, node.token("ns1")) as s:
        schema = (await s.tools())["memory_ingest"].input_schema
        assert schema["required"][0] == "profile" and "profile" in schema["properties"]
        await s.call("memory_ingest", profile="p1", type="fact", content="P1 likes chess")
        await s.call("checkpoint_create", profile="p2", name="cp")
        await s.call("branch_create", profile="p2", name="side")
        p2 = await s.call("memory_recall", profile="p2", query="chess")
        assert p2["results"] == []
        p1 = await s.call("memory_recall", profile="p1", query="chess")
        assert p1["results"][0]["memory"]["content"] == "P1 likes chess"
        missing = await s.fail("memory_recall", query="chess")
        assert missing["message"] == "missing required field: profile"
        assert (await s.fail("memory_recall", profile="nope", query="x"))["code"] == "not_found"


async def test_tools_follow_the_tokens_scopes_and_branch_lock(node) -> None:
    node.provision("sc", "al")
    async with http_session(node.url, node.token("sc", "al", scopes=["read"])) as s:
        tools = await s.tools()
        assert "memory_recall" in tools and "memory_ingest" not in tools
        refused = await s.fail("memory_ingest", type="fact", content="x")
        assert refused["message"] == "this token lacks the 'write' scope"
    node.engine.create_branch("sc", "al", "locked")
    async with http_session(node.url, node.token("sc", "al", branch="locked")) as s:
        tools = await s.tools()
        assert not {"branch_create", "branch_list", "branch_delete"} & set(tools)
        assert "branch" not in tools["kv_set"].input_schema["properties"]
        assert (await s.fail("branch_list"))["message"] == "this token is locked to branch 'locked'"
        await s.call("kv_set", space="s", key="k", value=1)
        assert (await s.call("checkpoint_list"))["checkpoints"] == []
    assert node.engine.profile("sc", "al", "locked").kv_get("s", "k").value == 1


async def test_a_request_without_a_valid_token_is_401(node) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic x"}):
        r = httpx.post(f"{node.url}/mcp", json={}, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]["code"] == "unauthorized"
    root = node.authority.mint_root()
    r = httpx.post(f"{node.url}/mcp", json={}, headers={"Authorization": f"Bearer {root}"})
    assert r.status_code == 400 and "--namespace" in r.json()["error"]["hint"]


async def test_the_app_runs_in_its_hosts_lifespan(node) -> None:
    """The documented wiring: the host app's lifespan enters McpHttpApp.lifespan()."""
    node.provision("lf", "al")
    mcp = http_app(node.engine, node.authority)

    @contextlib.asynccontextmanager
    async def lifespan(app):  # type: ignore[no-untyped-def]
        async with mcp.lifespan():
            yield

    app = Starlette(routes=[Route("/mcp", mcp)], lifespan=lifespan)
    sock = listening_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with http_session(url, node.token("lf", "al")) as s:
            assert (await s.call("kv_set", space="s", key="k", value=2))["value"] == 2
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive()


async def test_a_tool_allow_list_and_compact_answers(node) -> None:
    """?tools= offers (and allows) only those tools; ?compact=true answers recall with
    {id, content, score, relevance} hits and drops null fields."""
    node.provision("lean", "al")
    token = node.token("lean", "al")
    query = "?tools=memory_ingest,memory_recall&compact=true"
    async with http_session(node.url, token, query=query) as s:
        assert sorted(await s.tools()) == ["memory_ingest", "memory_recall"]
        wrote = await s.call("memory_ingest", type="fact", content="Al keeps bees")
        assert "topic" not in wrote["memory"] and "superseded" not in wrote  # nulls, empties
        hits = await s.call("memory_recall", query="what does Al keep?")
        top = hits["results"][0]
        assert set(top) == {"id", "content", "score", "relevance"}
        assert (top["id"], top["content"]) == (wrote["memory"]["id"], "Al keeps bees")
        refused = await s.fail("kv_set", space="s", key="k", value=1)
        assert refused["code"] == "not_found" and "memory_recall" in refused["hint"]
    r = httpx.post(
        node.url + "/mcp?tools=nope",
        headers={"Authorization": f"Bearer {token}"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert r.status_code == 400 and "unknown tools: nope" in r.json()["error"]["message"]
