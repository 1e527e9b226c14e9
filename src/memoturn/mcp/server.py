"""The MCP server: the tool layer behind the ``mcp`` SDK's low-level server.

One :class:`mcp.server.lowlevel.Server` serves every transport. Each request finds its
:class:`Caller` (the backend and the session binding) through ``caller_of``: fixed for a
stdio session, taken from the HTTP request (authenticated by :mod:`memoturn.mcp.http`)
otherwise. The tool list is built per caller, so a profile token sees no ``profile``
argument and a branch-locked token no ``branch`` argument.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio.to_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

import memoturn
from memoturn.core.errors import Internal, MemoturnError, Unavailable
from memoturn.mcp.tools import BY_NAME, TOOLS, Backend, Binding, Tool, call

log = logging.getLogger("memoturn.mcp")

Auditor = Callable[[str, Mapping[str, Any] | None, int, Any], Awaitable[None]]

INSTRUCTIONS = """\
Memoturn is this agent's long-term memory: one profile (a user, team or persona) per \
session unless the tools take a 'profile' argument. Call memory_recall before answering \
when earlier context may matter (preferences, past decisions, facts the user told you). \
Store durable facts, preferences and instructions with memory_ingest; give a 'topic' to \
replace an older version. Record conversations verbatim with transcript_append. Use \
kv_set/kv_get for exact state, checkpoint_create before risky bulk changes and rewind to \
undo them, branch_create to experiment without touching main. Every write returns a txid.\
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: where the calls go and what the session is bound to."""

    backend: Backend
    binding: Binding
    audit: Auditor | None = None
    """Awaited after each tool call with (tool, arguments, status, answer); returns once
    the call's audit event is durable (or at once when its policy wants none)."""


CallerOf = Callable[[ServerRequestContext[Any, Any]], Caller]


def describe(tool: Tool, binding: Binding) -> types.Tool:
    """The MCP description of ``tool`` for a session with ``binding``."""
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema(binding),
        annotations=types.ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.read_only,
            destructive_hint=tool.destructive if not tool.read_only else None,
            idempotent_hint=tool.idempotent or tool.read_only,
            open_world_hint=False,
        ),
    )


def result(value: dict[str, Any]) -> types.CallToolResult:
    """A successful call: the JSON as structured content and as text (for clients that
    only show text to the model)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=value
    )


def error(exc: MemoturnError) -> types.CallToolResult:
    """A failed call as an MCP tool error, with the REST error body
    ``{"error": {"code", "message", "hint"}}``."""
    body = exc.to_dict()
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=body,
        is_error=True,
    )


def build_server(caller_of: CallerOf) -> Server[Any]:
    """The MCP server; ``caller_of(ctx)`` names the caller of each request."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        binding = caller_of(ctx).binding
        return types.ListToolsResult(
            tools=[describe(t, binding) for t in TOOLS if t.offered(binding)]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        caller = caller_of(ctx)
        run = functools.partial(
            call, BY_NAME, caller.backend, caller.binding, params.name, params.arguments
        )
        try:
            # The engine and the SDK block (SQLite, the embedder, HTTP): keep the loop free.
            value = await anyio.to_thread.run_sync(run)
            status, answer = 200, result(value)
        except MemoturnError as e:
            if not e.public:  # a store fault: keys and paths go to the log only
                request_id = secrets.token_hex(8)
                log.warning("tool %r failed, request id %s: %s", params.name, request_id, e)
                reason = "the object store " + ("did not answer" if e.retryable else "refused")
                e = e.redacted(reason, request_id)
            value, status, answer = None, e.status, error(e)
        except Exception:
            log.exception("tool %r failed", params.name)  # %r: the name is client input
            value, status = None, 500
            answer = error(Internal("internal error", hint="this is a bug; the log has details"))
        if caller.audit is not None:
            try:
                await caller.audit(params.name, params.arguments, status, value)
            except Exception:
                log.error("audit event of tool %r not durable", params.name, exc_info=True)
                return error(
                    Unavailable(
                        "the call's audit event could not be written to the object store",
                        hint="retry; a write may have been applied",
                    )
                )
        return answer

    server: Server[Any] = Server(
        "memoturn",
        version=memoturn.__version__,
        title="Memoturn",
        description="Memory for AI agents",
        instructions=INSTRUCTIONS,
        # Nothing to validate in Mcp-Param-* headers: no tool declares x-mcp-header.
        get_tool_input_schema=lambda name: None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    server.middleware.clear()  # the SDK's OpenTelemetry span per message: not ours to emit
    return server


async def serve_stdio(caller: Caller) -> None:
    """Serve one MCP session over this process's stdin and stdout until the client
    closes it."""
    server = build_server(lambda ctx: caller)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
