"""The manifest: one object per profile-branch naming its whole history, updated by CAS.

A branch's history is a list of **runs**. A run starts from a *base* — nothing (the empty
database, for ``main``), or the state of some branch at some txid (a fork, or a rewind of
this branch) — and continues with one segment per txid from ``run.first``. The last run ends
at ``head``; each earlier run ends where the next begins. So:

- a branch is a new manifest whose only run is based on ``(parent, txid)``: metadata only;
- a rewind to txid c appends a run based on ``(this branch, c)`` whose first segment only
  moves ``meta.txid`` to ``head + 1``: txids stay monotonic and every earlier state stays
  restorable, including the one just before the rewind (kept as an automatic checkpoint);
- restore(T) = newest snapshot at or before T inside T's run (else the run's base) plus the
  run's segments up to T.

Segment keys carry the writer epoch that wrote them; ``epochs`` records the txids at which
the epoch changed so every key can be derived without listing. Every update carries a fresh
``write_id``: a CAS whose answer was lost is resolved by reading the manifest back.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from typing import Any

from memoturn.core.errors import Conflict, Internal, NotFound
from memoturn.core.ids import new_id
from memoturn.storage import keys
from memoturn.storage.objectstore import ObjectNotFound, ObjectStore, PreconditionFailed, StoreError

FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Ref:
    """The state of branch ``branch`` (incarnation ``branch_id``) at ``txid``."""

    branch: str
    branch_id: str
    txid: int


@dataclasses.dataclass(frozen=True)
class Run:
    first: int
    """The txid of this run's first segment."""
    base: Ref | None
    """What the run starts from; ``None`` is the empty database."""


@dataclasses.dataclass(frozen=True)
class Pin:
    """A checkpoint: a named txid of the branch."""

    txid: int
    created_at: float
    automatic: bool = False


