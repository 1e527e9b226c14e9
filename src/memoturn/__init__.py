"""Memoturn: memory for AI agents.

Each profile (a user, team or persona) is its own tiny database that checkpoints, rewinds and
branches as one unit. ``memoturn.open(directory)`` gives the engine in process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from memoturn.engine import Engine

__version__ = "0.1.0"

__all__ = [
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
    return Engine(path, **options)


from memoturn.client import AsyncClient, Client  # noqa: E402  (the SDK; appended)

__all__ += ["AsyncClient", "Client"]
