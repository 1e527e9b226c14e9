"""ASGI middleware at the edge: the request-body limit, write forwarding to the node that
holds a profile's writer lease, and one log line plus one latency observation per request.

The log line names the method, the route *template* (never the concrete path: KV keys and
topics are user content), the status, the duration and the profile; never a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memoturn.core.errors import InvalidInput, MemoturnError, TooLarge, Unavailable
from memoturn.core.limits import FORWARD_TIMEOUT_S, MAX_IMPORT_BYTES
from memoturn.http.metrics import NodeMetrics

log = logging.getLogger("memoturn.http")

WRITER_HEADER = "X-Memoturn-Writer"
"""On a 503 for a write: the address of the node that holds the writer lease."""
FORWARDED_HEADER = "X-Memoturn-Forwarded"
"""On a forwarded request: the node that forwarded it (such a request is never forwarded
again)."""
FORWARDED_TO_HEADER = "X-Memoturn-Forwarded-To"
"""On the answer to a forwarded write: the node that wrote it."""
FORWARD_DEADLINE_HEADER = "X-Memoturn-Forward-Deadline"
"""On a forwarded request: the wall-clock time (epoch seconds) after which the forwarding
node has given up on it. A writer that only gets to it later (it was frozen) refuses it, so
a write the client was told had failed is never applied behind its back."""
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Hop-by-hop headers, and those the forwarding rewrites.
_NOT_FORWARDED = frozenset(
    {
        b"host",
        b"content-length",
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"upgrade",
        b"te",
        b"trailer",
        b"proxy-authorization",
        b"proxy-connection",
        FORWARDED_HEADER.lower().encode(),
    }
)


def printable(text: object) -> str:
    """``text`` for a log line: control and other unprintable characters escaped, so user
    input (a path, a header) can never start a line of its own."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


