"""Garbage collection of one profile's objects.

An object is reachable if a live manifest of the profile names it: every segment of every
run of every branch (history stays restorable at every txid) and every snapshot. GC deletes
only unreachable data objects older than ``min_age_s`` — the age guard protects a segment
whose manifest CAS is still in flight on some node. Expired burner branches are removed
first (unless another branch was forked from them), which makes their data unreachable.
"""

from __future__ import annotations

import time

from memoturn.core.errors import NotFound
from memoturn.core.model import GcReport
from memoturn.storage import keys
from memoturn.storage import manifest as manifests
from memoturn.storage.manifest import Manifest
from memoturn.storage.objectstore import ObjectStore


def _live_manifests(store: ObjectStore, db: str) -> list[Manifest]:
    found = []
    for info in store.list(keys.manifests_of_profile(db), op="list_manifests"):
        branch = info.key.rsplit("/", 1)[1].removesuffix(".json")
        try:
            found.append(manifests.load(store, db, branch)[0])
        except NotFound:
            continue  # deleted while we listed
    return found


def collect(
    store: ObjectStore,
    db: str,
    *,
    now: float,
    min_age_s: float = 3600.0,
    wall_now: float | None = None,
) -> GcReport:
    """Collect one profile. ``now`` decides branch expiry (the engine's clock); object ages
    compare the store's timestamps with ``wall_now`` (default: this machine's time)."""
    report = GcReport(db)
    wall_now = time.time() if wall_now is None else wall_now
    live = _live_manifests(store, db)
    bases = {r.base.branch_id for m in live for r in m.runs if r.base and r.base.branch_id != m.id}
    for m in list(live):
        if m.expires_at is not None and m.expires_at <= now and m.id not in bases:
            store.delete(keys.manifest(db, m.branch), op="delete_manifest")
            store.delete(keys.lease(db, m.branch_id), op="delete_lease")
            live.remove(m)
            report.expired_branches.append(m.branch)
    reachable: set[str] = set()
    for m in live:
        reachable.update(m.segment_key(t) for t in m.segment_txids())
        reachable.update(m.snapshot_key(t, e) for t, e in m.snapshots)
    doomed = []
    for info in store.list(keys.data_prefix(db), op="list_data"):
        if info.key in reachable:
            report.kept += 1
        elif info.last_modified <= wall_now - min_age_s:
            doomed.append(info.key)
        else:
            report.kept += 1
    store.delete_many(doomed, op="gc_delete")
    report.deleted = len(doomed)
    return report
