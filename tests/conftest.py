"""Shared fixtures: the real embedder (loaded once per run), a manual clock, an engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import memoturn
from memoturn.core.clock import ManualClock
from memoturn.embed import LocalEmbedder, default_embedder


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return default_embedder()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(
    tmp_path: Path, embedder: LocalEmbedder, clock: ManualClock
) -> Iterator[memoturn.Engine]:
    with memoturn.open(tmp_path / "data", embedder=embedder, clock=clock) as eng:
        yield eng


@pytest.fixture
def profile(engine: memoturn.Engine):  # type: ignore[no-untyped-def]
    engine.create_namespace("acme")
    engine.create_profile("acme", "alice")
    return engine.profile("acme", "alice")
