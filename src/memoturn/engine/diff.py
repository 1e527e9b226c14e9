"""The memories of two points of a profile's history compared (``GET P/diff``).

Each point (a branch head, a checkpoint, a txid; :mod:`memoturn.core.diff` says how they
are written) is resolved from its branch's manifest and read from a copy of the database at
that txid restored from the store, so a diff never moves, wakes or locks a branch other
than the one asked on, and works for any state history still holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memoturn.core.diff import Point, compare, parse_point
from memoturn.core.errors import NotFound
from memoturn.core.model import DiffPoint, Memory, MemoryDiff
from memoturn.engine.branches import _check_not_erased
from memoturn.profile.past import current_memories
from memoturn.storage import manifest as manifests
from memoturn.storage.manifest import Manifest
from memoturn.storage.replica import build_image
from memoturn.storage.restore import open_image_in_memory

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine, Key
    from memoturn.profile.profile import Profile


def memory_diff(engine: Engine, key: Key, from_: str, to: str) -> MemoryDiff:
    """Compare the current memories at ``from_`` and ``to``, asked on branch ``key``."""
    db, branch = key
    a, b = parse_point(from_, "from", branch), parse_point(to, "to", branch)

    def clock(p: Profile) -> tuple[float, float | None, int]:
        now = p.clock.now()
        return now, p.retained_after(now), p.txid

    # Through the live branch: its clock, its retention (the effective policy) and txid.
    now, retained_after, txid = engine._run(key, clock)
    (ma, ta), (mb, tb) = _resolve(engine, db, a, now), _resolve(engine, db, b, now)
    before = _memories(engine, ma, ta, now, retained_after)
    after = before if (ma.id, ta) == (mb.id, tb) else _memories(engine, mb, tb, now, retained_after)
    added, removed, changed = compare(before, after)
    return MemoryDiff(
        DiffPoint(a.spec, a.branch, ta), DiffPoint(b.spec, b.branch, tb),
        added, removed, changed, txid,
    )  # fmt: skip


def _resolve(engine: Engine, db: str, point: Point, now: float) -> tuple[Manifest, int]:
    engine._flush_if_open((db, point.branch))  # what this node queued is in the store
    m, _ = manifests.load(engine.store, db, point.branch)
    if m.expires_at is not None and m.expires_at <= now:
        raise NotFound(f"branch {point.branch!r} has expired")
    if point.name is not None:
        pin = m.checkpoints.get(point.name)
        if pin is None:
            raise NotFound(f"no checkpoint {point.name!r} on branch {point.branch!r}")
        _check_not_erased(m, pin.txid)
        return m, pin.txid
    if point.txid is not None:
        m.run_for(point.txid)  # NotFound outside the branch's history
        _check_not_erased(m, point.txid)  # a state an erasure is still removing
        return m, point.txid
    return m, m.head


def _memories(
    engine: Engine, m: Manifest, txid: int, now: float, retained_after: float | None
) -> list[Memory]:
    conn = open_image_in_memory(build_image(engine.store, m, txid))
    try:
        return current_memories(conn, now, retained_after)
    finally:
        conn.close()
