"""The MCP edge: Memoturn's memory as tools for any MCP-capable agent.

- :func:`main` is ``memoturn mcp``: stdio, either in process (``--data DIR``) or through a
  node (``--url URL``).
- :func:`http_app` is streamable HTTP MCP for a node's engine, to route at ``/mcp``.

Both serve the tools of :mod:`memoturn.mcp.tools` (names fixed by API.md) with the same
JWTs and the same authorisation as the REST API.
"""

from __future__ import annotations

from memoturn.mcp.command import main
from memoturn.mcp.http import McpHttpApp, http_app
from memoturn.mcp.tools import NAMES as TOOL_NAMES

__all__ = ["TOOL_NAMES", "McpHttpApp", "http_app", "main"]
