"""A profile-branch's durable history in the object store, as one node sees it.

The writer path, after every committed SQLite transaction: capture its WAL frames, encode
one immutable segment under the fenced writer epoch, put it, then CAS the manifest's head
forward. :meth:`Replica.commit` is the one producer of history: ordinary writes and history
rewrites (a rewind: a new run and an undo pin in the same CAS as its segment) both go
through it, so fencing, metrics and the shipped callback are never bypassed. With
durability ``object`` (the default) a write is acknowledged only after that CAS; with
``local`` it is acknowledged after the local commit and shipped by a background thread (the
window of loss is whatever that thread has not shipped yet). A history rewrite ships
before it is acknowledged in both modes.

The reader path: :func:`build_image` materialises any txid of any branch from its manifest.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import apsw

from memoturn.core.errors import Internal, MemoturnError, Unavailable
from memoturn.storage import keys
from memoturn.storage import manifest as manifests
from memoturn.storage.localstates import LocalStates
from memoturn.storage.manifest import Manifest, Ref
from memoturn.storage.objectstore import ObjectStore, PreconditionFailed, StoreError
from memoturn.storage.restore import restore_runs, take_snapshot
from memoturn.storage.segment import Segment, Snapshot
from memoturn.storage.wal import CapturedTx, WalCapture

Durability = Literal["object", "local"]
ManifestChange = Callable[[Manifest], None]
"""A pure edit of a manifest copy; re-applied if the CAS loses to a metadata change."""
SNAPSHOT_EVERY = 256
"""Write a snapshot once this many segments follow the last one (bounds wake time)."""
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024
_FETCHERS = 8


def merge(txs: list[CapturedTx]) -> CapturedTx:
    """Several captured transactions as one (the last version of each page wins).

    Commits that are not txids of their own (schema creation, recording the embedder) are
    folded into the next txid's segment this way."""
    if len(txs) == 1:
        return txs[0]
    pages: dict[int, bytes] = {}
    for tx in txs:
        pages.update(tx.pages)
    last = txs[-1]
    return CapturedTx(
        last.page_size,
        last.db_size_pages,
        {n: p for n, p in pages.items() if n <= last.db_size_pages},
    )


def build_image(store: ObjectStore, m: Manifest, txid: int, *, check: bool = True) -> bytearray:
    """The database file of branch ``m`` at ``txid`` (b"" for the empty database),
    integrity-checked (``check=False``: pages verified by their checksums only).

    The plan follows run bases (rewinds of this branch, forks of others) down to a
    snapshot or the empty database; every segment of the chain is fetched at once and
    applied in one pass, so a chain costs one image and one check, not one per link."""
    chain: list[tuple[Manifest, list[int]]] = []
    start: Snapshot | None = None
    while True:
        snap, base, seg_txids = m.plan(txid)
        chain.append((m, seg_txids))
        if snap is not None:
            start = Snapshot.decode(store.get(m.snapshot_key(*snap), op="get_snapshot").data)
            break
        if base is None:
            break
        m = m if base.branch_id == m.id else _load_ref(store, m.db, base)
        txid = base.txid
    chain.reverse()
    keys = [mm.segment_key(t) for mm, txids in chain for t in txids]
    if len(keys) > 4:
        with ThreadPoolExecutor(_FETCHERS) as pool:
            blobs = list(pool.map(lambda k: store.get(k, op="get_segment").data, keys))
    else:
        blobs = [store.get(k, op="get_segment").data for k in keys]
    segments = iter(blobs)
    runs = [[Segment.decode(next(segments)) for _ in txids] for _, txids in chain]
    return restore_runs(start, runs, check=check)


def _load_ref(store: ObjectStore, db: str, ref: Ref) -> Manifest:
    m, _ = manifests.load(store, db, ref.branch)
    if m.id != ref.branch_id:
        raise Internal(
            f"{db}: branch {ref.branch!r} was deleted and made again; a branch forked from "
            "the old one lost its base"
        )
    return m


