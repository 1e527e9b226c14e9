"""Reads of a past state of a profile-branch: a connection to a copy of its database at one
txid (the engine restores it from the store), read without the live profile."""

from __future__ import annotations

from typing import Any

from memoturn.core.model import Memory
from memoturn.profile import rows


def current_memories(conn: Any, now: float, retained_after: float | None) -> list[Memory]:
    """The memories current in a past state (what recall returns by default): not
    superseded nor forgotten, not expired at ``now``, created after ``retained_after``.
    ``conn``: an apsw connection to the state's database (empty at txid 0)."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memories'"
    ).fetchall()
    if not found:  # the empty database (txid 0)
        return []
    return [
        rows.memory(r)
        for r in conn.execute(
            f"SELECT {rows.MEMORY_COLUMNS} FROM memories WHERE valid_to IS NULL "
            "AND (expires_at IS NULL OR expires_at > ?) AND created_at > ? ORDER BY id",
            (now, -1.0 if retained_after is None else retained_after),
        )
    ]
