"""Streamable HTTP MCP on a node: ``http_app(engine, authority)`` is an ASGI app to route
at ``/mcp``.

Every HTTP request is authenticated on its own (``Authorization: Bearer TOKEN``, the same
JWTs as the REST API) before the MCP SDK sees it, and its tool calls are authorised with that
token's grant. The binding of a namespace or root token may be narrowed with the query
string: ``/mcp?profile=alice`` (a namespace token) or ``/mcp?namespace=acme&profile=alice``
(the root token). ``?tools=memory_ingest,memory_recall`` offers only those tools and
``?compact=true`` gives agent-sized answers, as ``memoturn mcp --tools/--compact`` do.

The transport is stateless with JSON responses: no MCP session lives on the node, so any
node of a deployment answers any request and nothing is kept between requests.

The SDK's session manager needs a running task group. Enter :meth:`McpHttpApp.lifespan` in
the host app's lifespan for a clean shutdown; without it (a server started with
``lifespan="off"``) the first request starts the task group on the serving event loop
(asyncio), and it stops when that loop does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from memoturn.core.errors import InvalidInput, MemoturnError, Unauthorized
from memoturn.core.names import check_name
from memoturn.engine import Engine
from memoturn.engine.audit import Actor, AuditLog, Call
from memoturn.engine.tokens import Grant, TokenAuthority
from memoturn.mcp.backends import EngineBackend
from memoturn.mcp.server import Auditor, Caller, build_server
from memoturn.mcp.tools import Binding, allowed_tools, bind

CALLER = "memoturn.mcp.caller"
"""The ASGI scope key under which each request carries its :class:`Caller`."""


class McpHttpApp:
    """The ASGI app serving MCP over streamable HTTP for one engine."""

    def __init__(
        self, engine: Engine, authority: TokenAuthority, audit: AuditLog | None = None
    ) -> None:
        self._engine = engine
        self._authority = authority
        self._audit = audit
        self._server = build_server(_caller_of_request)
        self._sessions = StreamableHTTPSessionManager(
            app=self._server, json_response=True, stateless=True
        )
        self._running = False
        self._start_lock = asyncio.Lock()
        self._runner: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the MCP task group for the duration of the host app's lifespan."""
        async with self._sessions.run():
            self._running = True
            try:
                yield
            finally:
                self._running = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan and websocket events are the host app's
        try:
            scope[CALLER] = await self._caller(scope)
        except MemoturnError as e:
            await _send_error(send, e)
            return
        await self._ensure_running()
        await self._sessions.handle_request(scope, receive, send)

    async def _caller(self, scope: Scope) -> Caller:
        token = _bearer(scope)
        grant: Grant = await anyio.to_thread.run_sync(self._authority.verify, token)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        binding = bind(
            grant,
            _name(query, "namespace"),
            _name(query, "profile"),
            tools=allowed_tools(_single(query, "tools")),
            compact=_flag(query, "compact"),
        )
        backend = EngineBackend(self._engine, self._authority, lambda: grant, forward_token=token)
        return Caller(backend, binding, self._auditor(grant, binding))

    def _auditor(self, grant: Grant, binding: Binding) -> Auditor | None:
        """The audit hook of this caller's tool calls: the same one function the REST edge
        uses (:meth:`AuditLog.submit`), awaited until the event is durable."""
        audit = self._audit
        if audit is None:
            return None
        actor = Actor(grant.kind, grant.subject, grant.token_id)

        async def record(
            tool: str, arguments: Mapping[str, Any] | None, status: int, answer: Any
        ) -> None:
            args = arguments if isinstance(arguments, Mapping) else {}
            profile, branch = binding.profile or args.get("profile"), binding.branch
            branch = branch or args.get("branch") or "main"
            call = Call(
                namespace=binding.namespace,
                op=tool,
                status=status,
                actor=actor,
                profile=_checked_name(profile),
                branch=_checked_name(branch) if profile is not None else None,
                answer=answer if isinstance(answer, Mapping) else None,
            )
            done = await anyio.to_thread.run_sync(audit.submit, call)
            if done is not None:
                await asyncio.wrap_future(done)

        return record

    async def _ensure_running(self) -> None:
        if self._running:
            return
        async with self._start_lock:
            if self._running:
                return
            ready = asyncio.Event()

            async def run() -> None:
                async with self.lifespan():
                    ready.set()
                    await asyncio.Event().wait()  # until the event loop cancels it at exit

            self._runner = asyncio.get_running_loop().create_task(run(), name="memoturn-mcp")
            waiter = asyncio.ensure_future(ready.wait())
            await asyncio.wait({waiter, self._runner}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.is_set():
                waiter.cancel()
                self._runner.result()  # raises why it could not start


def http_app(
    engine: Engine, authority: TokenAuthority, audit: AuditLog | None = None
) -> McpHttpApp:
    """Streamable HTTP MCP for ``engine``, authenticating with ``authority``; each tool call
    is audited in ``audit`` when its policy asks. Route it at ``/mcp`` (e.g.
    ``app.router.add_route("/mcp", mcp_app)``); see the module docstring for the lifespan."""
    return McpHttpApp(engine, authority, audit)


def _checked_name(value: object) -> str | None:
    try:
        return check_name(value, "name") if isinstance(value, str) else None
    except InvalidInput:
        return None


def _caller_of_request(ctx: object) -> Caller:
    request = getattr(ctx, "request", None)
    caller = request.scope.get(CALLER) if request is not None else None
    if not isinstance(caller, Caller):
        raise RuntimeError("an MCP request reached the server without an authenticated caller")
    return caller


def _bearer(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized(
                    "the Authorization header is not a bearer token", hint="send 'Bearer TOKEN'"
                )
            return token.strip()
    return None


def _single(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInput(f"the query string names {key} more than once")
    return values[0]


def _name(query: dict[str, list[str]], key: str) -> str | None:
    value = _single(query, key)
    return None if value is None else check_name(value, key)


def _flag(query: dict[str, list[str]], key: str) -> bool:
    value = _single(query, key)
    if value is None:
        return False
    if value not in ("true", "false", "1", "0"):
        raise InvalidInput(f"{key} must be true or false, got {value!r}")
    return value in ("true", "1")


async def _send_error(send: Send, error: MemoturnError) -> None:
    body = json.dumps(error.to_dict()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if isinstance(error, Unauthorized):
        headers.append((b"www-authenticate", b'Bearer realm="memoturn"'))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
