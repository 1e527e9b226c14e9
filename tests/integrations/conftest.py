"""The adapters' conformance suites run against every way to reach Memoturn: the
in-process engine, and a real node on a loopback port through the sync and the async SDK.

Each test gets a ``target`` and opens its client inside its own event loop (an async client
belongs to the loop it was made in) with ``async with target.connect() as client``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import memoturn
from memoturn.core.clock import ManualClock
from memoturn.http import ThrowawayNode

NS = "acme"
KINDS = ("engine", "client", "async_client")


@dataclass
class Target:
    kind: str
    clock: ManualClock
    engine: Any = None
    node: ThrowawayNode | None = None

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Any]:
        if self.kind == "engine":
            yield self.engine
        elif self.kind == "client":
            assert self.node is not None
            with memoturn.Client(self.node.url, self.node.root_token) as c:
                yield c
        else:
            assert self.node is not None
            async with memoturn.AsyncClient(self.node.url, self.node.root_token) as c:
                yield c

    @contextlib.contextmanager
    def connect_sync(self) -> Iterator[Any]:
        if self.kind == "engine":
            yield self.engine
        else:
            assert self.node is not None
            with memoturn.Client(self.node.url, self.node.root_token) as c:
                yield c


def fresh(prefix: str = "p") -> str:
    """A profile name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def adapter_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def adapter_engine(tmp_path_factory, embedder, adapter_clock) -> Iterator[memoturn.Engine]:
    with memoturn.open(
        tmp_path_factory.mktemp("adapter-engine"), embedder=embedder, clock=adapter_clock
    ) as eng:
        eng.create_namespace(NS)
        yield eng


@pytest.fixture(scope="module")
def adapter_node(tmp_path_factory, embedder, adapter_clock) -> Iterator[ThrowawayNode]:
    data = tmp_path_factory.mktemp("adapter-node")
    with ThrowawayNode(data, embedder=embedder, clock=adapter_clock, min_txid_wait_s=0.5) as n:
        n.engine.create_namespace(NS)
        yield n


@pytest.fixture(params=KINDS)
def target(request, adapter_clock, adapter_engine, adapter_node) -> Target:
    if request.param == "engine":
        return Target("engine", adapter_clock, engine=adapter_engine)
    return Target(request.param, adapter_clock, node=adapter_node)


@pytest.fixture(params=("engine", "client"))
def sync_target(request, adapter_clock, adapter_engine, adapter_node) -> Target:
    """The edges sync code can use (an async client cannot serve sync code)."""
    if request.param == "engine":
        return Target("engine", adapter_clock, engine=adapter_engine)
    return Target("client", adapter_clock, node=adapter_node)
