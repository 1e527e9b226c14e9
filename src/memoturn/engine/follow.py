"""Reads on a node that does not hold a branch's writer lease: bounded staleness.

Such a node serves its own copy of the branch. Before a call it checks the store's manifest
head at most once per ``staleness_s`` (engine clock; :data:`STALENESS_S` by default): within
the bound a call costs no store read, and when the head moved the copy catches up before the
call runs. So a write acknowledged on another node is visible here at most ``staleness_s``
after its acknowledgement, never later (``min_txid`` makes it visible at once).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from memoturn.storage import manifest as manifests
from memoturn.storage.manifest import Manifest

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine, OpenBranch

STALENESS_S = 1.0
"""How old a copy a node that is not the writer serves, at most (seconds)."""

log = logging.getLogger("memoturn.engine")


class FollowOps:
    """Mixin of :class:`~memoturn.engine.engine.Engine`."""

    def _fresh_enough(self: Engine, ob: OpenBranch) -> bool:
        """Make ``ob`` no older than the staleness bound; ``False`` if it was dropped
        instead (the caller acquires the branch again, which wakes it at the head)."""
        if ob.lease.valid() or self.clock.now() - ob.checked_at < self.staleness_s:
            return True  # the writer's copy is the head; or checked within the bound
        with ob.follow_lock:
            now = self.clock.now()
            if ob.closed or ob.poisoned:
                return False
            if now - ob.checked_at < self.staleness_s:
                return True  # another call checked meanwhile
            m, etag = manifests.load(self.store, *ob.key)
            ob.checked_at = now  # the clock read before the manifest: never late
            return self._catch_up(ob, m, etag)

    def _catch_up(self: Engine, ob: OpenBranch, m: Manifest, etag: str) -> bool:
        """Bring ``ob`` to manifest ``m`` (just read); ``False`` if it was dropped."""
        known = ob.replica.manifest
        if known.head != ob.profile.txid:
            return True  # this node's own commits are still being shipped (local mode)
        if m.id == known.id and m.head == known.head:
            return True
        self._discard(ob)
        return False
