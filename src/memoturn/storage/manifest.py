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
import collections
import dataclasses
import json
import threading
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
        the dict are copied). Built from the instance's ``__dict__``: ``dataclasses.replace``
        re-runs ``__init__`` over every field and cost more than an encode."""
        fields = self.__dict__.copy()
        fields["runs"] = self.runs.copy()
        fields["epochs"] = self.epochs.copy()
        fields["snapshots"] = self.snapshots.copy()
        fields["checkpoints"] = self.checkpoints.copy()
        other = object.__new__(type(self))
        other.__dict__ = fields
        return other

    # -- encoding -----------------------------------------------------------------------

    def encode(self) -> bytes:
        """The manifest as JSON: byte for byte ``json.dumps(doc, separators=(",", ":"),
        sort_keys=True)`` of its fields plus ``format`` (tests/storage/test_manifest_encoding
        checks both), written out by hand: the generic encoder cost more than the rest of a
        branch or checkpoint create. Keys are in sorted order; each checkpoint's encoding is
        kept on its (immutable) :class:`Pin`, so a manifest with many checkpoints re-encodes
        only the new one."""
        s = _json_str
        cps = self.checkpoints
        checkpoints = ",".join([_checkpoint_json(name, cps[name]) for name in sorted(cps)])
        runs = ",".join(['{"base":' + _ref_json(r.base) + ',"first":' + _num(r.first) + "}"
                         for r in self.runs])  # fmt: skip
        return "".join(
            (
                '{"branch":', s(self.branch),
                ',"checkpoints":{', checkpoints,
                '},"created_at":', _num(self.created_at),
                ',"db":', s(self.db),
                ',"epoch":', _num(self.epoch),
                ',"epochs":', _pairs(self.epochs),
                ',"erased_before":', _num(self.erased_before),
                ',"expires_at":', _num(self.expires_at),
                ',"floor":', _num(self.floor),
                ',"format":', _num(FORMAT),
                ',"head":', _num(self.head),
                ',"id":', s(self.id),
                ',"parent":', _ref_json(self.parent),
                ',"runs":[', runs,
                '],"snapshots":', _pairs(self.snapshots),
                ',"write_id":', s(self.write_id),
                "}",
            )
        ).encode()  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        """The manifest ``data`` encodes, as a new object the caller may change. The last
        manifests decoded or written by this process are kept by their bytes (a manifest is
        a pure function of them): loading an unchanged one again costs a copy."""
        data = bytes(data)
        with _memo_lock:
            known = _memo.get(data)
            if known is not None:
                _memo.move_to_end(data)
        if known is None:
            known = cls._parse(data)
            _remember(data, known)
        return known.copy()

    @classmethod
    def _parse(cls, data: bytes) -> Manifest:
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


_MEMO_BYTES = 8 << 20
"""At most this much manifest encoding is kept (most manifests are one or two kB)."""
_memo: collections.OrderedDict[bytes, Manifest] = collections.OrderedDict()
_memo_lock = threading.Lock()
_memo_bytes = 0


def _remember(data: bytes, manifest: Manifest) -> None:
    """Keep ``manifest`` (which nobody else holds) as what ``data`` decodes to."""
    global _memo_bytes
    if len(data) > _MEMO_BYTES // 16:
        return
    with _memo_lock:
        if _memo.setdefault(data, manifest) is manifest:
            _memo_bytes += len(data)
        _memo.move_to_end(data)
        while _memo_bytes > _MEMO_BYTES:
            old, _ = _memo.popitem(last=False)
            _memo_bytes -= len(old)


_json_str = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str
_float = float.__repr__
_int = int.__repr__


def _num(v: Any) -> str:
    """A scalar as json.dumps writes it (its fallback covers any other value)."""
    t = type(v)
    if t is int:
        return _int(v)
    if t is float and v == v and v not in (_INF, -_INF):
        return _float(v)
    if v is None:
        return "null"
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


_INF = float("inf")


def _pairs(items: list[tuple[int, int]]) -> str:
    return "[" + ",".join(["[" + _num(a) + "," + _num(b) + "]" for a, b in items]) + "]"


def _ref_json(ref: Ref | None) -> str:
    if ref is None:
        return "null"
    return (
        '{"branch":' + _json_str(ref.branch) + ',"branch_id":' + _json_str(ref.branch_id)
        + ',"txid":' + _num(ref.txid) + "}"
    )  # fmt: skip


def _checkpoint_json(name: str, pin: Pin) -> str:
    """``"name":{pin}``, kept on the Pin with its name (a pin is made for one checkpoint)."""
    named = pin.__dict__.get("_named")
    if named is not None and named[0] == name:
        return named[1]  # type: ignore[no-any-return]
    text = _json_str(name) + ":" + _pin_json(pin)
    pin.__dict__["_named"] = (name, text)
    return text


def _pin_json(pin: Pin) -> str:
    """A checkpoint's encoding, kept on the Pin (frozen: it never changes)."""
    try:
        return pin.__dict__["_json"]  # type: ignore[no-any-return]
    except KeyError:
        pass
    auto = "true" if pin.automatic is True else "false" if pin.automatic is False else None
    text = (
        '{"automatic":' + (auto if auto is not None else _num(pin.automatic))
        + ',"created_at":' + _num(pin.created_at) + ',"txid":' + _num(pin.txid) + "}"
    )  # fmt: skip
    pin.__dict__["_json"] = text  # not a field: equality and asdict ignore it
    return text


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
    data = manifest.encode()
    try:
        etag = store.put(
            keys.manifest(manifest.db, manifest.branch), data, if_absent=True, op="create_manifest"
        )
    except PreconditionFailed:
        raise Conflict(f"branch {manifest.branch!r} of {manifest.db} already exists") from None
    _remember(data, manifest.copy())
    return etag


def cas(store: ObjectStore, manifest: Manifest, etag: str) -> str:
    """Replace the manifest if it is still at ``etag``; returns the new etag.

    PreconditionFailed if someone else changed it. A store error whose write may still
    have landed is resolved by reading the manifest back and comparing ``write_id``.
    """
    manifest.write_id = new_id()
    key = keys.manifest(manifest.db, manifest.branch)
    data = manifest.encode()
    try:
        new_etag = store.put(key, data, if_match=etag, op="cas_manifest")
        _remember(data, manifest.copy())
        return new_etag
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
