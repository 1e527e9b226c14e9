"""Checkpoints, rewind and branches: history operations on one profile, mostly metadata.

- A checkpoint is a named txid in the branch's manifest.
- A branch is a new manifest based on (parent, txid): creating one reads one manifest and
  writes one, whatever the profile's size.
- A rewind appends a run based on (this branch, target txid) and one segment that moves
  the txid forward; the manifest CAS is its commit point. The state just before is kept as
  an automatic checkpoint, so a rewind can be undone by rewinding to it. The segment is
  committed through the same path as every write (``Replica.commit``), after the local
  copy is rolled back to the target: by cutting the local WAL when it still holds the
  target state, else from an image restored from the store.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, TypeVar

from memoturn.core import validate
from memoturn.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from memoturn.core.model import Branch, Checkpoint, RewindResult
from memoturn.core.names import check_name
from memoturn.profile.profile import Profile
from memoturn.storage import keys
from memoturn.storage import manifest as manifests
from memoturn.storage.manifest import Manifest, Pin, Run
from memoturn.storage.replica import build_image
from memoturn.storage.wal import keep_wal_on_close

if TYPE_CHECKING:
    from collections.abc import Callable

    from memoturn.engine.engine import Engine, OpenBranch

MAIN = "main"
T = TypeVar("T")


def _checkpoint(name: str, branch: str, pin: Pin) -> Checkpoint:
    return Checkpoint(name, branch, pin.txid, pin.created_at, pin.automatic)


def _branch(m: Manifest) -> Branch:
    return Branch(
        name=m.branch,
        parent=m.parent.branch if m.parent else None,
        parent_txid=m.parent.txid if m.parent else None,
        created_at=m.created_at,
        expires_at=m.expires_at,
        txid=m.head,
    )


def _check_not_erased(m: Manifest, txid: int) -> None:
    """Refuse a state from before an erasure's hard delete: it still holds the content."""
    if txid < m.erased_before and m.island(txid) is None:
        raise Conflict(
            f"txid {txid} of branch {m.branch!r} is from before an erasure's hard delete "
            f"(txid {m.erased_before}): that state still holds erased content",
            hint="the erasure names the checkpoints that block it: delete them, or erase "
            "again with force: true to rewrite them",
        )


