"""Engines over a shared object store, as several nodes would see it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import memoturn
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.objectstore import ObjectStore


@pytest.fixture
def shared_store(tmp_path: Path) -> ObjectStore:
    return LocalDirStore(tmp_path / "store")


@pytest.fixture
def make_engine(
    tmp_path: Path, shared_store: ObjectStore, embedder: Any, clock: Any
) -> Iterator[Callable[..., memoturn.Engine]]:
    """``make_engine(**options)``: a new node with an empty local disk on the shared store."""
    engines: list[memoturn.Engine] = []

    def make(**options: Any) -> memoturn.Engine:
        options.setdefault("object_store", shared_store)
        options.setdefault("embedder", embedder)
        options.setdefault("clock", clock)
        eng = memoturn.open(tmp_path / f"node{len(engines)}", **options)
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        eng.close()


def provision(eng: memoturn.Engine, ns: str = "acme", name: str = "alice") -> Any:
    eng.create_namespace(ns)
    eng.create_profile(ns, name)
    return eng.profile(ns, name)


def state(p: Any) -> dict[str, Any]:
    """Everything a profile holds, as plain data (for before/after comparisons)."""
    return {
        "txid": p.txid,
        "memories": [
            (m.id, m.content, m.valid_to) for m in p.list_memories(include_history=True).memories
        ],
        "kv": [(i.key, i.value) for i in p.kv_list("s").items],
    }
