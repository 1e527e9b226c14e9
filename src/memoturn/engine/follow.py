"""Reads on a node that does not hold a branch's writer lease: bounded staleness.

Such a node serves its own copy of the branch. Before a call it checks the store's manifest
head at most once per ``staleness_s`` (engine clock; :data:`STALENESS_S` by default): within
the bound a call costs no store read, and when the head moved the copy catches up before the
call runs. So a write acknowledged on another node is visible here at most ``staleness_s``
after its acknowledgement, never later (``min_txid`` makes it visible at once).

Catching up is incremental when the history only grew on the run the copy stands on: the
new segments' pages are written into the local database file (cost: the change), which is
then reopened (a copy served from memory: into a copy of its image, opened again); its
vector indexes are loaded again only when a call needs them (a recall).
Anything else — a rewind (a new run), another incarnation of the branch, local commits not
in history, more new segments than a wake would apply, a missing segment — drops the copy
and the next call wakes the branch at the head.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from memoturn.storage import manifest as manifests
from memoturn.storage.manifest import Manifest
from memoturn.storage.replica import Replica
from memoturn.storage.restore import apply_to_file, apply_to_image
from memoturn.storage.segment import Segment

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine, OpenBranch

STALENESS_S = 1.0
"""How old a copy a node that is not the writer serves, at most (seconds)."""
_FETCHERS = 8

log = logging.getLogger("memoturn.engine")


def follow_plan(known: Manifest, m: Manifest, txid: int) -> list[int] | None:
    """The segment txids that take a copy at ``txid`` of manifest ``known`` to the head of
    ``m``, if the history only grew on the copy's run; else ``None`` (wake instead)."""
    if m.id != known.id or txid != known.head or txid == 0 or m.head <= txid:
        return None
    if m.runs != known.runs:
        return None  # a rewind appended a run: the copy's state is not on the new head's
    txids = list(range(txid + 1, m.head + 1))
    if len(txids) > m.restore_length(m.head):
        return None  # a wake from the newest snapshot applies fewer
    return txids


class FollowOps:
    """Mixin of :class:`~memoturn.engine.engine.Engine`."""

    def _fresh_enough(self: Engine, ob: OpenBranch, *, now_please: bool = False) -> bool:
        """Make ``ob`` no older than the staleness bound (``now_please``: than now);
        ``False`` if it was dropped instead (the caller acquires the branch again, which
        wakes it at the head)."""
        if not now_please and (
            ob.lease.valid() or self.clock.now() - ob.checked_at < self.staleness_s
        ):
            return True  # the writer's copy is the head; or checked within the bound
        with ob.follow_lock:
            now = self.clock.now()
            if ob.closed or ob.poisoned:
                return False
            if not now_please and now - ob.checked_at < self.staleness_s:
                return True  # another call checked meanwhile
            m, etag = manifests.load(self.store, *ob.key)
            if not self._catch_up(ob, m, etag):
                return False
            # Only now: calls arriving meanwhile waited above instead of reading the old
            # copy. The clock was read before the manifest, so the bound is never late.
            ob.checked_at = now
            return True

    def _catch_up(self: Engine, ob: OpenBranch, m: Manifest, etag: str) -> bool:
        """Bring ``ob`` to manifest ``m`` (just read); ``False`` if it was dropped."""
        known = ob.replica.manifest
        if known.head != ob.profile.txid:
            return True  # this node's own commits are still being shipped (local mode)
        if m.id == known.id and m.head == known.head:
            return True
        txids = follow_plan(known, m, ob.profile.txid)
        if txids is None or ob.replica.uncaptured:
            self.events.followed("wake")
            self._discard(ob)
            return False
        try:
            segments = self._fetch_segments(m, txids)
        except Exception:
            log.warning("catching up %s from segments failed; waking it", ob.key, exc_info=True)
            self.events.followed("failed")
            self._discard(ob)
            return False
        ob.gate.try_exclusive()
        try:
            if ob.closed or ob.poisoned:
                return False
            ob.poisoned = True  # until the caught-up copy is attached
            ob.replica.close()
            if ob.in_memory:  # the same, on a copy of the image (no file, no store read)
                image = bytearray(ob.profile.db.conn.serialize("main") or b"")
                ob.profile.close()
                apply_to_image(image, ob.profile.txid, segments)
                profile, choice = self._open_profile(
                    ob.path, ob.key[0], lazy_indexes=True, image=image
                )
            else:
                ob.profile.close()
                wal = ob.path.with_name(ob.path.name + "-wal")
                if wal.exists() and wal.stat().st_size > 0:
                    self.events.followed("failed")
                    return False  # the close left a WAL: the file alone is not the state
                ob.path.with_name(ob.path.name + "-shm").unlink(missing_ok=True)
                apply_to_file(ob.path, ob.profile.txid, segments)
                profile, choice = self._open_profile(ob.path, ob.key[0], lazy_indexes=True)
            if profile.txid != m.head:
                profile.close()
                log.warning("%s caught up to txid %d, not %d", ob.key, profile.txid, m.head)
                self.events.followed("failed")
                return False
            ob.replica = Replica(
                self.store, m, etag, durability=self.durability, on_shipped=self._shipped,
                on_ship_failed=self.events.segment_failed,
            )  # fmt: skip
            ob.expires_at, ob.egress_choice = m.expires_at, choice
            self._attach(ob, profile)
            ob.poisoned = False
            self.events.followed("segments")
            return True
        except Exception:
            log.warning("catching up %s from segments failed; waking it", ob.key, exc_info=True)
            self.events.followed("failed")
            return False  # poisoned: the next acquire drops it and wakes the branch
        finally:
            ob.gate.release_exclusive()

    def _fetch_segments(self: Engine, m: Manifest, txids: list[int]) -> list[Segment]:
        def get(t: int) -> Segment:
            return Segment.decode(self.store.get(m.segment_key(t), op="get_segment").data)

        if len(txids) <= 4:
            return [get(t) for t in txids]
        with ThreadPoolExecutor(_FETCHERS) as pool:
            return list(pool.map(get, txids))
