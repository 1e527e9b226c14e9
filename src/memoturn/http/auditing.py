"""The audit hook of the REST edge: every call under ``/v1/namespaces/{ns}/`` whose policy
asks for it, refused ones (401/403) included, gets one audit event, and its answer is held
back until that event is durable (:meth:`~memoturn.engine.audit.AuditLog.submit`).

It sits here, at the edge, because only here are refused calls visible; it knows the
operation from the route's name, the names from the route's path parameters, the caller
from the grant that :func:`memoturn.http.auth.grant` keeps on the request, and takes only
``txid``, server-made ids and counts from the answer (:func:`memoturn.engine.audit.facts`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memoturn.core.errors import InvalidInput, Unavailable
from memoturn.core.ids import new_id
from memoturn.core.names import check_name
from memoturn.engine.audit import Actor, AuditLog, Call
from memoturn.engine.tokens import Grant
from memoturn.http.edge import FORWARDED_TO_HEADER, send_error

log = logging.getLogger("memoturn.http")

REQUEST_ID_HEADER = "X-Request-Id"
"""On every answer under /v1/namespaces/: the id its audit event carries."""
_MAX_ANSWER_BYTES = 4 * 1024 * 1024


class Audited:
    """ASGI middleware: hold each namespace call's answer until its audit event is durable.
    A forwarded write is audited by the node that wrote it, not again here."""

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/namespaces/"):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        # One id per request: the audit event, the log lines and the answer's header.
        request_id = new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        await self.app(scope, receive, hold)
        start = held[0] if held else None
        if start is not None and start["type"] == "http.response.start":
            headers = list(start.get("headers", []))
            forwarded = any(k.lower() == FORWARDED_TO_HEADER.lower().encode() for k, _ in headers)
            call = (
                None
                if forwarded or self._not_wanted(scope)
                else _call(scope, start["status"], held[1:], request_id)
            )
            if call is not None:
                try:
                    done = await asyncio.to_thread(self.audit.submit, call)
                    if done is not None:
                        await asyncio.wrap_future(done)
                except Exception:
                    log.error("audit event of %s not durable", call.op, exc_info=True)
                    await send_error(
                        send,
                        Unavailable(
                            "the call's audit event could not be written to the object store",
                            hint="retry; a write may have been applied (retry it with its "
                            "idempotency_key where it takes one)",
                        ),
                    )
                    return
            if not any(k.lower() == REQUEST_ID_HEADER.lower().encode() for k, _ in headers):
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
            held[0] = {**start, "headers": headers}
        for message in held:
            await send(message)

    def _not_wanted(self, scope: Scope) -> bool:
        """Whether the cached policy says this call needs no event: then no thread hop and
        no parsing of the answer (the common case, audit off). Unsure means no."""
        params: dict[str, Any] = scope.get("path_params") or {}
        ns, route = _name(params.get("ns")), scope.get("route")
        if ns is None or route is None:
            return False  # _call decides (it finds nothing to audit under)
        profile = _name(params.get("profile")) if "profile" in params else None
        if "profile" in params and profile is None:
            return False
        op = getattr(route, "name", "unknown")
        return self.audit.wants_cached(ns, profile, op) is False


def _call(scope: Scope, status: int, body: list[Message], request_id: str) -> Call | None:
    params: dict[str, Any] = scope.get("path_params") or {}
    route = scope.get("route")
    ns = _name(params.get("ns"))
    if ns is None or route is None:
        return None  # no namespace named (or no such route): nothing to audit under
    state: dict[str, Any] = scope.get("state") or {}
    grant = state.get("grant")
    actor = (
        Actor(grant.kind, grant.subject, grant.token_id)
        if isinstance(grant, Grant)
        else Actor(None)
    )
    profile = _name(params.get("profile")) if "profile" in params else None
    branch = None
    if profile is not None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        branch = _name((query.get("branch") or ["main"])[-1])
    answer = _json(b"".join(m.get("body", b"") for m in body)) if status < 300 else None
    policy = state.get("audit_policy")
    return Call(
        namespace=ns,
        op=getattr(route, "name", "unknown"),
        status=status,
        actor=actor,
        profile=profile,
        branch=branch,
        request_id=request_id,
        answer=answer,
        policy=policy if isinstance(policy, dict) and status < 300 else None,
    )


def _name(value: object) -> str | None:
    try:
        return check_name(value, "name") if isinstance(value, str) else None
    except InvalidInput:
        return None


def _json(data: bytes) -> dict[str, Any] | None:
    if not data or len(data) > _MAX_ANSWER_BYTES:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