async def send_error(send: Send, error: MemoturnError) -> None:
    body = json.dumps(error.to_dict()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if error.retryable:
        headers.append((b"retry-after", str(max(1, round(error.retry_after or 1))).encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


DRAIN_FACTOR = 8
"""A refused body up to this many times the limit is read and dropped before the 413."""
DRAIN_TIMEOUT_S = 10.0
"""The longest time spent reading a refused body."""
LAPSE_WAIT_S = 11.0
"""When the lease holder cannot be reached, how long a write waits for its lease to be
released or to lapse (the lease TTL, 10 s, and a margin) before it is answered 503."""
BODY_TIMEOUT_S = 30.0
"""A request's whole body must arrive this soon after its headers, else 408."""


_IMPORT_PATH = re.compile(r"/v1/namespaces/[^/]+/profiles/[^/]+/import")
_EXTRACT_PATH = re.compile(r"/v1/namespaces/[^/]+/profiles/[^/]+/sessions/[^/]+/extract")
IMPORT_FORWARD_TIMEOUT_S = 3600.0
"""How long a node waits for the writer's answer to a forwarded profile import."""


class BodyTimeout(InvalidInput):
    """The request body did not arrive in time (a slow or stalled client)."""

    status = 408


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413 before anything parses it: when
    Content-Length says so, else as soon as the streamed body passes the limit.

    The rest of a refused body is read and dropped first (up to :data:`DRAIN_FACTOR` times
    the limit, for at most :data:`DRAIN_TIMEOUT_S`): a client that sends its whole body
    before reading (Python's urllib) would otherwise see the connection reset, not the 413,
    because closing a socket with unread data in it sends a TCP reset."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout_s: float = BODY_TIMEOUT_S,
        max_import_bytes: int = MAX_IMPORT_BYTES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_import_bytes = max_import_bytes
        """A profile import (a whole export in one body) has its own limit."""

    async def _refuse(
        self, receive: Receive, send: Send, size: str, received: int, limit: int
    ) -> None:
        async def drain() -> None:
            nonlocal received
            while received <= self.max_bytes * DRAIN_FACTOR:
                message = await receive()
                if message["type"] != "http.request":
                    return
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drain(), DRAIN_TIMEOUT_S)
        await send_error(send, self._too_large(size, limit))

    def _too_large(self, size: str, limit: int) -> TooLarge:
        return TooLarge(
            f"the request body is {size} bytes; the limit is {limit}",
            hint="send fewer items per request, or split the document",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if scope["method"] == "POST" and _IMPORT_PATH.fullmatch(scope["path"]):
            limit = self.max_import_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(receive, send, declared.decode(), 0, limit)
            return
        # Read the whole body up front (it is at most max_bytes), then replay it.
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                error = BodyTimeout(
                    f"the request body did not arrive within {self.timeout_s:g} s",
                    hint="send the body at once; a slow link needs a smaller body",
                )
                await send_error(send, error)
                return
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await self._refuse(receive, send, f"more than {limit}", size, limit)
                else:
                    await send_error(send, self._too_large(f"more than {limit}", limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


class Forwarder:
    """The HTTP client that write forwarding uses: one connection pool per node, closed by
    the app's lifespan."""

    def __init__(self, node: str, timeout_s: float = FORWARD_TIMEOUT_S) -> None:
        self.node = node
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def send(
        self,
        writer: str,
        scope: Scope,
        body: bytes,
        lease_left: Callable[[], float] | None = None,
        timeout_s: float | None = None,
    ) -> httpx.Response | None:
        """Send the request of ``scope`` with ``body`` to ``writer``; ``None`` when the
        writer cannot be reached or does not answer in time.

        In time means within ``timeout_s``, and while the writer holds its lease: each time
        the lease would lapse, ``lease_left`` (seconds, read afresh) is asked again, and a
        writer that has stopped renewing (it hangs, or was stopped) is given up on then.
        ``timeout_s`` overrides the forwarder's own (a profile import may take minutes).
        """
        total = timeout_s if timeout_s is not None else self._timeout_s
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        url = writer.rstrip("/") + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        give_up = time.monotonic() + total
        try:
            wait = total if lease_left is None else await asyncio.to_thread(lease_left)
        except MemoturnError as e:
            log.warning("forwarding to %s: its lease cannot be read: %s", writer, printable(e))
            return None
        if wait <= 0:
            return None  # the lease lapsed already: the client's retry takes it over here
        # The writer must start on it while its lease holds (then this node gives up); one
        # second at least, for the trip.
        wait = max(wait, 1.0)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _NOT_FORWARDED]
        headers.append((FORWARDED_HEADER.lower().encode(), self.node.encode()))
        deadline = f"{time.time() + min(wait, total):.3f}".encode()
        headers.append((FORWARD_DEADLINE_HEADER.lower().encode(), deadline))
        call = asyncio.ensure_future(
            self._client.request(scope["method"], url, headers=headers, content=body, timeout=total)
        )
        try:
            while True:
                wait = min(wait, give_up - time.monotonic())
                done, _ = await asyncio.wait({call}, timeout=max(0.0, wait))
                if done:
                    return call.result()
                if time.monotonic() >= give_up or lease_left is None:
                    raise httpx.TimeoutException(f"no answer in {total:g} s")
                wait = await asyncio.to_thread(lease_left)
                if wait <= 0:
                    raise httpx.TimeoutException("no answer, and its writer lease lapsed")
        except (httpx.HTTPError, MemoturnError) as e:
            log.warning(
                "forwarding %s %s to %s failed: %s",
                scope["method"],
                printable(scope["path"]),
                printable(writer),
                printable(e),
            )
            return None
        finally:
            if not call.done():
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await call

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class ForwardWrites:
    """A REST write refused because another node holds the profile's writer lease (a 503
    carrying :data:`WRITER_HEADER`) is sent on to that node, and its answer, whatever it
    is, goes back as this node's, marked with :data:`FORWARDED_TO_HEADER`. The caller's
    own credentials go with it: the writer authorises the request itself.

    A request is forwarded once at most (:data:`FORWARDED_HEADER` marks it). When the
    writer cannot be reached or stops answering (it shuts down, died or hangs), the write
    waits for the writer's lease to be released or to lapse (within the lease TTL) and is
    then made here; otherwise the 503 goes back, with Retry-After worked out then. A
    forwarded write that timed out may have been applied: retry it with an
    ``idempotency_key`` where the call takes one.
    """

    def __init__(self, app: ASGIApp, forwarder: Forwarder) -> None:
        self.app = app
        self.forwarder = forwarder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _past_deadline(scope):
            error = Unavailable(
                "the node that forwarded this write gave up on it before it arrived here",
                hint="retry the write",
                retry_after=1,
            )
            await send_error(send, error)
            return
        if (
            scope["type"] != "http"
            or scope["method"] not in _WRITE_METHODS
            or not scope["path"].startswith("/v1/")
            or any(k.lower() == FORWARDED_HEADER.lower().encode() for k, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        body, rest = await _read_body(receive)  # BodyLimit, outside, has bounded it
        held: list[Message] = []
        writer = ""

        async def hold_refusal(message: Message) -> None:
            nonlocal writer
            if message["type"] == "http.response.start" and message["status"] == 503:
                found = dict(message.get("headers", [])).get(WRITER_HEADER.lower().encode())
                writer = found.decode("latin-1") if found else ""
            if writer:
                held.append(message)
            else:
                await send(message)

        await self.app(
            scope, _replay([{"type": "http.request", "body": body}, *rest], receive), hold_refusal
        )
        if not writer:
            return
        lease_left = scope.get("state", {}).get("writer_lease_left")
        # A profile import embeds every text it loads, an extraction waits for a model: the
        # writer may take minutes.
        is_import = scope["method"] == "POST" and (
            _IMPORT_PATH.fullmatch(scope["path"]) or _EXTRACT_PATH.fullmatch(scope["path"])
        )
        answer = await self.forwarder.send(
            writer, scope, body, lease_left, IMPORT_FORWARD_TIMEOUT_S if is_import else None
        )
        if answer is None:
            if lease_left is not None and await _lapses(lease_left, LAPSE_WAIT_S):
                # The holder is gone (it stopped, died or hangs) and its lease is free: the
                # write is made here. Nothing was written by the first try (the lease is
                # checked before a write starts), so running it again is safe.
                scope["state"].pop("writer_lease_left", None)
                again = _replay([{"type": "http.request", "body": body}, *rest], receive)
                await self.app(scope, again, send)
                return
            await self._send_refusal(held, send, lease_left)
            return
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in answer.headers.multi_items()
            if k.lower().encode("latin-1") not in _NOT_FORWARDED
            and k.lower() not in ("content-encoding", "date", "server")
        ]
        headers += [
            (b"content-length", str(len(answer.content)).encode()),
            (FORWARDED_TO_HEADER.lower().encode(), writer.encode("latin-1")),
        ]
        await send(
            {"type": "http.response.start", "status": answer.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": answer.content})

    @staticmethod
    async def _send_refusal(
        held: list[Message], send: Send, lease_left: Callable[[], float] | None
    ) -> None:
        """The 503 as the app gave it, with Retry-After worked out now (the forward took
        time): once the writer's lease has lapsed, the retry takes the lease over."""
        for message in held:
            if message["type"] == "http.response.start" and lease_left is not None:
                try:
                    left = await asyncio.to_thread(lease_left)
                except MemoturnError:
                    left = 1.0
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"retry-after"]
                headers.append((b"retry-after", str(max(1, math.ceil(left))).encode()))
                message = {**message, "headers": headers}
            await send(message)


async def _lapses(lease_left: Callable[[], float], budget_s: float) -> bool:
    """Whether the holder's lease is released or lapses within ``budget_s`` seconds."""
    give_up = time.monotonic() + budget_s
    while True:
        try:
            left = await asyncio.to_thread(lease_left)
        except MemoturnError:
            return False
        if left <= 0:
            return True
        pause = min(left, 0.25)
        if time.monotonic() + pause > give_up:
            return False
        await asyncio.sleep(pause)


def _past_deadline(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key.lower() == FORWARD_DEADLINE_HEADER.lower().encode():
            try:
                return time.time() > float(value)
            except ValueError:
                return False
    return False


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole request body, and any non-body message that came instead (a disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


class Observe:
    """One structured log line and one latency observation per request."""

    def __init__(self, app: ASGIApp, metrics: NodeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, seconds)
            log.info(
                "%s %s %d %.1fms profile=%s",
                scope["method"],
                template,
                status,
                seconds * 1000,
                printable(state.get("profile_id", "-")),
                extra={
                    "http_method": scope["method"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "profile_id": state.get("profile_id"),
                },
            )
