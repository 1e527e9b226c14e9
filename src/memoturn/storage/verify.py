"""An explicit integrity check of one profile's history in the object store.

A wake trusts each page to its segment's or snapshot's CRC-32 and skips SQLite's
whole-database scan (``PRAGMA integrity_check``): that scan costs more than the rest of a
wake at 10k memories. ``memoturn verify`` is where the scan is done on purpose: for each
branch it restores the head (and, if asked, every checkpoint) exactly as a wake would,
then runs ``integrity_check`` and checks that the restored ``meta.txid`` is the txid
asked for; ``objects=True`` also decodes every stored segment and snapshot of the profile,
reachable or not, so a corrupt object is found before a restore needs it.

It only reads: nothing in the store changes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import apsw

from memoturn.core.errors import MemoturnError
from memoturn.storage import keys
from memoturn.storage import manifest as manifests
from memoturn.storage.objectstore import ObjectStore
from memoturn.storage.replica import build_image
from memoturn.storage.restore import open_image_in_memory
from memoturn.storage.segment import Segment, Snapshot

__all__ = ["Finding", "verify_profile"]

MAIN = "main"


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One thing checked: what (``branch``, ``what``: "head", "checkpoint NAME",
    "object KEY"), whether it passed, and the problem or a short summary."""

    branch: str
    what: str
    ok: bool
    detail: str


def verify_profile(
    store: ObjectStore,
    db: str,
    *,
    all_branches: bool = False,
    checkpoints: bool = False,
    objects: bool = False,
    on_finding: Callable[[Finding], None] | None = None,
) -> list[Finding]:
    """Check profile ``db`` (``ns--name``): every finding, in the order checked (also
    handed to ``on_finding`` as it is made, for progress output). The profile passes when
    every finding is ``ok``; a profile with no ``main`` branch is one failing finding."""
    found: list[Finding] = []

    def note(f: Finding) -> None:
        found.append(f)
        if on_finding is not None:
            on_finding(f)

    for branch in _branches(store, db) if all_branches else [MAIN]:
        try:
            m, _ = manifests.load(store, db, branch)
        except MemoturnError as e:
            note(Finding(branch, "manifest", False, str(e)))
            continue
        note(_check_state(store, m, m.head, branch, "head"))
        if checkpoints:
            for name, pin in sorted(m.checkpoints.items(), key=lambda kv: kv[1].txid):
                note(_check_state(store, m, pin.txid, branch, f"checkpoint {name}"))
    if objects:
        for f in _check_objects(store, db):
            note(f)
    return found


def _branches(store: ObjectStore, db: str) -> list[str]:
    names = [
        info.key.rsplit("/", 1)[1].removesuffix(".json")
        for info in store.list(keys.manifests_of_profile(db), op="list_manifests")
    ]
    return sorted(names, key=lambda b: (b != MAIN, b)) or [MAIN]


def _check_state(
    store: ObjectStore, m: manifests.Manifest, txid: int, branch: str, what: str
) -> Finding:
    started = time.perf_counter()
    try:
        image = build_image(store, m, txid, check=True)  # checksums, then integrity_check
        if image:
            conn = open_image_in_memory(image)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'txid'").fetchone()
            finally:
                conn.close()
            stored = int(row[0]) if row else 0
            if stored != txid:
                return Finding(branch, what, False, f"restored txid {stored}, expected {txid}")
    except (MemoturnError, apsw.Error) as e:
        return Finding(branch, what, False, f"txid {txid}: {e}")
    ms = (time.perf_counter() - started) * 1e3
    return Finding(branch, what, True, f"txid {txid}, {len(image)} bytes, {ms:.0f} ms")


def _check_objects(store: ObjectStore, db: str) -> Iterator[Finding]:
    """Decode every segment and snapshot stored for the profile (checksum, header)."""
    count = 0
    for info in store.list(keys.data_prefix(db), op="list_data"):
        parts = info.key.split("/")
        kind = parts[-2] if len(parts) >= 2 else ""
        decode = {"seg": Segment.decode, "snap": Snapshot.decode}.get(kind)
        if decode is None:
            continue  # not history (e.g. an erasure's own records)
        branch = parts[2] if len(parts) > 3 else "?"
        try:
            decode(store.get(info.key, op="verify_object").data)
        except MemoturnError as e:
            yield Finding(branch, f"object {info.key}", False, str(e))
            continue
        count += 1
    yield Finding("*", "objects", True, f"{count} segments and snapshots decode")
