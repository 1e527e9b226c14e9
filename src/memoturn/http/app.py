"""The REST app: ``create_app(engine)`` serves every route of API.md over one engine.

Errors leave through one handler on :class:`~memoturn.core.errors.MemoturnError`; foreign
errors (request validation, unknown routes, bugs) are translated into that family first, so
every error body is ``{"error": {"code", "message", "hint"}}``. FastAPI's 422 never appears:
validation failures are 400 and the OpenAPI document says so.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

import memoturn
from memoturn.core import validate
from memoturn.core.errors import (
    Internal,
    InvalidInput,
    MemoturnError,
    NotFound,
    Unavailable,
)
from memoturn.engine import Engine
from memoturn.engine.audit import Actor, AuditLog
from memoturn.engine.audit import Call as AuditCall
from memoturn.engine.tokens import TokenAuthority
from memoturn.http import schemas
from memoturn.http.auditing import REQUEST_ID_HEADER, Audited
from memoturn.http.auth import Node, node_of
from memoturn.http.edge import (
    BODY_TIMEOUT_S,
    WRITER_HEADER,
    BodyLimit,
    Forwarder,
    ForwardWrites,
    Observe,
    printable,
)
from memoturn.http.metrics import CONTENT_TYPE_LATEST, NodeMetrics
from memoturn.http.routes import admin, gc, governance, history, memories, sessions, store, transfer
from memoturn.http.schemas import ERROR_RESPONSES
from memoturn.http.ui import router as ui_router
from memoturn.mcp import http_app
from memoturn.storage.lease import HeldElsewhere

MAX_BODY_BYTES = 2 * 1024 * 1024
"""Largest request body accepted (413 above it, before parsing)."""

log = logging.getLogger("memoturn.http")


def create_app(
    engine: Engine,
    *,
    signing_seed: bytes | None = None,
    key_encryption_key: bytes | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout_s: float = BODY_TIMEOUT_S,
    metrics: NodeMetrics | None = None,
    write_root_token: bool = True,
) -> FastAPI:
    """The node's REST app over ``engine``.

    ``signing_seed`` (32 bytes) overrides the deployment's token-signing secret
    (``MEMOTURN_SIGNING_KEY``); else the secret lives in the object store, sealed with
    ``key_encryption_key`` (``MEMOTURN_KEY_ENCRYPTION_KEY``) when given. With
    ``write_root_token`` the root token is written to ``DATA/root.token`` (mode 0600)
    unless a valid one is there. A request body must
    arrive within ``body_timeout_s`` of its headers (408 otherwise).
    """
    tokens = TokenAuthority(engine, seed=signing_seed, kek=key_encryption_key)
    if write_root_token:
        tokens.ensure_root_token()
    metrics = metrics or NodeMetrics()
    metrics.track_open_profiles(engine.open_profile_count)
    metrics.track_hibernated_profiles(engine.events.hibernated_count)
    if engine.on_segment_shipped is None:
        engine.on_segment_shipped = lambda txid, n, seconds: metrics.segment_uploaded(n, seconds)
    if engine.on_lease_event is None:
        engine.on_lease_event = metrics.lease_event
    events = engine.events
    if events.on_wake is None and events.on_hibernate is None:
        events.on_wake, events.on_hibernate = metrics.woke, metrics.hibernated
        events.on_segment_failed = metrics.segment_upload_failed
    audit = AuditLog(
        engine.store, engine.policies, engine.clock, engine.node_id, tokens.signing_key
    )
    engine.erasure_signing_key = tokens.signing_key  # erasure receipts: the deployment's key

    def erasure_phase(ns: str, profile: str, branch: str, op: str, txid: int | None, n: int):
        answer = {"txid": txid, "count": n} if txid is not None else {"count": n}
        audit.submit(
            AuditCall(ns, op, 200, Actor("node", engine.node_id), profile=profile,
                      branch=branch, answer=answer)
        )  # fmt: skip

    engine.on_erasure_phase = erasure_phase
    mcp = http_app(engine, tokens, audit)
    forwarder = Forwarder(engine.node_id)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp.lifespan():  # the MCP session manager's task group
            try:
                yield
            finally:
                await forwarder.aclose()
                audit.close()  # what is queued is written; every chain's head sealed

    app = FastAPI(
        lifespan=lifespan,
        title="Memoturn",
        version=memoturn.__version__,
        description="Memory for AI agents. Every route under "
        "/v1/namespaces/{ns}/profiles/{profile} acts on exactly one profile.",
        responses=ERROR_RESPONSES,
        dependencies=[Depends(_known_query_parameters)],
    )
    app.state.node = Node(engine, tokens, metrics, max_body_bytes, audit)
    app.state.audit = audit
    # MCP over streamable HTTP; a route, not a mount (a mount would redirect /mcp to /mcp/).
    app.router.add_route("/mcp", mcp, include_in_schema=False)
    app.add_exception_handler(MemoturnError, _memoturn_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(ForwardWrites, forwarder=forwarder)  # inside BodyLimit: bounded bodies
    app.add_middleware(Audited, audit=audit)  # outside forwarding: sees the final answer
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout_s=body_timeout_s)
    app.add_middleware(Observe, metrics=metrics)
    _node_routes(app)
    for module in (admin, memories, sessions, store, history, gc, governance, transfer):
        app.include_router(module.router)
    app.include_router(ui_router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _node_routes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=schemas.Status, tags=["node"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.Status, tags=["node"])
    def readyz(request: Request) -> dict[str, str]:
        """Readiness: the object store answers (the catalog lists) and the token-signing
        key is the deployment's (503 otherwise, with the reason)."""
        node = node_of(request)
        try:
            node.engine.list_namespaces()
        except OSError as e:
            log.warning("readiness check failed: %s", printable(e))
            raise Unavailable("the engine cannot read its data", retry_after=1) from e
        node.tokens.check()
        return {"status": "ready"}

    @app.get(
        "/metrics",
        tags=["node"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus"}},
    )
    def metrics(request: Request) -> Response:
        """Prometheus metrics of this node."""
        return Response(node_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _known_query_parameters(request: Request) -> None:
    """An unknown query parameter is a 400, like an unknown body field: ``?topics=x`` must
    not quietly list everything. Async: it reads nothing, so it runs on the event loop
    instead of costing every request a hop to a worker thread."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    known = _query_names(route)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(
            f"unknown query parameters: {', '.join(unknown)}",
            hint="known here: " + (", ".join(sorted(known)) or "none"),
        )


def _query_names(route: Any) -> frozenset[str]:
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        found: set[str] = set()
        stack = [route.dependant]
        while stack:
            dependant = stack.pop()
            found.update(p.alias for p in dependant.query_params)
            stack.extend(dependant.dependencies)
        names = _QUERY_NAMES[id(route)] = frozenset(found)
    return names


_QUERY_NAMES: dict[int, frozenset[str]] = {}
"""By id of the route (routes live as long as the app)."""


# -- errors ---------------------------------------------------------------------------------


_SHORT_REASONS = {
    503: "the object store did not answer",
    500: "the object store refused the request",
}


def _memoturn_error(request: Request, exc: MemoturnError) -> JSONResponse:
    headers = {}
    if not exc.public:
        # A store fault names paths and object keys: the log gets them, the client a short
        # reason and the id to find them by.
        request_id = getattr(request.state, "request_id", None) or secrets.token_hex(8)
        log.warning(
            "%s %s answered %d, request id %s: %s",
            printable(request.method),
            printable(request.scope.get("route") and request.scope["route"].path),
            exc.status,
            request_id,
            printable(exc),
        )
        headers[REQUEST_ID_HEADER] = request_id
        exc = exc.redacted(_SHORT_REASONS.get(exc.status, "the node failed"), request_id)
    if isinstance(exc, HeldElsewhere) and exc.writer:
        headers[WRITER_HEADER] = exc.writer  # ForwardWrites sends the write there
        if exc.time_left is not None:
            request.state.writer_lease_left = exc.time_left  # ... as long as it holds on
    if exc.retryable and exc.status == 503:
        headers["Retry-After"] = str(max(1, round(exc.retry_after or 1)))
    elif exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = _phrased(errors[0]) if errors else InvalidInput("invalid request")
    if len(errors) > 1:
        first = InvalidInput(
            f"{first.message} (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})",
            hint=first.hint,
        )
    return _memoturn_error(request, first)


_KINDS = {
    "int": "an integer",
    "float": "a number",
    "string": "a string",
    "bool": "a boolean",
    "dict": "an object",
    "model": "an object",
    "list": "an array",
}


def _phrased(err: Any) -> InvalidInput:
    """A pydantic error in the words every edge uses (:mod:`memoturn.core.validate`): the
    field as the caller named it, no ``body.`` location, no pointer to the schema."""
    loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path")]
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    field = field or "the request body"
    kind, ctx, value = err.get("type", ""), err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return validate.missing([field])
    if kind == "extra_forbidden":
        return validate.unknown([field], [])
    if kind.endswith(("_type", "_parsing")) and kind.split("_")[0] in _KINDS:
        return validate.wrong_type(field, _KINDS[kind.split("_")[0]], value)
    if kind == "value_error":
        return InvalidInput(str(err.get("msg", "invalid")).removeprefix("Value error, "))
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        return InvalidInput(f"{field} must be one of {expected}; got {value!r}")
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("more than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return InvalidInput(f"{field} must be {words} {ctx.get(key)}, got {value!r}")
    return InvalidInput(f"{field}: {err.get('msg', 'invalid')}")


def _http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        error: MemoturnError = NotFound(
            f"no route {request.method} {request.url.path}",
            hint="the routes are listed in docs/api.md and at /openapi.json",
        )
        return _memoturn_error(request, error)
    body = {"error": {"code": "invalid", "message": str(exc.detail), "hint": ""}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unexpected error in %s %s",
        printable(request.method),
        printable(request.url.path),
        exc_info=exc,
    )
    error = Internal("internal error", hint="this is a bug; the node's log has the details")
    return _memoturn_error(request, error)


# -- OpenAPI --------------------------------------------------------------------------------


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, without the 422 it would advertise (we answer 400)."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        schemas_ = doc.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas_.pop(name, None)
        app.openapi_schema = doc
    return app.openapi_schema