class Replica:
    """The writer's side of one profile-branch: ships each commit, keeps the manifest."""

    def __init__(
        self,
        store: ObjectStore,
        m: Manifest,
        etag: str,
        *,
        durability: Durability = "object",
        on_shipped: Callable[[int, int, float], None] | None = None,
        on_ship_failed: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.manifest = m
        self.etag = etag
        self.durability = durability
        self.epoch = 0
        self._capture: WalCapture | None = None
        self._conn: apsw.Connection | None = None
        self._lock = threading.RLock()
        self._on_shipped = on_shipped
        """Told (txid, bytes, seconds) of each segment uploaded."""
        self._on_ship_failed = on_ship_failed
        self._queue: queue.Queue[tuple[Segment, ManifestChange | None] | None] = queue.Queue()
        self._shipper: threading.Thread | None = None
        self._rewrite: ManifestChange | None = None
        self.local: LocalStates | None = None
        """Earlier states the local files still hold (a rewind to one reads no store)."""
        self.ship_error: MemoturnError | None = None

    # -- wiring ----------------------------------------------------------------------------

    def attach(
        self, conn: apsw.Connection, db_path: str, txid: int, *, wal_offset: int = 0
    ) -> None:
        """Start capturing commits of ``conn`` (the branch's only writer connection), whose
        database is at ``txid``. ``wal_offset``: the database was rolled back to this
        offset of its WAL (:meth:`LocalStates.roll_back`); the frames before it are history
        already."""
        self._conn = conn
        self._capture = WalCapture(conn, db_path, captured_to=wal_offset)
        if self.local is None:
            self.local = LocalStates(db_path)
        # Commits not yet captured (schema, embedder) fold into the next txid's segment, so
        # only a WAL without them is a restorable point of ``txid``.
        if not self._capture.pending:
            self.local.record(txid, self._capture.position)

    @property
    def uncaptured(self) -> int:
        """Local commits not in history yet (schema or embedder records made on open): the
        local file is then not exactly the state of a txid."""
        return self._capture.pending if self._capture is not None else 0

    def fence(self, epoch: int) -> None:
        """Become the writer at ``epoch``: raise the manifest's epoch so older writers'
        CASes fail. The caller checked that its local state equals the manifest head."""
        with self._lock:
            m = self._fresh()
            if m.epoch > epoch:
                raise Unavailable(
                    f"a newer writer (epoch {m.epoch}) owns {m.db}@{m.branch}", hint="retry"
                )
            m.epoch = epoch
            self.etag = manifests.cas(self.store, m, self.etag)
            self.manifest, self.epoch = m, epoch

    def _fresh(self) -> Manifest:
        m, etag = manifests.load(self.store, self.manifest.db, self.manifest.branch)
        self.manifest, self.etag = m, etag
        return Manifest.decode(m.encode())

    # -- the commit path ---------------------------------------------------------------------

    def on_commit(self, txid: int) -> None:
        """Capture the transaction that committed ``txid`` and :meth:`commit` it. Raises if
        it could not be made durable: the write must then not be acknowledged, and the
        caller discards the local database."""
        assert self._capture is not None
        txs = self._capture.capture()
        if not txs:
            raise Internal(f"commit of txid {txid} left no frames in the WAL")
        change, self._rewrite = self._rewrite, None
        self.commit(txid, merge(txs), change)
        assert self.local is not None
        self.local.record(txid, self._capture.position)

    @contextlib.contextmanager
    def rewriting(self, change: ManifestChange) -> Iterator[None]:
        """Make the next commit inside the block a history rewrite: ``change`` (e.g. a
        rewind's new run and undo pin) lands in the same manifest CAS as its segment. The
        caller holds the profile's write lock and commits exactly one transaction."""
        self._rewrite = change
        try:
            yield
            if self._rewrite is not None:
                raise Internal("a history rewrite committed no transaction")
        finally:
            self._rewrite = None

    def commit(self, txid: int, tx: CapturedTx, change: ManifestChange | None = None) -> None:
        """The one producer of history: ``tx`` becomes segment ``txid`` under this writer's
        fenced epoch, is put, and the manifest CAS moves the head to it (applying
        ``change`` in the same CAS). In ``local`` mode an ordinary commit is queued for the
        shipper; a history rewrite ships now, after everything queued before it."""
        segment = tx.segment(txid, epoch=self.epoch)
        if self.durability == "object":
            self._ship(segment, change)
        elif change is not None:
            self.flush()
            self._ship(segment, change)
        else:
            if self.ship_error is not None:
                raise self.ship_error
            self._ensure_shipper()
            self._queue.put((segment, None))

    def _ship(self, segment: Segment, change: ManifestChange | None) -> None:
        with self._lock:
            m = self.manifest
            key = keys.segment(m.db, m.branch_id, segment.txid, segment.epoch)
            # A plain put: only this epoch's writer writes this key, and a failed earlier
            # attempt at the same txid (never in the manifest) may be overwritten.
            start = time.perf_counter()
            try:
                self.store.put(key, segment.encode(), op="put_segment")
            except BaseException:
                if self._on_ship_failed:
                    self._on_ship_failed()
                raise
            seconds = time.perf_counter() - start

            def advance(mm: Manifest) -> None:
                if change is not None:
                    change(mm)
                mm.with_segment(segment.txid, segment.epoch)

            self._advance(advance)
            if self._on_shipped:
                nbytes = len(segment.pages) * segment.page_size
                self._on_shipped(segment.txid, nbytes, seconds)

    def _advance(self, change: ManifestChange) -> None:
        """Apply ``change`` to the manifest and CAS it. If the CAS loses only to a metadata
        change (a checkpoint or branch made on another node: same epoch, same head), redo
        the change on the fresh manifest; anything else means we were fenced."""
        for _ in range(5):
            m = self.manifest.copy()
            head, epoch = m.head, self.epoch
            change(m)
            try:
                self.etag = manifests.cas(self.store, m, self.etag)
                self.manifest = m
                return
            except PreconditionFailed:
                fresh = self._fresh()
                if fresh.epoch != epoch or fresh.head != head:
                    raise Unavailable(
                        f"{m.db}@{m.branch} was written by another node (epoch {fresh.epoch})",
                        hint="retry; this node will reload the profile",
                    ) from None
        raise Unavailable(f"{self.manifest.db}: manifest kept changing under us", hint="retry")

    def update_manifest(self, change: ManifestChange) -> Manifest:
        """A metadata change (checkpoints, TTL) as the writer; returns the new manifest.
        The caller holds the profile's write lock (nothing new is queued meanwhile)."""
        self.flush()  # outside our lock: the shipper takes it for each queued segment
        with self._lock:
            self._advance(change)
            return self.manifest

    # -- local durability ---------------------------------------------------------------------

    def _ensure_shipper(self) -> None:
        if self._shipper is None or not self._shipper.is_alive():
            self._shipper = threading.Thread(target=self._ship_loop, daemon=True, name="shipper")
            self._shipper.start()

    def _ship_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self.ship_error is None:
                    self._ship(*item)
            except MemoturnError as e:
                # Later commits cannot be shipped past a gap: stop, and fail the next write.
                failed = Unavailable if e.public else StoreError  # keys stay in the log
                self.ship_error = failed(
                    f"shipping txid {item[0].txid if item else '?'} failed: {e}",
                    hint="the node must reload this profile from the object store",
                )
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued segment is shipped (local mode); raise if one failed."""
        if self._shipper is not None:
            self._queue.join()
        if self.ship_error is not None:
            raise self.ship_error

    # -- snapshots and checkpoints of the WAL ------------------------------------------------

    def snapshot(self) -> None:
        """Write a full image at the head (the caller holds the profile's write lock)."""
        assert self._conn is not None
        self.flush()  # outside our lock, as in update_manifest
        with self._lock:
            head = self.manifest.head
            snap = take_snapshot(self._conn, head, epoch=self.epoch)
            self.store.put(
                self.manifest.snapshot_key(head, self.epoch),
                # Uncompressed: embeddings barely compress, and inflating a 20 MB image
                # costs more at wake (~110 ms) than reading the extra bytes.
                snap.encode(compress=False),
                op="put_snapshot",
            )
            epoch = self.epoch
            self._advance(lambda mm: mm.snapshots.append((head, epoch)))

    def maybe_checkpoint_wal(self, wal_bytes: int) -> None:
        """Fold the WAL into the database file once it is big and fully captured."""
        if self._capture is not None and wal_bytes > WAL_CHECKPOINT_BYTES:
            self.flush()
            if self._capture.checkpoint() and self.local is not None:
                self.local.checkpointed(self.manifest.head)

    def forget_local_history(self) -> None:
        """After a hard delete (an erasure): fold the WAL into the database file and
        truncate it to zero bytes, and drop every earlier state the local files kept
        (rewound WALs and files), so no local file holds a state older than the head.
        The caller holds the profile's write lock."""
        self.flush()
        assert self._capture is not None and self.local is not None
        for _ in range(100):
            if self._capture.checkpoint():
                break
            time.sleep(0.01)  # a reader between statements; it finishes quickly
        else:
            raise Unavailable("readers kept the WAL from being checkpointed", hint="retry")
        self.local.close()
        self.local.record(self.manifest.head, 0)

    def close(self) -> None:
        if self._shipper is not None:
            self._queue.put(None)
            self._shipper.join(timeout=30)
            self._shipper = None
        if self.local is not None:
            self.local.close()
