"""Verifiable erasure: hard delete now, history rewritten after a grace window, a receipt.

**Phase 1** (in the request, on the branch's writer): the erasure's record is stored first
(``erasures/{ns}/{profile}/{id}.json``, so a crash midway is resumed), then one write
transaction deletes the rows and everything derived from them (:mod:`memoturn.profile.erase`)
and, in the same manifest CAS as its segment, sets the branch's ``erased_before``: from then
on no rewind or branch reaches an earlier txid. The WAL is folded into the database file and
truncated, and the local earlier states (kept WALs and files of rewinds) are dropped. The
segment of the delete carries the pages after it (``secure_delete`` zeroed the freed bytes).

**Phase 2** (the sweeper, once ``erasure_grace_s`` has passed): if checkpoints below the
delete's txid D, or branches whose history stands on the branch before D, still hold the
content, the erasure is ``blocked`` by them (named), until they are deleted — or, with
``force``, their images are rewritten without the content: a blocking branch gets the same
hard delete and history cut; a blocking checkpoint's state is rebuilt, the items deleted in
it, and kept as a new snapshot (an island below the floor). Then the state at D becomes a new
snapshot, the manifest's history is cut there (one CAS: ``floor`` = D), and every older
object of the branch — and every object of branches deleted earlier — is deleted. Each step
is recorded before the next, so a crash in phase 2 resumes where it stopped.

The receipt lists what was asked, the items erased with a keyed digest of each (HMAC-SHA256
under the deployment secret ``erasure-digest``), the txid of the hard delete, the times,
every object deleted and written (key, SHA-256), the blockers and how each was resolved; it
is signed with the deployment's Ed25519 key (:mod:`memoturn.engine.receipts`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from memoturn.core.erasure import ErasureRequest, parse
from memoturn.core.errors import Conflict, NotFound, Unavailable
from memoturn.core.ids import new_id
from memoturn.core.model import Erasure, ErasurePage, ErasureResult
from memoturn.engine import receipts
from memoturn.engine.audit import at
from memoturn.profile.erase import erase, erase_in_place, retained_count
from memoturn.storage import keys
from memoturn.storage import manifest as manifests
from memoturn.storage.gc import _live_manifests
from memoturn.storage.manifest import Manifest
from memoturn.storage.objectstore import ObjectNotFound, PreconditionFailed
from memoturn.storage.replica import build_image
from memoturn.storage.restore import take_snapshot
from memoturn.storage.segment import Snapshot

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from memoturn.engine.engine import Engine, Key, OpenBranch

DIGEST_SECRET = "erasure-digest"
RESUME_PHASE1_AFTER_S = 60.0
"""A record whose hard delete never finished (the node died in it) is redone this late."""

log = logging.getLogger("memoturn.erasure")

PhaseHook = Callable[[str, str, str, str, "int | None", int], None]
"""Told (namespace, profile, branch, op, txid, count) of each erasure phase (the audit)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _page_size(image: bytes) -> int:
    size = int.from_bytes(image[16:18], "big")
    return 65536 if size == 1 else size


def _record(doc: Mapping[str, Any]) -> Erasure:
    return Erasure(
        id=doc["id"],
        namespace=doc["namespace"],
        profile=doc["profile"],
        branch=doc["branch"],
        state=doc["state"],
        blocked_by=list(doc["blocked_by"]),
        asked=dict(doc["asked"]),
        erased=len(doc["items"]),
        txid=doc["txid"],
        requested_at=at(doc["requested_at"]),
        due_at=at(doc["due_at"]) if doc["due_at"] is not None else None,
        completed_at=at(doc["completed_at"]) if doc.get("completed_at") else None,
        receipt=doc.get("receipt"),
    )


