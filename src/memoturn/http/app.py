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

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

import memoturn
from memoturn.core.errors import (
    Internal,
    InvalidInput,
    MemoturnError,
    NotFound,
    Unavailable,
)
from memoturn.engine import Engine
from memoturn.engine.tokens import TokenAuthority
from memoturn.http import schemas
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
from memoturn.http.routes import admin, history, memories, sessions, store
from memoturn.http.schemas import ERROR_RESPONSES
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
    mcp = http_app(engine, tokens)
    forwarder = Forwarder(engine.node_id)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp.lifespan():  # the MCP session manager's task group
            try:
                yield
            finally:
                await forwarder.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="Memoturn",
        version=memoturn.__version__,
        description="Memory for AI agents. Every route under "
        "/v1/namespaces/{ns}/profiles/{profile} acts on exactly one profile.",
        responses=ERROR_RESPONSES,
    )
    app.state.node = Node(engine, tokens, metrics, max_body_bytes)
    # MCP over streamable HTTP; a route, not a mount (a mount would redirect /mcp to /mcp/).
    app.router.add_route("/mcp", mcp, include_in_schema=False)
    app.add_exception_handler(MemoturnError, _memoturn_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(ForwardWrites, forwarder=forwarder)  # inside BodyLimit: bounded bodies
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout_s=body_timeout_s)
    app.add_middleware(Observe, metrics=metrics)
    _node_routes(app)
    for module in (admin, memories, sessions, store, history):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _node_routes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=schemas.Status, tags=["node"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.Status, tags=["node"])
    def readyz(request: Request) -> dict[str, str]:
        """Readiness: the engine can read its catalog."""
        try:
            node_of(request).engine.list_namespaces()
        except OSError as e:
            log.warning("readiness check failed: %s", printable(e))
            raise Unavailable("the engine cannot read its data", retry_after=1) from e
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


# -- errors ---------------------------------------------------------------------------------


REQUEST_ID_HEADER = "X-Request-Id"
"""On an answer whose details went to the node's log only: the id the log line carries."""
_SHORT_REASONS = {
    503: "the object store did not answer",
    500: "the object store refused the request",
}


def _memoturn_error(request: Request, exc: MemoturnError) -> JSONResponse:
    headers = {}
    if not exc.public:
        # A store fault names paths and object keys: the log gets them, the client a short
        # reason and the id to find them by.
        request_id = secrets.token_hex(8)
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
    problems = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        problems.append(f"{loc}: {err.get('msg', 'invalid')}")
    invalid = InvalidInput(
        "; ".join(problems) or "invalid request",
        hint="see /openapi.json for the request schema",
    )
    return _memoturn_error(request, invalid)


def _http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        error: MemoturnError = NotFound(
            f"no route {request.method} {request.url.path}", hint="see /openapi.json"
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
