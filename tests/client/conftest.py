"""A real node on a loopback port for the SDK tests (one per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memoturn.core.clock import ManualClock
from memoturn.http import ThrowawayNode


@pytest.fixture(scope="module")
def sdk_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def sdk_node(tmp_path_factory, embedder, sdk_clock) -> Iterator[ThrowawayNode]:
    data = tmp_path_factory.mktemp("sdk-node")
    with ThrowawayNode(data, embedder=embedder, clock=sdk_clock, min_txid_wait_s=0.2) as n:
        yield n