class BranchOps:
    """Mixin of :class:`~memoturn.engine.engine.Engine`."""

    def _as_writer(self: Engine, key: Any, fn: Callable[[OpenBranch], T], *, exclusive: bool) -> T:
        from memoturn.engine.engine import StaleProfile

        for _ in range(3):
            with contextlib.ExitStack() as stack:
                if exclusive:  # no call in flight (the database may be swapped)
                    ob = stack.enter_context(self._exclusive(key))
                else:  # like any call: hibernation waits for it
                    ob = self._acquire(key)
                    stack.enter_context(ob.gate.shared())
                    if ob.closed:
                        continue
                try:
                    with ob.profile.db.lock:
                        self._ensure_writer(ob)
                        return fn(ob)
                except StaleProfile:
                    pass
            self._discard(ob)  # outside the gate: discarding takes it exclusively
        raise Unavailable(f"{key[0]}@{key[1]} keeps changing under this node", hint="retry")

    # -- checkpoints --------------------------------------------------------------------------

    def create_checkpoint(
        self: Engine, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> Checkpoint:
        """Pin the branch's current txid under a name (metadata only)."""
        check_name(checkpoint, "checkpoint")
        key = self._key(ns, name, branch)
        now = self.clock.now()

        def pin(m: Manifest) -> None:
            if checkpoint in m.checkpoints:
                raise Conflict(f"checkpoint {checkpoint!r} exists", hint="pick another name")
            m.checkpoints[checkpoint] = Pin(m.head, now)

        m = self._as_writer(key, lambda ob: ob.replica.update_manifest(pin), exclusive=False)
        return _checkpoint(checkpoint, branch, m.checkpoints[checkpoint])

    def list_checkpoints(
        self: Engine, ns: str, name: str, *, branch: str = MAIN
    ) -> list[Checkpoint]:
        db, branch = self._key(ns, name, branch)
        self._flush_if_open((db, branch))
        m, _ = manifests.load(self.store, db, branch)
        return sorted(
            (_checkpoint(n, branch, p) for n, p in m.checkpoints.items()),
            key=lambda c: (c.txid, c.created_at, c.name),
        )

    def delete_checkpoint(
        self: Engine, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> None:
        key = self._key(ns, name, branch)

        def unpin(m: Manifest) -> None:
            if m.checkpoints.pop(checkpoint, None) is None:
                raise NotFound(f"no checkpoint {checkpoint!r} on branch {branch!r}")

        self._as_writer(key, lambda ob: ob.replica.update_manifest(unpin), exclusive=False)

    # -- rewind -------------------------------------------------------------------------------

    def rewind(
        self: Engine,
        ns: str,
        name: str,
        *,
        branch: str = MAIN,
        checkpoint: str | None = None,
        txid: int | None = None,
    ) -> RewindResult:
        """Atomically return the branch to a checkpoint or txid; the state just before is
        kept as an automatic checkpoint (``undo_checkpoint``). The branch's txid moves
        forward (a rewind is itself a transaction)."""
        if (checkpoint is None) == (txid is None):
            raise InvalidInput("give exactly one of checkpoint or txid")
        if txid is not None:
            validate.integer(txid, "txid", low=0, high=2**62)
        key = self._key(ns, name, branch)
        return self._as_writer(key, lambda ob: self._rewind(ob, checkpoint, txid), exclusive=True)

    def _rewind(
        self: Engine, ob: OpenBranch, checkpoint: str | None, txid: int | None
    ) -> RewindResult:
        ob.replica.flush()
        m = ob.replica.manifest
        if checkpoint is not None:
            if checkpoint not in m.checkpoints:
                raise NotFound(f"no checkpoint {checkpoint!r} on branch {m.branch!r}")
            target = m.checkpoints[checkpoint].txid
        else:
            assert txid is not None
            target = txid
        m.run_for(target)  # NotFound outside the branch's history
        _check_not_erased(m, target)
        head, new = m.head, m.head + 1
        undo = f"undo-rewind-{new}"
        # The local WAL may still hold the target state; else read it from the store, before
        # touching the local copy (a refused rewind changes nothing).
        local = ob.replica.local
        assert local is not None
        image = None if target in local else build_image(self.store, m, target)
        now = self.clock.now()

        def rewrite(mm: Manifest) -> None:
            mm.runs.append(Run(new, mm.ref(target)))
            mm.checkpoints[undo] = Pin(head, now, automatic=True)

        # From here the local copy leaves the head. Until the commit point (the manifest
        # CAS of the rewind's segment) any failure discards it; the next call reloads.
        ob.poisoned = True
        keep_wal_on_close(ob.profile.db.conn)  # the closed files stay a state to return to
        ob.profile.close()
        indexes = None
        if image is None:
            indexes = local.take(target)  # the vectors of the target, if a rewind left it
            offset = local.roll_back(target)
        else:
            local.keep_files()
            tmp = ob.path.with_name(ob.path.name + ".rewind")
            tmp.write_bytes(image)
            os.replace(tmp, ob.path)
            offset = 0
        # The state left (the head) can be returned to (undo) without loading its vectors.
        loaded = ob.profile.loaded_indexes  # None if no call needed vectors since the wake
        if ob.profile.txid == head and loaded is not None:
            local.park(head, loaded)
        profile = Profile(
            ob.path, ob.profile.embedder, clock=self.clock, synchronous=self._synchronous,
            indexes=indexes,
        )  # fmt: skip
        self._attach(ob, profile, wal_offset=offset)
        # The rewind is the branch's next transaction, committed like every write (the
        # database's commit listener ships it): it moves meta.txid from the target to new.
        profile.db.txid = head
        with ob.replica.rewriting(rewrite), profile.db.write():
            pass
        ob.poisoned = False
        return RewindResult(new, undo)

    # -- branches -----------------------------------------------------------------------------

    def create_branch(
        self: Engine,
        ns: str,
        name: str,
        branch: str,
        *,
        from_branch: str = MAIN,
        from_checkpoint: str | None = None,
        from_txid: int | None = None,
        ttl_s: int | None = None,
    ) -> Branch:
        """Fork a branch (metadata only) from the head, a txid or a checkpoint of
        ``from_branch``; ``ttl_s`` makes it a burner branch that expires."""
        check_name(branch, "branch")
        db, parent_name = self._key(ns, name, from_branch)
        if from_checkpoint is not None and from_txid is not None:
            raise InvalidInput("give at most one of from_checkpoint and from_txid")
        ttl = validate.ttl(ttl_s)
        self._flush_if_open((db, parent_name))
        parent, _ = manifests.load(self.store, db, parent_name)
        now = self.clock.now()
        if parent.expires_at is not None and parent.expires_at <= now:
            raise NotFound(f"branch {parent_name!r} has expired")
        if from_checkpoint is not None:
            if from_checkpoint not in parent.checkpoints:
                raise NotFound(f"no checkpoint {from_checkpoint!r} on branch {parent_name!r}")
            at = parent.checkpoints[from_checkpoint].txid
        elif from_txid is not None:
            at = validate.integer(from_txid, "from_txid", low=0, high=2**62)
            parent.run_for(at)
        else:
            at = parent.head
        _check_not_erased(parent, at)
        m = Manifest.new(
            db, branch, now, parent=parent.ref(at), expires_at=now + ttl if ttl else None
        )
        manifests.create(self.store, m)
        return _branch(m)

    def list_branches(self: Engine, ns: str, name: str) -> list[Branch]:
        db = self.catalog.require_profile(ns, name)
        now = self.clock.now()
        out = []
        for info in self.store.list(keys.manifests_of_profile(db), op="list_manifests"):
            branch = info.key.rsplit("/", 1)[1].removesuffix(".json")
            self._flush_if_open((db, branch))
            try:
                m, _ = manifests.load(self.store, db, branch)
            except NotFound:
                continue  # deleted while we listed
            if m.expires_at is None or m.expires_at > now:
                out.append(_branch(m))
        return sorted(out, key=lambda b: (b.name != MAIN, b.name))

    def delete_branch(self: Engine, ns: str, name: str, branch: str) -> None:
        """Delete a branch and its data. ``main`` cannot be deleted (delete the profile),
        nor a branch that others were forked from."""
        db, branch = self._key(ns, name, branch)
        if branch == MAIN:
            raise Conflict("main cannot be deleted", hint="delete the profile instead")
        m, _ = manifests.load(self.store, db, branch)
        for info in self.store.list(keys.manifests_of_profile(db), op="list_manifests"):
            other = info.key.rsplit("/", 1)[1].removesuffix(".json")
            if other == branch:
                continue
            om, _ = manifests.load(self.store, db, other)
            if any(r.base and r.base.branch_id == m.id for r in om.runs):
                raise Conflict(
                    f"branch {other!r} was forked from {branch!r}", hint=f"delete {other!r} first"
                )
        self._forget_open(db, branch)
        with self._lock:
            self._leases.pop((db, branch), None)
        self.store.delete(keys.manifest(db, branch), op="delete_manifest")
        self.store.delete(keys.lease(db, m.branch_id), op="delete_lease")
        prefix = f"{keys.data_prefix(db)}{m.branch_id}/"
        self.store.delete_many(
            [i.key for i in self.store.list(prefix, op="list_data")], op="delete_data"
        )
        self._forget_open(db, branch)

    def _flush_if_open(self: Engine, key: Any) -> None:
        """Ship what this node has queued for a branch (local durability) so the store's
        manifest is current."""
        ob = self._open.get(key)
        if ob is not None and not ob.closed:
            ob.replica.flush()