@dataclasses.dataclass
class Manifest:
    db: str
    branch: str
    id: str
    """This incarnation of the branch; data keys include it, so a branch deleted and made
    again never shares objects with its former self."""
    created_at: float
    runs: list[Run]
    head: int
    epoch: int = 0
    epochs: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    """(first txid, epoch) change points of segment keys, ascending."""
    snapshots: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    """(txid, epoch) of each snapshot, ascending by txid."""
    checkpoints: dict[str, Pin] = dataclasses.field(default_factory=dict)
    parent: Ref | None = None
    expires_at: float | None = None
    write_id: str = ""
    erased_before: int = 0
    """An erasure hard-deleted content at this txid: no rewind or branch reaches an earlier
    txid (a checkpoint there blocks the erasure's history rewrite until removed or forced)."""
    floor: int = 0
    """An erasure rewrote history below this txid away: the oldest restorable state is the
    snapshot at ``floor``. Snapshots below it are checkpoints' rewritten images (islands)."""

    # -- construction -------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        db: str,
        branch: str,
        now: float,
        *,
        parent: Ref | None = None,
        expires_at: float | None = None,
    ) -> Manifest:
        first = parent.txid + 1 if parent else 1
        return cls(
            db=db,
            branch=branch,
            id=new_id(),
            created_at=now,
            runs=[Run(first, parent)],
            head=first - 1,
            parent=parent,
            expires_at=expires_at,
        )

    @property
    def branch_id(self) -> str:
        return f"{self.branch}.{self.id}"

    def ref(self, txid: int) -> Ref:
        return Ref(self.branch, self.id, txid)

    # -- history ------------------------------------------------------------------------

    @property
    def oldest(self) -> int:
        """The oldest txid this branch can restore (its base state, or the floor an erasure
        cut history at)."""
        return max(self.runs[0].first - 1, self.floor)

    def island(self, txid: int) -> tuple[int, int] | None:
        """The rewritten image (snapshot txid, epoch) of a checkpoint below the floor."""
        if txid >= self.floor:
            return None
        return next((s for s in self.snapshots if s[0] == txid), None)

    def run_for(self, txid: int) -> tuple[int, Run]:
        """The index and run holding ``txid``; raises NotFound outside the history (an
        island below the floor answers with the first run)."""
        if self.island(txid) is not None:
            return 0, self.runs[0]
        if not self.oldest <= txid <= self.head:
            raise NotFound(
                f"txid {txid} is not in the history of branch {self.branch!r} "
                f"({self.oldest}..{self.head})"
            )
        firsts = [r.first for r in self.runs]
        i = max(bisect.bisect_right(firsts, txid) - 1, 0)
        return i, self.runs[i]

    def run_end(self, i: int) -> int:
        return self.runs[i + 1].first - 1 if i + 1 < len(self.runs) else self.head

    def epoch_of(self, txid: int) -> int:
        firsts = [f for f, _ in self.epochs]
        i = bisect.bisect_right(firsts, txid) - 1
        if i < 0:
            raise Internal(f"{self.db}@{self.branch}: no epoch recorded for txid {txid}")
        return self.epochs[i][1]

    def segment_key(self, txid: int) -> str:
        return keys.segment(self.db, self.branch_id, txid, self.epoch_of(txid))

    def snapshot_key(self, txid: int, epoch: int) -> str:
        return keys.snapshot(self.db, self.branch_id, txid, epoch)

    def segment_txids(self) -> list[int]:
        """Every txid of this branch that has a segment."""
        out: list[int] = []
        for i, run in enumerate(self.runs):
            out.extend(range(max(run.first, self.floor + 1), self.run_end(i) + 1))
        return out

    def plan(self, txid: int) -> tuple[tuple[int, int] | None, Ref | None, list[int]]:
        """How to restore ``txid``: (snapshot (txid, epoch) or None, base ref if no
        snapshot, segment txids to apply in order)."""
        island = self.island(txid)
        if island is not None:
            return island, None, []
        _, run = self.run_for(txid)
        usable = [s for s in self.snapshots if run.first <= s[0] <= txid]
        if usable:
            snap = usable[-1]
            return snap, None, list(range(snap[0] + 1, txid + 1))
        return None, run.base, list(range(run.first, txid + 1))

    def restore_length(self, txid: int) -> int:
        """How many segments a restore of ``txid`` applies: its plan's, plus those of the
        bases it stands on within this branch (a rewind's run is based on an earlier txid
        of the branch). A fork's parent history is not counted."""
        n = 0
        while True:
            snap, base, seg_txids = self.plan(txid)
            n += len(seg_txids)
            if snap is not None or base is None or base.branch_id != self.id:
                return n
            txid = base.txid

    def segments_since_snapshot(self) -> int:
        """The restore length of the head: what a snapshot now would save every wake."""
        return self.restore_length(self.head)

    # -- changes (pure; the caller CASes the result) ------------------------------------

    def cut_below(self, floor: int, snapshot: tuple[int, int], keep: set[tuple[int, int]]) -> None:
        """Make ``snapshot`` (at ``floor``) the oldest restorable state: runs wholly below it
        go, the run holding it no longer needs its base, and only snapshots above it stay,
        plus ``keep``: the (txid, epoch) images of checkpoints below it, rewritten without
        the erased content (islands; their epoch is negative, so their keys are new)."""
        if not self.oldest <= floor <= self.head or snapshot[0] != floor:
            raise Internal(f"{self.db}@{self.branch}: cannot cut history at {floor}")
        i, _ = self.run_for(floor)
        runs = self.runs[i:]
        runs[0] = Run(runs[0].first, None)
        self.runs = runs
        self.floor = max(self.floor, floor)
        kept = {s for s in self.snapshots if s[0] > floor} | {s for s in keep if s[0] < floor}
        self.snapshots = sorted(kept | {snapshot})

    def with_segment(self, txid: int, epoch: int) -> None:
        if txid != self.head + 1:
            raise Internal(f"{self.db}@{self.branch}: segment {txid} after head {self.head}")
        if not self.epochs or self.epochs[-1][1] != epoch:
            self.epochs.append((txid, epoch))
        self.head = txid

    def copy(self) -> Manifest:
        """An independent copy to change (runs, pins and refs are immutable; the lists and
        the dict are copied)."""
        return dataclasses.replace(
            self,
            runs=list(self.runs),
            epochs=list(self.epochs),
            snapshots=list(self.snapshots),
            checkpoints=dict(self.checkpoints),
        )

    # -- encoding -----------------------------------------------------------------------

    def encode(self) -> bytes:
        # Written out field by field: dataclasses.asdict deep-copies and costs more than
        # the rest of a branch or checkpoint create (the same document either way).
        doc = {
            "db": self.db,
            "branch": self.branch,
            "id": self.id,
            "created_at": self.created_at,
            "runs": [{"first": r.first, "base": _ref_doc(r.base)} for r in self.runs],
            "head": self.head,
            "epoch": self.epoch,
            "epochs": [list(e) for e in self.epochs],
            "snapshots": [list(s) for s in self.snapshots],
            "checkpoints": {
                k: {"txid": p.txid, "created_at": p.created_at, "automatic": p.automatic}
                for k, p in self.checkpoints.items()
            },
            "parent": _ref_doc(self.parent),
            "expires_at": self.expires_at,
            "write_id": self.write_id,
            "erased_before": self.erased_before,
            "floor": self.floor,
            "format": FORMAT,
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        try:
            doc: dict[str, Any] = json.loads(data)
            if doc.pop("format") != FORMAT:
                raise ValueError("unknown manifest format")
            ref = lambda r: Ref(**r) if r else None  # noqa: E731
            return cls(
                **{
                    **doc,
                    "runs": [Run(r["first"], ref(r["base"])) for r in doc["runs"]],
                    "epochs": [tuple(e) for e in doc["epochs"]],
                    "snapshots": [tuple(s) for s in doc["snapshots"]],
                    "checkpoints": {k: Pin(**v) for k, v in doc["checkpoints"].items()},
                    "parent": ref(doc["parent"]),
                }
            )
        except (ValueError, KeyError, TypeError) as e:
            raise Internal(f"corrupt manifest: {e}", hint="restore it from a backup") from None


def _ref_doc(ref: Ref | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"branch": ref.branch, "branch_id": ref.branch_id, "txid": ref.txid}


def load(store: ObjectStore, db: str, branch: str) -> tuple[Manifest, str]:
    """The branch's manifest and its etag; NotFound if the branch does not exist."""
    try:
        obj = store.get(keys.manifest(db, branch), op="get_manifest")
    except ObjectNotFound:
        raise NotFound(f"no branch {branch!r} of profile {db}") from None
    return Manifest.decode(obj.data), obj.etag


def create(store: ObjectStore, manifest: Manifest) -> str:
    """Write a new manifest; Conflict if the branch exists."""
    manifest.write_id = new_id()
    try:
        return store.put(
            keys.manifest(manifest.db, manifest.branch),
            manifest.encode(),
            if_absent=True,
            op="create_manifest",
        )
    except PreconditionFailed:
        raise Conflict(f"branch {manifest.branch!r} of {manifest.db} already exists") from None


def cas(store: ObjectStore, manifest: Manifest, etag: str) -> str:
    """Replace the manifest if it is still at ``etag``; returns the new etag.

    PreconditionFailed if someone else changed it. A store error whose write may still
    have landed is resolved by reading the manifest back and comparing ``write_id``.
    """
    manifest.write_id = new_id()
    key = keys.manifest(manifest.db, manifest.branch)
    try:
        return store.put(key, manifest.encode(), if_match=etag, op="cas_manifest")
    except (StoreError, PreconditionFailed) as e:
        try:
            current = store.get(key, op="resolve_manifest")
        except (StoreError, ObjectNotFound):
            raise e from None
        if Manifest.decode(current.data).write_id == manifest.write_id:
            return current.etag  # it landed; only the answer was lost
        if isinstance(e, StoreError):
            raise StoreError(
                f"could not update the manifest of {manifest.db}@{manifest.branch}: {e}",
                hint="retry",
            ) from None
        raise
