"""A real node on a loopback port in a background thread, for tests and embedding.

with BackgroundServer(create_app(engine)) as server:
    httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from memoturn.core.names import ROOT_TOKEN_FILE

log = logging.getLogger("memoturn.http")


@dataclasses.dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one client connection may cost the node (``memoturn serve`` flags).

    ``header_timeout_s``: a connection must deliver a request's headers this soon after it
    opens or after its previous answer, else it is closed (uvicorn has no such timeout; a
    client that trickles headers would hold its socket for ever). ``keep_alive_s``: an idle
    keep-alive connection is closed after this. ``max_connections``: above this many open
    connections new requests are answered 503. The body has its own limit:
    :func:`~memoturn.http.create_app`'s ``body_timeout_s``."""

    header_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    max_connections: int = 1000

    def uvicorn_options(self) -> dict[str, Any]:
        return {
            "http": functools.partial(GuardedH11Protocol, header_timeout_s=self.header_timeout_s),
            "timeout_keep_alive": self.keep_alive_s,
            "limit_concurrency": self.max_connections,
        }


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not cycle:
            self._disarm()  # a request's headers are in

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request (and disarm)
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self._header_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.debug("closed a connection that sent no complete request headers in time")
            self.transport.close()


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn. Its protocol must be IPPROTO_TCP (not 0): asyncio
    sets TCP_NODELAY only on such sockets, and without it every keep-alive response waits
    for the client's delayed ACK (40 ms)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class BackgroundServer:
    """Serves an ASGI app with uvicorn on ``host`` (an OS-chosen port unless ``port`` is
    given) in a daemon thread; :attr:`url` is set once it accepts connections."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: ServerLimits | None = None,
    ) -> None:
        self._socket = listening_socket(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            **(limits or ServerLimits()).uvicorn_options(),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self, timeout_s: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ThrowawayNode:
    """A whole node for tests and demos: an engine on ``data_dir``, its app on a loopback
    port, and the root token. ``engine_options`` go to :func:`memoturn.open`;
    ``signing_seed`` to :func:`~memoturn.http.create_app`.

        with ThrowawayNode(tmp_path) as node:
            client = memoturn.Client(node.url, node.root_token)
    """

    def __init__(
        self, data_dir: str | Path, *, signing_seed: bytes | None = None, **engine_options: Any
    ) -> None:
        from memoturn import open as open_engine
        from memoturn.http.app import create_app

        self.data_dir = Path(data_dir)
        self.engine = open_engine(self.data_dir, **engine_options)
        self.app = create_app(self.engine, signing_seed=signing_seed)
        self.root_token = (self.data_dir / ROOT_TOKEN_FILE).read_text().strip()
        self.server = BackgroundServer(self.app)
        self.url = self.server.url
        if not self.engine.address:
            self.engine.address = self.url  # named in its writer leases: writes forward here

    def __enter__(self) -> ThrowawayNode:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.engine.close()
