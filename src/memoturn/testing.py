"""Throwaway nodes for tests, demos and examples: ``memoturn serve`` in a child process on a
free loopback port, on a temporary data directory that is removed when the node stops.

    with NodeProcess() as node:
        client = memoturn.Client(node.url, node.root_token)

Nodes of one deployment share an object store (and with it the token-signing key, so a
token minted on one is accepted by all):

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp, "bucket").as_uri()
        with NodeProcess(object_store=store) as a, NodeProcess(object_store=store) as b: ...

:func:`deployment` is what the examples use: the node at ``MEMOTURN_URL`` (with
``MEMOTURN_TOKEN``, and ``MEMOTURN_PEER_URL`` for a second node of the same deployment) when
one is given, else throwaway nodes it starts and stops.

Unlike :class:`memoturn.http.ThrowawayNode` (an engine in this process), a
:class:`NodeProcess` is a real, separate node: nothing is shared with the caller but the
network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

from memoturn.client._core import resolve_token
from memoturn.engine.tokens import ROOT_TOKEN_FILE

_LISTENING = re.compile(r"^Memoturn node listening on (http://\S+)$", re.M)


class NodeFailed(RuntimeError):
    """A throwaway node did not start (or died); the message carries its log's tail."""


class NodeProcess:
    """``memoturn serve`` as a child process on ``127.0.0.1`` and a port the OS picks.

    ``data_dir`` defaults to a fresh temporary directory (removed on :meth:`stop`);
    ``object_store`` is passed as ``--object-store`` (e.g. ``file:///tmp/x/bucket``);
    ``args`` are more ``serve`` flags; ``env`` adds environment variables. The child sees
    none of this process's ``MEMOTURN_*`` variables, so a node configured for the caller
    cannot leak into it. Its output goes to :attr:`log_path`.
    """

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        object_store: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._own_dir = data_dir is None
        self._home = Path(tempfile.mkdtemp(prefix="memoturn-node-")) if data_dir is None else None
        self.data_dir = Path(data_dir) if data_dir is not None else self._home / "data"  # type: ignore[operator]
        self.log_path = (self._home or self.data_dir.parent) / f"{self.data_dir.name}.log"
        self._command = [
            sys.executable, "-m", "memoturn.cli", "serve",
            "--data", str(self.data_dir), "--host", "127.0.0.1", "--port", "0",
            "--log-level", "warning",
            *(["--object-store", object_store] if object_store else []),
            *args,
        ]  # fmt: skip
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOTURN_")}
        self._env.update(env or {})
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.root_token = ""

    def start(self, timeout_s: float = 60.0) -> NodeProcess:
        """Start the node and return once it answers ``/readyz``."""
        return self.launch().wait_ready(timeout_s)

    def launch(self) -> NodeProcess:
        """Start the child process without waiting for it (see :meth:`wait_ready`), so
        several nodes can boot at once."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                self._command, stdout=log, stderr=subprocess.STDOUT, env=self._env
            )
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> NodeProcess:
        """Wait until the launched node answers ``/readyz``; :class:`NodeFailed` if it
        exits or does not get there within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not self.url:
            self._check_alive()
            found = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if found:
                self.url = found.group(1)
            elif time.monotonic() > deadline:
                self.stop()
                raise NodeFailed(f"the node did not start in {timeout_s:.0f} s\n{self.log_tail()}")
            else:
                time.sleep(0.05)
        self.root_token = (self.data_dir / ROOT_TOKEN_FILE).read_text().strip()
        while True:  # the socket is bound before uvicorn listens on it
            self._check_alive()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise NodeFailed(f"the node at {self.url} is not ready\n{self.log_tail()}")
            time.sleep(0.05)

    def _check_alive(self) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            code = self._process.returncode
            raise NodeFailed(f"the node exited with status {code}\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (the node ships what is pending and releases its leases), then SIGKILL if
        it has not exited within ``timeout_s``; the temporary directory is removed."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)

    def kill(self) -> None:
        """``kill -9`` the node: no shipping, no lease release (a crash). Its directory
        stays until :meth:`stop`."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<NodeProcess {self.url or 'not started'}>"


@dataclasses.dataclass(frozen=True)
class Deployment:
    """Where to reach Memoturn: one or more node URLs of one deployment and a token
    (root, when :func:`deployment` started the nodes)."""

    urls: list[str]
    token: str
    throwaway: bool
    """True when the nodes were started for the caller and are stopped afterwards."""
    object_store: str | None = None
    """The deployment's object store URL (``MEMOTURN_OBJECT_STORE`` for a node of your
    own), for the checks that read the store directly; ``None`` when not given."""

    @property
    def url(self) -> str:
        return self.urls[0]


@contextlib.contextmanager
def deployment(nodes: int = 1) -> Iterator[Deployment]:
    """The deployment at ``MEMOTURN_URL`` (plus ``MEMOTURN_PEER_URL``, another node on the
    same object store, if set; ``MEMOTURN_OBJECT_STORE``, that store's URL, if set) with
    ``MEMOTURN_TOKEN``, else the root token file of
    ``MEMOTURN_DATA`` / ``./.memoturn``. Without ``MEMOTURN_URL``: ``nodes`` throwaway
    nodes on one temporary object store, stopped on exit."""
    url = os.environ.get("MEMOTURN_URL")
    if url:
        token = resolve_token(None)
        if token is None:
            raise NodeFailed(
                f"MEMOTURN_URL is {url} but no token was given: set MEMOTURN_TOKEN (the "
                "node's root token; see DATA/root.token)"
            )
        peer = os.environ.get("MEMOTURN_PEER_URL")
        yield Deployment(
            [url.rstrip("/")] + ([peer.rstrip("/")] if peer else []),
            token,
            False,
            os.environ.get("MEMOTURN_OBJECT_STORE") or None,
        )
        return
    with tempfile.TemporaryDirectory(prefix="memoturn-deployment-") as tmp:
        store = (Path(tmp) / "bucket").as_uri()
        with contextlib.ExitStack() as stack:
            started = []
            for i in range(nodes):  # boot them side by side
                node = NodeProcess(data_dir=Path(tmp) / f"node-{i}", object_store=store)
                stack.callback(node.stop)
                started.append(node.launch())
            for node in started:
                node.wait_ready()
            yield Deployment([n.url for n in started], started[0].root_token, True, store)


__all__ = ["Deployment", "NodeFailed", "NodeProcess", "deployment"]
