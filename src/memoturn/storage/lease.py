"""The writer lease of one branch: {node, epoch, address, expires}, taken and renewed by CAS.

One writer per branch. Taking the lease bumps its epoch; the new holder then raises the
manifest's epoch to match, so a stale writer's next manifest CAS fails and it is fenced out,
never merged. A lease that is not renewed lapses after ``ttl`` seconds and any node may take
it; an idle branch holds no lease and costs no lease traffic.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable

from memoturn.core.clock import Clock
from memoturn.core.errors import Unavailable
from memoturn.storage import keys
from memoturn.storage.objectstore import ObjectNotFound, ObjectStore, PreconditionFailed

DEFAULT_TTL_S = 10.0
SAFETY_MARGIN_S = 2.0
"""A holder stops writing this long before its lease lapses (clock skew, slow stores)."""


@dataclasses.dataclass(frozen=True)
class LeaseRecord:
    node: str
    epoch: int
    address: str
    expires: float

    def encode(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> LeaseRecord:
        return cls(**json.loads(data))


class HeldElsewhere(Unavailable):
    """Another node holds the writer lease of this branch. ``writer`` is that node's
    address when its lease names one (the node's HTTP front forwards writes there)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        retry_after: float | None = None,
        writer: str = "",
        time_left: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, retry_after=retry_after)
        self.writer = writer
        self.time_left = time_left
        """Seconds until the holder's lease lapses unless it renews, read afresh from the
        store (0 once it lapsed or was released): a node waiting on the holder asks it
        again when that time is up, so a hung holder is given up on within its lease."""


class Lease:
    """This node's claim on one branch's writer lease."""

    def __init__(
        self,
        store: ObjectStore,
        db: str,
        branch_id: str,
        *,
        node: str,
        address: str,
        clock: Clock,
        ttl: float = DEFAULT_TTL_S,
    ) -> None:
        self.store = store
        self.key = self.key_for(db, branch_id)
        self.node, self.address, self.clock, self.ttl = node, address, clock, ttl
        self.record: LeaseRecord | None = None
        self._etag: str | None = None
        self.took_over = False
        """Whether the last acquire took a lease another node had held."""

    @staticmethod
    def key_for(db: str, branch_id: str) -> str:
        return keys.lease(db, branch_id)

    @property
    def epoch(self) -> int:
        return self.record.epoch if self.record else 0

    def valid(self) -> bool:
        """Held, and far enough from lapsing to start a write."""
        return self.record is not None and self.record.expires - SAFETY_MARGIN_S > self.clock.now()

    def acquire(self) -> int:
        """Take the lease (a new epoch) unless a live holder has it; returns the epoch."""
        now = self.clock.now()
        try:
            obj = self.store.get(self.key, op="get_lease")
            current, etag = LeaseRecord.decode(obj.data), obj.etag
        except ObjectNotFound:
            current, etag = None, None
        if current is not None and current.node != self.node and current.expires > now:
            left = max(0.1, min(current.expires - now, self.ttl))
            if current.address:
                message = f"the writer lease is held by node {current.node} ({current.address})"
                hint = "retry shortly, or send the write to that node"
            else:  # an in-process engine: most likely one that was not closed
                message = (
                    f"another process writes this profile (node {current.node}, which takes "
                    "no forwarded writes): an engine on another data directory of this store "
                    "that is still running, or a previous one that did not close; its lease "
                    f"lapses in {math.ceil(left)} s"
                )
                hint = "retry then; close engines with `with memoturn.open(...) as mt:`"
            raise HeldElsewhere(
                message,
                hint=hint,
                retry_after=left,
                writer=current.address,
                time_left=self.holder_time_left,
            )
        epoch = (current.epoch if current else 0) + 1
        record = LeaseRecord(self.node, epoch, self.address, now + self.ttl)
        try:
            self._etag = self.store.put(
                self.key,
                record.encode(),
                if_absent=etag is None,
                if_match=etag,
                op="cas_lease",
            )
        except PreconditionFailed:
            raise HeldElsewhere(
                "another node took the writer lease at the same moment",
                hint="retry shortly",
                retry_after=1.0,
            ) from None
        self.record = record
        self.took_over = current is not None and current.node != self.node
        return epoch

    def holder_time_left(self) -> float:
        """Seconds until another node's lease on this branch lapses (0: none holds it)."""
        try:
            current = LeaseRecord.decode(self.store.get(self.key, op="get_lease").data)
        except ObjectNotFound:
            return 0.0
        if current.node == self.node:
            return 0.0
        return max(0.0, min(current.expires - self.clock.now(), self.ttl))

    def renew(self) -> None:
        """Extend the lease; raises HeldElsewhere (and forgets it) if it was lost."""
        if self.record is None or self._etag is None:
            raise HeldElsewhere("this node does not hold the lease", hint="retry")
        record = dataclasses.replace(self.record, expires=self.clock.now() + self.ttl)
        try:
            self._etag = self.store.put(
                self.key, record.encode(), if_match=self._etag, op="cas_lease"
            )
        except PreconditionFailed:
            self.record = self._etag = None
            raise HeldElsewhere(
                "the writer lease was taken by another node", hint="retry"
            ) from None
        self.record = record

    def release(self) -> None:
        """Give the lease up (expires now) so another node need not wait for it to lapse."""
        if self.record is None or self._etag is None:
            return
        record = dataclasses.replace(self.record, expires=0.0)
        try:
            self.store.put(self.key, record.encode(), if_match=self._etag, op="cas_lease")
        except PreconditionFailed:
            pass  # someone took it already: nothing of ours to release
        finally:
            self.record = self._etag = None
