"""Memoturn: memory for AI agents.

Each profile (a user, team or persona) is its own tiny database that checkpoints, rewinds and
branches as one unit. ``memoturn.open(directory)`` gives the engine in process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from memoturn.client import AsyncClient, Client
from memoturn.core.errors import (
    Conflict,
    Forbidden,
    Internal,
    InvalidInput,
    MemoturnError,
    NotFound,
    RateLimited,
    TooLarge,
    TxidTimeout,
    Unauthorized,
    Unavailable,
)

if TYPE_CHECKING:
    from memoturn.engine import Engine

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "Conflict",
    "Engine",
    "Forbidden",
    "Internal",
    "InvalidInput",
    "MemoturnError",
    "NotFound",
    "RateLimited",
    "TooLarge",
    "TxidTimeout",
    "Unauthorized",
    "Unavailable",
    "__version__",
    "open",
]


def open(path: str | Path, **options: Any) -> Engine:
    """Open (or create) a Memoturn data directory in process; see :class:`Engine`."""
    from memoturn.engine import Engine

    return Engine(path, **options)


def __getattr__(name: str) -> Any:
    # The engine loads the database, object store and embedder: only when asked for, so
    # ``import memoturn`` for the SDK stays light.
    if name == "Engine":
        from memoturn.engine import Engine

        return Engine
    raise AttributeError(f"module 'memoturn' has no attribute {name!r}")