class ErasureOps:
    """Mixin of :class:`~memoturn.engine.engine.Engine`."""

    on_erasure_phase: PhaseHook | None = None
    erasure_signing_key: Ed25519PrivateKey | None = None
    """The deployment's Ed25519 key (the REST edge sets it; in process it is read from the
    store, or ``MEMOTURN_SIGNING_KEY``, on first use)."""

    # -- the operations -------------------------------------------------------------------------

    def erase(self: Engine, key: Key, request: Mapping[str, Any]) -> ErasureResult:
        """Phase 1 of an erasure of ``key`` (see the module docstring)."""
        return self._start_erasure(key, parse(request))

    def _start_erasure(self: Engine, key: Key, req: ErasureRequest) -> ErasureResult:
        db, branch = key
        ns, name = db.split("--", 1)
        grace = self.policies.effective(ns, name).erasure_grace_s
        now = self.clock.now()
        m, _ = manifests.load(self.store, db, branch)
        doc: dict[str, Any] = {
            "id": new_id(), "namespace": ns, "profile": name, "branch": branch,
            "branch_id": m.id, "state": "pending", "asked": req.asked(), "items": [],
            "txid": None, "requested_at": now, "phase1_at": None,
            "due_at": None if grace is None else now + grace, "completed_at": None,
            "blocked_by": [], "blockers_seen": [], "resolved": {}, "objects_deleted": [],
            "objects_written": [], "receipt": None,
        }  # fmt: skip
        etag = self._save_erasure(db, doc, None)
        self._phase1(key, doc, req, etag)
        return ErasureResult(_record(doc), doc["txid"])

    def list_erasures(self: Engine, key: Key) -> ErasurePage:
        db, branch = key
        docs = [self._load_erasure(i.key)[0] for i in self._erasure_infos(db)]
        return ErasurePage([_record(d) for d in docs if d["branch"] == branch])

    def get_erasure(self: Engine, key: Key, erasure_id: str) -> ErasureResult:
        db, branch = key
        if not isinstance(erasure_id, str) or not erasure_id.isalnum() or len(erasure_id) > 64:
            raise NotFound(f"no erasure {erasure_id!r} of this profile")
        try:
            doc, _ = self._load_erasure(keys.erasure(db, erasure_id))
        except ObjectNotFound:
            raise NotFound(f"no erasure {erasure_id!r} of this profile") from None
        if doc["branch"] != branch:
            raise NotFound(f"no erasure {erasure_id!r} on branch {branch!r}")
        txid = self._run(key, lambda p: p.txid)
        return ErasureResult(_record(doc), txid)

    def sweep_erasures(self: Engine) -> list[Erasure]:
        """Advance every unfinished erasure of the deployment that is due (phase 2, the
        blockers). The maintenance thread runs it every minute; ``POST /v1/gc`` now."""
        out = []
        done: set[str] = self.__dict__.setdefault("_erasures_done", set())
        for info in self.store.list(keys.ERASURES_PREFIX, op="list_erasures"):
            if info.key in done:
                continue  # complete: never read again on this node
            try:
                doc, etag = self._load_erasure(info.key)
            except ObjectNotFound:
                continue
            if doc["state"] == "complete":
                done.add(info.key)
                continue
            try:
                self._advance(doc, etag)
            except (PreconditionFailed, Unavailable, NotFound, Conflict) as e:
                # another node advanced it meanwhile, or writes the branch: it sweeps too
                log.info("erasure %s not advanced here: %s", doc["id"], e)
            except Exception:
                # One erasure that fails must not hold back the others; it is retried by
                # the next sweep from the step it recorded last.
                log.exception("erasure %s failed; the next sweep retries it", doc["id"])
            out.append(_record(doc))
        return out

    def _retention_erasure(self: Engine, ob: OpenBranch) -> None:
        """The sweeper's: erase what the retention period has passed, as one erasure (one
        receipt) per sweep and branch. The caller is the branch's writer."""
        ns, name = ob.key[0].split("--", 1)
        retention = self.policies.effective(ns, name).retention_s
        if retention is None:
            return
        cutoff = self.clock.now() - retention
        with ob.gate.shared():
            if ob.closed or retained_count(ob.profile, cutoff) == 0:
                return
        self._start_erasure(
            ob.key, ErasureRequest(retention_before=cutoff, reason=f"retention_s {retention}")
        )

    # -- records ----------------------------------------------------------------------------

    def _erasure_infos(self: Engine, db: str) -> list[Any]:
        return list(self.store.list(keys.erasures_of_profile(db), op="list_erasures"))

    def _load_erasure(self: Engine, key: str) -> tuple[dict[str, Any], str]:
        obj = self.store.get(key, op="get_erasure")
        return json.loads(obj.data), obj.etag

    def _save_erasure(self: Engine, db: str, doc: dict[str, Any], etag: str | None) -> str:
        data = receipts.canonical(doc)
        return self.store.put(
            keys.erasure(db, doc["id"]), data, if_absent=etag is None, if_match=etag,
            op="put_erasure",
        )  # fmt: skip

    def _secret(self: Engine) -> bytes:
        return self.deployment_secret(DIGEST_SECRET)

    def _signing_key(self: Engine) -> Ed25519PrivateKey:
        """The deployment's signing key (a node's HTTP app sets it to its tokens' key; in
        process it is loaded the same way the tokens load it)."""
        if self.erasure_signing_key is None:
            from memoturn.engine.tokens import TokenAuthority, signing_seed_from

            self.erasure_signing_key = TokenAuthority(
                self,
                seed=signing_seed_from(os.environ.get("MEMOTURN_SIGNING_KEY")),
                kek=signing_seed_from(
                    os.environ.get("MEMOTURN_KEY_ENCRYPTION_KEY"), "MEMOTURN_KEY_ENCRYPTION_KEY"
                ),
            ).signing_key
        return self.erasure_signing_key

    def _phase_done(self: Engine, doc: Mapping[str, Any], op: str, txid: int | None) -> None:
        if self.on_erasure_phase is not None:
            self.on_erasure_phase(
                doc["namespace"], doc["profile"], doc["branch"], op, txid, len(doc["items"])
            )

    # -- phase 1 ----------------------------------------------------------------------------

    def _hard_delete(self: Engine, key: Key, req: ErasureRequest) -> tuple[int, list[Any]]:
        """Delete the items on the branch's writer; the WAL and local states go after."""
        secret = self._secret()

        def run(ob: OpenBranch) -> tuple[int, list[Any]]:
            ob.replica.flush()

            def seal(mm: Manifest) -> None:
                mm.erased_before = max(mm.erased_before, mm.head + 1)

            with ob.replica.rewriting(seal):
                txid, items = erase(ob.profile, req, secret)
            ob.replica.forget_local_history()
            return txid, [i.to_dict() for i in items]

        return self._as_writer(key, run, exclusive=True)

    def _phase1(self: Engine, key: Key, doc: dict[str, Any], req: ErasureRequest, etag: str):
        txid, items = self._hard_delete(key, req)
        doc.update(txid=txid, items=items, phase1_at=self.clock.now())
        doc["blocked_by"] = self._blockers(key[0], doc)
        doc["blockers_seen"] = list(doc["blocked_by"])
        if doc["blocked_by"] and not req.force:
            doc["state"] = "blocked"
        etag = self._save_erasure(key[0], doc, etag)
        self._phase_done(doc, "erasure_phase1", txid)
        return etag

    # -- blockers -----------------------------------------------------------------------------

    def _blockers(self: Engine, db: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The checkpoints and branches that still hold the state before the hard delete."""
        live = _live_manifests(self.store, db)
        target = next((m for m in live if m.id == doc["branch_id"]), None)
        if target is None:
            return []
        cut = doc["txid"]
        out: list[dict[str, Any]] = []
        for name, pin in sorted(target.checkpoints.items(), key=lambda kv: (kv[1].txid, kv[0])):
            if pin.txid < cut and not _is_resolved(doc, "checkpoint", name, target):
                out.append(
                    {"kind": "checkpoint", "name": name, "branch": target.branch, "txid": pin.txid}
                )
        for m in _dependents(live, target, cut):
            out.append({"kind": "branch", "name": m.branch})
        return out

    # -- phase 2 ----------------------------------------------------------------------------

    def _advance(self: Engine, doc: dict[str, Any], etag: str) -> None:
        db = f"{doc['namespace']}--{doc['profile']}"
        key: Key = (db, doc["branch"])
        now = self.clock.now()
        req = ErasureRequest.from_asked(doc["asked"])
        if doc["txid"] is None:  # the node died inside phase 1: do it again
            if now - doc["requested_at"] < RESUME_PHASE1_AFTER_S:
                return
            doc["resumed"] = True
            etag = self._phase1(key, doc, req, etag)
        if doc["due_at"] is None or now < doc["due_at"]:
            return
        blockers = self._blockers(db, doc)
        for b in blockers:
            if b not in doc["blockers_seen"]:
                doc["blockers_seen"].append(b)
        if blockers and not req.force:
            if doc["blocked_by"] != blockers or doc["state"] != "blocked":
                doc.update(blocked_by=blockers, state="blocked")
                self._save_erasure(db, doc, etag)
            return
        doc["state"] = "pending"
        # Blockers hold older states: a memory's topic chain is found there through every
        # memory the hard delete erased, not only the ones asked for (absent back then).
        erased = [i["id"] for i in doc["items"] if i["kind"] == "memory"]
        req = dataclasses.replace(req, memory_ids=tuple(dict.fromkeys([*req.memory_ids, *erased])))
        if req.force:
            etag = self._force_branches(db, doc, req, etag)
        etag = self._cut(key, doc, req, etag, doc["txid"], doc["branch_id"], force=req.force)
        etag = self._delete_unreachable(db, doc, etag)
        doc["completed_at"] = max(self.clock.now(), doc["phase1_at"])
        doc.update(state="complete", blocked_by=[])
        doc["receipt"] = self._receipt(doc)
        self._save_erasure(db, doc, etag)
        self._phase_done(doc, "erasure_phase2", doc["txid"])

    def _force_branches(
        self: Engine, db: str, doc: dict[str, Any], req: ErasureRequest, etag: str
    ) -> str:
        """Give every blocking branch the same hard delete and history cut, those forked
        from others first (a branch's cut needs its parent's history intact)."""
        for _ in range(100):
            live = _live_manifests(self.store, db)
            target = next((m for m in live if m.id == doc["branch_id"]), None)
            if target is None:
                return etag
            pending = _dependents(live, target, doc["txid"])
            if not pending:
                return etag
            ids = {m.id for m in pending}
            leaf = next(
                m
                for m in pending
                if not any(r.base and r.base.branch_id == m.id for o in pending for r in o.runs
                           if o.id != m.id and o.id in ids)
            )  # fmt: skip
            entry = doc["resolved"].get(f"branch:{leaf.branch}")
            if entry is None or entry.get("branch_id") != leaf.id:
                txid, items = self._hard_delete((db, leaf.branch), req)
                entry = {"kind": "branch", "name": leaf.branch, "branch_id": leaf.id,
                         "resolution": "rewritten", "txid": txid, "items": len(items)}  # fmt: skip
                doc["resolved"][f"branch:{leaf.branch}"] = entry
                etag = self._save_erasure(db, doc, etag)
            etag = self._cut((db, leaf.branch), doc, req, etag, entry["txid"], leaf.id, force=True)
        raise Unavailable("the branches blocking an erasure keep changing", hint="retry")

    def _cut(
        self: Engine,
        key: Key,
        doc: dict[str, Any],
        req: ErasureRequest,
        etag: str,
        cut: int,
        branch_id: str,
        *,
        force: bool,
    ) -> str:
        """Make the state at ``cut`` the branch's oldest (a new snapshot, the manifest's
        floor) and, with ``force``, rewrite its checkpoints below ``cut`` (islands)."""
        db = key[0]
        try:
            m, _ = manifests.load(self.store, *key)
        except NotFound:
            return etag  # deleted meanwhile: its objects are unreachable, deleted below
        if m.id != branch_id or m.floor >= cut:
            return etag
        written: list[dict[str, str]] = []
        islands: set[tuple[int, int]] = set()
        pins = {n: p for n, p in m.checkpoints.items() if p.txid < cut}
        if pins and not force:
            raise Conflict(f"checkpoints {sorted(pins)} still hold the erased content")
        for name, pin in sorted(pins.items()):
            epoch = min([e for t, e in m.snapshots if t == pin.txid and e < 0], default=0) - 1
            island = self._clean_image(db, m, pin.txid, req)
            k = m.snapshot_key(pin.txid, epoch)
            self.store.put(k, island, op="put_snapshot")
            islands.add((pin.txid, epoch))
            written.append({"key": k, "sha256": _sha256(island)})
            doc["resolved"][f"checkpoint:{m.branch}:{name}"] = {
                "kind": "checkpoint", "name": name, "branch": m.branch, "branch_id": m.id,
                "txid": pin.txid, "resolution": "rewritten", "key": k,
            }  # fmt: skip
        image = build_image(self.store, m, cut)

        def rewrite(ob: OpenBranch) -> int:
            epoch = ob.replica.epoch
            size = _page_size(image) if image else 4096
            snap = Snapshot(cut, size, len(image) // size, image)
            data = snap.encode(compress=False)
            k = ob.replica.manifest.snapshot_key(cut, epoch)
            self.store.put(k, data, op="put_snapshot")
            written.append({"key": k, "sha256": _sha256(data)})
            ob.replica.update_manifest(lambda mm: mm.cut_below(cut, (cut, epoch), islands))
            return epoch

        self._as_writer(key, rewrite, exclusive=False)
        doc["objects_written"].extend(written)
        return self._save_erasure(db, doc, etag)

    def _clean_image(self: Engine, db: str, m: Manifest, txid: int, req: ErasureRequest) -> bytes:
        """The encoded snapshot of branch ``m`` at ``txid`` minus the erased items."""
        folder = self.cache_dir / db
        folder.mkdir(exist_ok=True)
        path = folder / f"erasure-{new_id()}.db"
        path.write_bytes(build_image(self.store, m, txid))
        try:
            profile, _ = self._open_profile(path, db, lazy_indexes=True)
            try:
                erase_in_place(profile, req, self._secret())
                conn = profile.db.conn
                conn.wal_checkpoint("main", 3)  # TRUNCATE: the image is the file alone
                return take_snapshot(conn, txid).encode(compress=False)
            finally:
                profile.close()
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")

    def _delete_unreachable(self: Engine, db: str, doc: dict[str, Any], etag: str) -> str:
        """Delete what the erasure made unreachable: the objects of the rewritten branches
        at or below their cut, and every object of branches deleted earlier. Recorded
        (key, SHA-256) before they go, so a crash midway is resumed with a full list."""
        live = _live_manifests(self.store, db)
        reachable: set[str] = set()
        for m in live:
            reachable.update(m.segment_key(t) for t in m.segment_txids())
            reachable.update(m.snapshot_key(t, e) for t, e in m.snapshots)
        cuts = {m.branch_id: m.floor for m in live}
        doomed = []
        for info in self.store.list(keys.data_prefix(db), op="list_data"):
            if info.key in reachable:
                continue
            branch_id, _, name = info.key[len(keys.data_prefix(db)) :].partition("/")
            txid = int(name.rsplit("/", 1)[-1].split(".", 1)[0])
            if branch_id not in cuts or txid <= cuts[branch_id]:
                doomed.append(info.key)
        if not doomed:
            return etag
        known = {o["key"] for o in doc["objects_deleted"]}
        for k in doomed:
            if k not in known:
                with contextlib.suppress(ObjectNotFound):
                    data = self.store.get(k, op="get_erased").data
                    doc["objects_deleted"].append({"key": k, "sha256": _sha256(data)})
        etag = self._save_erasure(db, doc, etag)
        self.store.delete_many(doomed, op="erasure_delete")
        return etag

    def _receipt(self: Engine, doc: Mapping[str, Any]) -> dict[str, Any]:
        secret = self._secret()
        resolved = list(doc["resolved"].values())
        named = {(r["kind"], r["name"], r.get("branch")) for r in resolved}
        blockers = [
            {k: v for k, v in r.items() if k not in ("branch_id", "key")} for r in resolved
        ] + [
            {**b, "resolution": "deleted"}
            for b in doc["blockers_seen"]
            if (b["kind"], b["name"], b.get("branch")) not in named
        ]
        body = {
            "erasure_id": doc["id"],
            "namespace": doc["namespace"],
            "profile": doc["profile"],
            "branch": doc["branch"],
            "asked": doc["asked"],
            "items": doc["items"],
            "digest_key_id": hmac.new(secret, b"memoturn key id", "sha256").hexdigest()[:16],
            "hard_delete_txid": doc["txid"],
            "requested_at": at(doc["requested_at"]),
            "phase1_at": at(doc["phase1_at"]),
            "phase2_at": at(doc["completed_at"]),
            "objects_deleted": doc["objects_deleted"],
            "objects_written": doc["objects_written"],
            "blockers": blockers,
            "state": "complete",
        }
        return receipts.sign(body, self._signing_key())


def _is_resolved(doc: Mapping[str, Any], kind: str, name: str, m: Manifest) -> bool:
    entry = doc["resolved"].get(f"{kind}:{m.branch}:{name}")
    return entry is not None and entry.get("branch_id") == m.id and m.island(entry["txid"])


def _dependents(live: list[Manifest], target: Manifest, cut: int) -> list[Manifest]:
    """The branches whose history stands on ``target`` before ``cut``, directly or through
    other branches."""
    by_id = {m.id: m for m in live}

    def depends(m: Manifest, seen: frozenset[str]) -> bool:
        for run in m.runs:
            base = run.base
            if base is None or base.branch_id == m.id:
                continue
            if base.branch_id == target.id:
                if base.txid < cut:
                    return True
                continue
            parent = by_id.get(base.branch_id)
            if parent is not None and parent.id not in seen and depends(parent, seen | {m.id}):
                return True
        return False

    return [m for m in live if m.id != target.id and depends(m, frozenset({m.id}))]


__all__ = ["DIGEST_SECRET", "ErasureOps"]
