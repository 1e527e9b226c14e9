"""MCP tests with the real ``mcp`` client: a node on loopback (the REST app with the MCP app
routed at /mcp, as the node serves it), stdio servers spawned as subprocesses, and a
:class:`Session` wrapper that turns tool results into JSON or error bodies."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

import memoturn
from memoturn.engine.tokens import TokenAuthority
from memoturn.http import create_app
from memoturn.http.live import BackgroundServer
from memoturn.mcp import http_app


@dataclass
class Node:
    """A node on loopback: REST at ``url``, MCP at ``url + "/mcp"``."""

    url: str
    engine: memoturn.Engine
    authority: TokenAuthority

    def token(self, ns: str, profile: str | None = None, **options: Any) -> str:
        root = self.authority.verify(self.authority.mint_root())
        return self.authority.mint(root, ns, profile=profile, **options).token

    def provision(self, ns: str, *profiles: str) -> None:
        self.engine.create_namespace(ns)
        for p in profiles:
            self.engine.create_profile(ns, p)


@pytest.fixture(scope="session")
def node(tmp_path_factory, embedder) -> Iterator[Node]:
    data = tmp_path_factory.mktemp("mcp-node")
    with memoturn.open(data, embedder=embedder) as engine:
        app = create_app(engine)
        authority = TokenAuthority(engine)
        # How the node routes it: an exact route (a Mount would redirect /mcp to /mcp/).
        app.router.add_route("/mcp", http_app(engine, authority), include_in_schema=False)
        with BackgroundServer(app) as server:
            yield Node(server.url, engine, authority)


class ToolFailed(AssertionError):
    pass


class Session:
    """An MCP client session; ``call`` returns a tool's JSON result, ``fail`` its error."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def tools(self) -> dict[str, Any]:
        listed = await self.client.list_tools()
        return {t.name: t for t in listed.tools}

    async def call(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error:
            raise ToolFailed(f"{tool} failed: {result.content[0].text}")  # type: ignore[union-attr]
        assert isinstance(result.structured_content, dict)
        return result.structured_content

    async def fail(self, tool: str, /, **arguments: Any) -> dict[str, str]:
        """The ``{"code", "message", "hint"}`` of a call that must fail."""
        result = await self.client.call_tool(tool, arguments)
        assert result.is_error, f"{tool} should have failed: {result.structured_content}"
        body = result.structured_content
        assert isinstance(body, dict) and set(body["error"]) == {"code", "message", "hint"}
        assert result.content[0].text.startswith('{"error":')  # type: ignore[union-attr]
        return body["error"]  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def http_session(
    url: str, token: str | None, *, query: str = "", mode: str = "auto"
) -> AsyncIterator[Session]:
    """Streamable HTTP; ``mode`` "auto" negotiates the 2026 protocol, "legacy" the
    initialize handshake that today's desktop clients use."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers) as http:
        transport = streamable_http_client(f"{url}/mcp{query}", http_client=http)
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield Session(client)


def stdio_params(*args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    """``python -m memoturn.mcp ARGS`` (what ``memoturn mcp ARGS`` runs)."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "memoturn.mcp", *args],
        env={"MEMOTURN_TOKEN": "", "MEMOTURN_URL": "", **(env or {})},
        cwd=str(Path(__file__).parent),
    )


@contextlib.asynccontextmanager
async def stdio_session(*args: str, mode: str = "legacy") -> AsyncIterator[Session]:
    async with Client(stdio_params(*args), mode=mode) as client:  # type: ignore[arg-type]
        yield Session(client)
