"""The node's engine: catalog, open-profile cache, wake and hibernation, writer leases, and
the in-process API.

``memoturn.open(directory)`` returns an :class:`Engine`. Every profile operation goes
through :meth:`Engine.profile`, which names exactly one profile (and branch): no engine call
reads or writes two profiles.

Object storage is the source of truth. A profile-branch is *woken* on first use (restored
from its manifest into a local cache file), serves reads and writes, ships every commit to
the store, and *hibernates* after ``hibernate_after`` idle seconds (local files removed,
lease released). Local files are disposable: the cache is wiped at start.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from memoturn.core import validate
from memoturn.core.clock import Clock, SystemClock
from memoturn.core.errors import Conflict, NotFound, TxidTimeout, Unavailable
from memoturn.core.ids import new_id
from memoturn.core.model import ProfilePage, ProfilesCreated, Written
from memoturn.core.names import check_name, database_id
from memoturn.embed import Embedder, default_embedder
from memoturn.embed.batching import BatchingEmbedder
from memoturn.engine.branches import BranchOps
from memoturn.engine.catalog import TOKEN_EPOCH_STALENESS_S, Catalog
from memoturn.engine.datadir import DataDirLock
from memoturn.engine.erasure import ErasureOps
from memoturn.engine.events import EngineEvents
from memoturn.engine.extraction import ExtractionOps
from memoturn.engine.follow import STALENESS_S as FOLLOW_STALENESS_S
from memoturn.engine.follow import FollowOps
from memoturn.engine.gate import Gate
from memoturn.engine.governance import STALENESS_S, GovernanceOps, Policies
from memoturn.engine.handle import ProfileHandle
from memoturn.engine.reembed import ReembedOps
from memoturn.models import Extractor
from memoturn.profile import rows
from memoturn.profile.profile import Profile
from memoturn.storage import manifest as manifests
from memoturn.storage.gc import GcReport, collect
from memoturn.storage.lease import DEFAULT_TTL_S, HeldElsewhere, Lease
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.objectstore import ObjectNotFound, ObjectStore
from memoturn.storage.replica import SNAPSHOT_EVERY, Durability, Replica, build_image
from memoturn.storage.s3 import S3Store
from memoturn.storage.url import open_store
from memoturn.storage.wrappers import MeteredStore, RetryingStore

MAIN = "main"
HIBERNATION_SNAPSHOT_AFTER = 16
"""At hibernation, write a snapshot if at least this many segments follow the last one."""
OPEN_FOOTPRINT_FLOOR = 256 * 1024
"""What an open profile-branch is counted as at least (connection, schema, touched pages),
for the memory budget; above it, the size of its restored database."""
SWEEP_EVERY_S = 60.0
"""How often a branch this node writes purges its expired memories and KV keys."""
ERASURE_SWEEP_EVERY_S = 60.0
"""How often the node advances the deployment's due erasures (phase 2, blockers)."""

log = logging.getLogger("memoturn.engine")

T = TypeVar("T")
Key = tuple[str, str]
"""(database id, branch name)."""


class StaleProfile(Exception):
    """This node's copy of a profile-branch is behind the object store (another node wrote
    it). Internal signal: the engine reloads the branch and retries the call."""


class OpenBranch:
    """A profile-branch open on this node."""

    def __init__(self, key: Key, profile: Profile, replica: Replica, lease: Lease, path: Path):
        self.key = key
        self.profile = profile
        self.replica = replica
        self.lease = lease
        self.path = path
        self.gate = Gate()
        self.last_used = 0.0  # engine clock time; set on every acquire
        self.last_write = 0.0
        self.last_sweep = 0.0
        self.embed_after = 0.0  # engine clock time before which background embedding waits
        self.poisoned = False
        self.unshipped = False
        """A local commit failed to ship: nothing more is written on this copy."""
        self.closed = False
        self.expires_at: float | None = None
        """A burner branch's end: from then on the copy is dropped and reads are 404."""
        self.egress_choice = "node"
        """The embedder the policy chose when it was opened (see GovernanceOps)."""
        self.footprint = OPEN_FOOTPRINT_FLOOR
        """Bytes counted against the node's memory budget (set at wake)."""
        self.checked_at = 0.0
        """Engine clock time, taken before the manifest read this copy follows (FollowOps)."""
        self.follow_lock = threading.Lock()

    @property
    def in_memory(self) -> bool:
        """Served from an in-memory image (a read-only wake): no local file, never
        written; its first write wakes the branch again to a file (see ``Engine._wake``)."""
        return self.profile.db.in_memory


class Engine(BranchOps, FollowOps, GovernanceOps, ErasureOps, ExtractionOps, ReembedOps):
    """Namespaces > profiles > branches, each profile-branch its own SQLite database, with an
    object store as the source of truth. Thread-safe."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        object_store: ObjectStore | str | None = None,
        durability: Durability = "object",
        hibernate_after: float = 300.0,
        lease_ttl: float = DEFAULT_TTL_S,
        node_id: str | None = None,
        address: str = "",
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        min_txid_wait_s: float = 5.0,
        background: bool = False,
        maintenance_interval: float = 1.0,
        gc_interval: float = 600.0,
        policy_staleness_s: float = STALENESS_S,
        staleness_s: float = FOLLOW_STALENESS_S,
        extractor: Extractor | None = None,
        extraction_token_budget: int | None = None,
        token_staleness_s: float = TOKEN_EPOCH_STALENESS_S,
        memory_budget_mib: float | None = None,
    ) -> None:
        """``extractor``: what turns transcripts into memories (``extract``); default the
        in-process rules (:class:`memoturn.models.RuleExtractor`). ``extraction_token_budget``:
        estimated tokens of turns one extract call sends at most (docs/extraction.md)."""
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if object_store is None:
            object_store = LocalDirStore(self.data_dir / "store")
        elif isinstance(object_store, str):
            object_store = open_store(object_store)
        if isinstance(object_store, S3Store):
            object_store = RetryingStore(object_store)  # transient network errors
        # Every store call is counted by operation (exported at /metrics).
        self.metered = MeteredStore(object_store)
        self.store: ObjectStore = self.metered
        self.durability: Durability = durability
        # The local copy makes a write durable only in "local" mode; in "object" mode it is
        # disposable (rebuilt from the store after a crash), so it need not fsync.
        self._synchronous = "full" if durability == "local" else "off"
        self.hibernate_after = hibernate_after
        self.memory_budget = (
            None
            if memory_budget_mib is None
            else validate.integer(
                int(memory_budget_mib * 1024 * 1024), "memory_budget_mib", low=1, high=2**50
            )
        )
        """Bytes of open profiles (their databases, at least OPEN_FOOTPRINT_FLOOR each) this
        node keeps; past it, the least recently used idle ones hibernate. None: no bound."""
        self.lease_ttl = lease_ttl
        self.node_id = node_id or new_id()
        self.address = address
        embedder = embedder or default_embedder()
        # Concurrent calls share model runs (one batch instead of many singles).
        self.embedder: Embedder = (
            embedder if isinstance(embedder, BatchingEmbedder) else BatchingEmbedder(embedder)
        )
        self.clock = clock or SystemClock()
        self.min_txid_wait_s = min_txid_wait_s
        self.staleness_s = staleness_s
        """A node that is not a branch's writer serves a copy at most this old (FollowOps)."""
        self.catalog = Catalog(self.store, self.clock, token_staleness_s=token_staleness_s)
        self.policies = Policies(self.store, self.clock, policy_staleness_s)
        self.cache_dir = self.data_dir / "cache"
        # One node per data dir: a second one would wipe the first one's cache here.
        self._dir_lock = DataDirLock(self.data_dir)
        if node_id is None:
            # The same node across restarts: a process that ended without closing held
            # leases as this node, so the next one takes them back at once (the lock above
            # says no other process is this node now).
            self.node_id = self._dir_lock.node_id()
        shutil.rmtree(self.cache_dir, ignore_errors=True)  # disposable: the store is the truth
        self.cache_dir.mkdir()
        self._open: dict[Key, OpenBranch] = {}
        self._leases: dict[Key, Lease] = {}
        self._lock = threading.RLock()
        self._waking: dict[Key, threading.Event] = {}
        """Branches being woken: calls on one wait for its wake instead of starting another."""
        self._closing = False
        self._generations: dict[str, int] = {}
        """Per profile: bumped when it or one of its branches is deleted."""
        self._stop = threading.Event()
        self._maintainer: threading.Thread | None = None
        self.gc_interval = gc_interval
        self._last_gc = time.monotonic()
        self._last_erasure_sweep = time.monotonic()
        self.on_segment_shipped: Callable[[int, int, float], None] | None = None
        """Told (txid, bytes, seconds) of each segment uploaded."""
        self.events = EngineEvents()  # wakes, hibernations, failed uploads (metrics)
        self._init_extraction(extractor, extraction_token_budget)
        self.on_lease_event: Callable[[str], None] | None = None
        """Told "acquired", "taken_over", "renewed", "released" or "lost" (metrics)."""
        if background:
            self._maintainer = threading.Thread(
                target=self._maintain_loop, args=(maintenance_interval,), daemon=True,
                name="memoturn-maintenance",
            )  # fmt: skip
            self._maintainer.start()

    # -- namespaces, profiles, tokens -----------------------------------------------------

    def create_namespace(self, name: str) -> bool:
        """Create a namespace; ``False`` if it already existed."""
        return self.catalog.create_namespace(name)

    def list_namespaces(self) -> list[str]:
        return self.catalog.list_namespaces()

    def create_profile(self, ns: str, name: str) -> bool:
        """Provision a profile (a metadata write); ``False`` if it already existed."""
        return self.catalog.create_profile(ns, name)

    def create_profiles(self, ns: str, names: list[str]) -> ProfilesCreated:
        """Provision up to 10,000 profiles in one metadata write (one log entry); a bad
        or repeated name refuses the whole batch and provisions none."""
        made = self.catalog.create_profiles(ns, names)
        return ProfilesCreated(
            [n for n, new in zip(names, made, strict=True) if new],
            [n for n, new in zip(names, made, strict=True) if not new],
        )

    def list_profiles(
        self, ns: str, *, limit: int = 1000, cursor: str | None = None
    ) -> ProfilePage:
        """Profiles of a namespace in name order; page on with ``cursor``."""
        limit = validate.integer(limit, "limit", low=1, high=10_000)
        if cursor is not None:
            check_name(cursor, "cursor")
        names = self.catalog.list_profiles(ns, after=cursor, limit=limit + 1)
        page, next_cursor = rows.page(names, limit, str)
        return ProfilePage(page, next_cursor)

    def delete_profile(self, ns: str, name: str) -> None:
        """Delete a profile, all its branches and all its data."""
        db = self.catalog.require_profile(ns, name)
        self._forget_open(db)
        with self._lock:
            for key in [k for k in self._leases if k[0] == db]:
                del self._leases[key]
        self.catalog.delete_profile(db)
        self.policies.delete_override(ns, name)
        self._forget_open(db)

    def deployment_secret(self, name: str, size: int = 32) -> bytes:
        """A random secret shared by every node on this object store (e.g. the token
        signing key seed), created on first use."""
        return self.catalog.deployment_secret(name, size)

    def token_epoch(self, ns: str, name: str, *, cached: bool = False) -> int:
        """The profile's token epoch: tokens minted under an older epoch are revoked.
        ``cached``: as read on this node within ``token_staleness_s`` (a revocation made on
        another node is seen within that bound)."""
        return self.catalog.token_epoch(self.catalog.require_profile(ns, name), cached=cached)

    def cached_token_epoch(self, ns: str, name: str) -> int | None:
        """:meth:`token_epoch` (``cached``) if it needs no store read, else ``None``."""
        return self.catalog.cached_token_epoch(ns, name)

    def bump_token_epoch(self, ns: str, name: str) -> int:
        """Revoke every token of one profile; returns the new epoch."""
        return self.catalog.bump_token_epoch(self.catalog.require_profile(ns, name))

    def revoke_tokens(self, ns: str, name: str) -> int:
        """Revoke every profile token of a profile; returns the new token epoch."""
        return self.bump_token_epoch(ns, name)

    # -- one profile-branch -----------------------------------------------------------------

    def profile(
        self, ns: str, name: str, branch: str = MAIN, *, min_txid: int | None = None
    ) -> ProfileHandle:
        """A handle on one profile-branch. ``min_txid`` waits (bounded) until that txid is
        visible here, else raises :class:`TxidTimeout`."""
        key = self._key(ns, name, branch)
        handle = ProfileHandle(self, key)
        if min_txid is not None:
            self._wait_for_txid(key, min_txid)
        return handle

    def _key(self, ns: str, name: str, branch: str) -> Key:
        db = self.catalog.require_profile(ns, name)
        return db, check_name(branch, "branch")

    def open_profile_count(self) -> int:
        return len(self._open)

    def _wait_for_txid(self, key: Key, min_txid: int) -> None:
        deadline = time.monotonic() + self.min_txid_wait_s
        while True:
            ob = self._acquire(key)
            if ob.profile.txid >= min_txid:
                return
            if not ob.lease.valid():  # another node writes it: catch up from the store
                if not self._fresh_enough(ob, now_please=True):
                    continue
                if ob.profile.txid >= min_txid:
                    return
            if time.monotonic() >= deadline:
                raise TxidTimeout(
                    f"txid {min_txid} is not visible on this node within "
                    f"{self.min_txid_wait_s:g} s",
                    hint="retry; if it persists the write may not have been acknowledged",
                )
            time.sleep(0.01)

    def _run(self, key: Key, fn: Callable[[Profile], T]) -> T:
        """Run one operation on the live copy of a branch: every profile operation comes
        through here."""
        for _ in range(3):
            ob = self._acquire(key)
            if not self._fresh_enough(ob):
                continue
            with ob.gate.shared():
                if ob.closed or ob.poisoned:
                    continue
                if not self._governed(ob):  # the policy now wants another embedder
                    ob.poisoned = True
                    continue
                try:
                    return fn(ob.profile)
                except StaleProfile:
                    pass
            self._discard(ob)
        raise Unavailable(f"{key[0]}@{key[1]} keeps changing under this node", hint="retry")

    @contextlib.contextmanager
    def _exclusive(self, key: Key) -> Iterator[OpenBranch]:
        """The open branch with no call in flight (for swapping its database)."""
        for _ in range(3):
            ob = self._acquire(key)
            ob.gate.try_exclusive()
            try:
                if ob.closed or ob.poisoned:
                    continue
                yield ob
                return
            finally:
                ob.gate.release_exclusive()
        raise Unavailable(f"{key[0]}@{key[1]} keeps changing under this node", hint="retry")

    def _acquire(self, key: Key) -> OpenBranch:
        # Lock order everywhere: an open branch's gate, then the engine lock. So a poisoned
        # copy is discarded (which takes its gate) only after the engine lock is let go.
        # A wake runs outside the engine lock, so calls on other profiles never wait for
        # it; calls on the same branch wait for the one wake in flight.
        while True:
            with self._lock:
                if self._closing:
                    raise Unavailable("this node is shutting down", hint="retry on another node")
                ob = self._open.get(key)
                now = self.clock.now()
                expired = ob is not None and ob.expires_at is not None and ob.expires_at <= now
                if ob is not None and not ob.poisoned and not expired:
                    ob.last_used = now
                    return ob
                waking = self._waking.get(key) if ob is None else None
                leader = ob is None and waking is None
                if leader:
                    waking = self._waking[key] = threading.Event()
                    generation = self._generations.get(key[0], 0)
            if ob is not None:
                self._discard(ob, release=expired)  # an expired one: the wake says 404
                continue
            assert waking is not None
            if not leader:
                waking.wait()  # then look again: the branch is open, or the wake failed
                continue
            try:
                started = time.perf_counter()
                ob = self._wake(key)
                self.events.woke(key, time.perf_counter() - started)
            except BaseException:
                with self._lock:
                    del self._waking[key]
                waking.set()
                raise
            with self._lock:
                # A profile or branch deleted while it woke: what was read may be gone.
                current = self._generations.get(key[0], 0) == generation
                if current:
                    del self._waking[key]
                    self._open[key] = ob
                    ob.last_used = self.clock.now()
            if not current:
                try:
                    self._discard(ob)  # still the branch's one waker: its files are ours
                finally:
                    with self._lock:
                        del self._waking[key]
                    waking.set()
                continue
            waking.set()
            if self._closing:
                self._discard(ob, release=True)  # close() may have passed it by
                raise Unavailable("this node is shutting down", hint="retry on another node")
            if self.memory_budget is not None:
                self._keep_within_budget(ob)
            return ob

    def _keep_within_budget(self, keep: OpenBranch) -> None:
        """Hibernate the least recently used idle branches (never ``keep``, just woken)
        while the open ones count for more than the memory budget."""
        assert self.memory_budget is not None
        with self._lock:
            total = sum(ob.footprint for ob in self._open.values())
            if total <= self.memory_budget:
                return
            oldest = sorted(
                (ob for ob in self._open.values() if ob is not keep), key=lambda o: o.last_used
            )
        for ob in oldest:
            if total <= self.memory_budget:
                return
            if ob.gate.busy:
                continue  # a call is in flight on it: not idle
            try:
                if self._hibernate(ob, wait=False):
                    total -= ob.footprint
            except Exception:
                log.warning("hibernation of %s for the memory budget failed", ob.key[0],
                            exc_info=True)  # fmt: skip
                self._discard(ob)
                total -= ob.footprint

    def _forget_open(self, db: str, branch: str | None = None) -> None:
        """Drop this node's copies of ``db``'s branches (or of one ``branch``) around a
        deletion, including one a wake in flight read before it: that wake finds the
        profile's generation changed and wakes again."""
        with self._lock:
            self._generations[db] = self._generations.get(db, 0) + 1
            self.events.deleted(db, branch)
            stale = [
                ob for key, ob in self._open.items() if key[0] == db and branch in (None, key[1])
            ]
        for ob in stale:
            self._discard(ob, release=True)

    def _wake(self, key: Key) -> OpenBranch:
        """Open a branch from the store. Runs without the engine lock; only one wake of a
        branch is in flight at a time (:meth:`_acquire`)."""
        db, branch = key
        checked_at = self.clock.now()
        m, etag = manifests.load(self.store, db, branch)
        if m.expires_at is not None and m.expires_at <= self.clock.now():
            raise NotFound(f"branch {branch!r} of {db} has expired")
        path = self.cache_dir / db / f"{m.branch_id}.db"
        image: bytearray | None = None
        if m.head > 0:
            # Pages are verified by their segments' checksums as they are applied; the full
            # integrity_check (a whole-database scan) is for restores to disk, tests and
            # `memoturn verify`.
            try:
                image = build_image(self.store, m, m.head, check=False)
            except ObjectNotFound:
                # An erasure cut this history after the manifest was read: read it again.
                m, etag = manifests.load(self.store, db, branch)
                image = build_image(self.store, m, m.head, check=False)
            footprint = max(OPEN_FOOTPRINT_FLOOR, len(image))
            if self._writes_here(key):
                _prepare_db_file(path)
                path.write_bytes(image)
                image = None
            # else a read-only wake: the image is served from memory (no file, no WAL);
            # the first write takes the lease and wakes the branch again to a file.
        else:
            footprint = OPEN_FOOTPRINT_FLOOR  # a new profile: its first call is a write
            _prepare_db_file(path)
        # Vector indexes load on first use: a wake for a keyword read or a write that needs
        # no similarity search never pays for them.
        profile, choice = self._open_profile(path, db, lazy_indexes=True, image=image)
        try:
            with self._lock:
                lease = self._leases.get(key)
                if lease is None or lease.key != Lease.key_for(db, m.branch_id):
                    lease = self._leases[key] = Lease(
                        self.store, db, m.branch_id, node=self.node_id, address=self.address,
                        clock=self.clock, ttl=self.lease_ttl,
                    )  # fmt: skip
            replica = Replica(
                self.store,
                m,
                etag,
                durability=self.durability,
                on_shipped=self._shipped,
                on_ship_failed=self.events.segment_failed,
            )
            ob = OpenBranch(key, profile, replica, lease, path)
            ob.expires_at = m.expires_at
            ob.footprint = footprint
            ob.checked_at = checked_at
            ob.egress_choice = choice
            self._governed(ob)
            self._attach(ob, profile)
        except BaseException:
            profile.close()
            if not profile.db.in_memory:
                _remove_db_files(path)
            raise
        return ob

    def _writes_here(self, key: Key) -> bool:
        """Whether this node holds (or just took, for a write) the branch's writer lease."""
        with self._lock:
            lease = self._leases.get(key)
        return lease is not None and lease.valid()

    def _open_profile(
        self,
        path: Path,
        db: str,
        *,
        lazy_indexes: bool = False,
        image: bytearray | None = None,
    ) -> tuple[Profile, str]:
        """The profile database with the embedder its effective policy allows. When the
        in-process model stands in for a forbidden node model but the profile's vectors
        came from that model, it opens with that model behind the egress guard: calls that
        embed are refused and nothing is sent."""
        ns, name = db.split("--", 1)
        choice = self._egress_choice(self.policies.effective(ns, name))
        tried = ["local", "denied"] if choice == "local" else [choice]
        for i, option in enumerate(tried):
            embedder = self._embedder_for(ns, name, option)
            try:
                profile = Profile(
                    path, embedder, clock=self.clock, synchronous=self._synchronous,
                    lazy_indexes=lazy_indexes, image=image,
                )  # fmt: skip
                return profile, choice
            except Conflict:
                if i == len(tried) - 1:
                    raise
        raise AssertionError("unreachable")

    def _attach(self, ob: OpenBranch, profile: Profile, *, wal_offset: int = 0) -> None:
        """Make ``profile`` the branch's live database: its commits go to the replica (the
        one commit path) after the writer check. ``wal_offset``: see ``Replica.attach``."""
        ob.profile = profile
        if not profile.db.in_memory:  # an in-memory copy is never written: nothing to capture
            ob.replica.attach(profile.db.conn, str(ob.path), profile.txid, wal_offset=wal_offset)
        profile.db.before_write.append(functools.partial(self._ensure_writer, ob))
        profile.db.commit_listeners.append(functools.partial(self._on_commit, ob))

    def _lease_event(self, event: str) -> None:
        if self.on_lease_event is not None:
            self.on_lease_event(event)

    def _shipped(self, txid: int, nbytes: int, seconds: float) -> None:
        if self.on_segment_shipped is not None:
            self.on_segment_shipped(txid, nbytes, seconds)

    def _ensure_writer(self, ob: OpenBranch) -> None:
        """Before a write: hold the branch's lease, with the local copy at the store's head.

        A copy served from memory takes the lease, then drops itself: the call is retried
        on a copy woken to a file (the lease held, so :meth:`_wake` writes one), which
        captures and ships its commits as every writer's copy does."""
        if ob.unshipped:
            # A commit before this one was not made durable (e.g. a group of ingests that
            # formed while the one before it failed to ship): write on a fresh copy.
            raise StaleProfile()
        if ob.lease.valid() and ob.replica.epoch == ob.lease.epoch and not ob.in_memory:
            return
        epoch = ob.lease.acquire()
        self._lease_event("taken_over" if ob.lease.took_over else "acquired")
        if ob.in_memory:
            ob.poisoned = True  # the next acquire wakes the branch to a file
            raise StaleProfile()
        fresh, _ = manifests.load(self.store, *ob.key)
        if fresh.id != ob.replica.manifest.id or fresh.head != ob.profile.txid:
            raise StaleProfile()
        ob.replica.fence(epoch)

    def _on_commit(self, ob: OpenBranch, txid: int) -> None:
        try:
            ob.replica.on_commit(txid)
        except BaseException:
            ob.poisoned = True  # committed locally but not durable: reload from the store
            ob.unshipped = True
            raise
        ob.last_write = self.clock.now()
        try:
            if ob.replica.manifest.segments_since_snapshot() >= SNAPSHOT_EVERY:
                ob.replica.snapshot()
            wal = ob.path.with_name(ob.path.name + "-wal")
            ob.replica.maybe_checkpoint_wal(wal.stat().st_size if wal.exists() else 0)
        except Exception:
            # The write is durable; a snapshot or WAL checkpoint is retried on a later commit.
            log.warning("snapshot or WAL checkpoint of %s failed", ob.key[0], exc_info=True)

    def _discard(self, ob: OpenBranch, *, release: bool = False) -> None:
        """Drop this node's copy of a branch once no call is in flight on it (the next call
        wakes it from the store)."""
        ob.gate.try_exclusive()
        try:
            with self._lock:
                self._close(ob, release=release)
        finally:
            ob.gate.release_exclusive()

    def _close(self, ob: OpenBranch, *, release: bool) -> None:
        """Close and forget an open branch. The caller holds its gate exclusively."""
        if ob.closed:
            return
        ob.closed = True
        ob.replica.close()
        ob.profile.close()
        if not ob.in_memory:
            _remove_db_files(ob.path)
        if self._open.get(ob.key) is ob:
            del self._open[ob.key]
        if release and ob.lease.record is not None:
            ob.lease.release()
            self._lease_event("released")

    # -- hibernation and maintenance ----------------------------------------------------------

    def hibernate(self, ns: str, name: str, branch: str = MAIN) -> bool:
        """Ship, snapshot (if worthwhile), close and forget a branch now; ``False`` if it
        was not open here."""
        ob = self._open.get(self._key(ns, name, branch))
        return ob is not None and self._hibernate(ob, wait=True)

    def _hibernate(self, ob: OpenBranch, *, wait: bool) -> bool:
        if not ob.gate.try_exclusive(timeout=None if wait else 0):
            return False
        try:
            with self._lock, ob.profile.db.lock:
                if ob.closed:
                    return False
                ob.replica.flush()
                if (
                    ob.lease.valid()
                    and ob.replica.epoch == ob.lease.epoch
                    and ob.replica.manifest.segments_since_snapshot() >= HIBERNATION_SNAPSHOT_AFTER
                ):
                    ob.replica.snapshot()
                self._close(ob, release=True)
                self.events.hibernated(ob.key)
                return True
        finally:
            ob.gate.release_exclusive()

    def maintain(self) -> None:
        """One round of housekeeping: renew or release leases, hibernate idle branches,
        purge expired rows. The background thread calls it every second."""
        now = self.clock.now()
        for ob in list(self._open.values()):
            if ob.closed:
                continue
            lease = ob.lease
            if lease.record is not None:
                try:
                    if now - ob.last_write > self.lease_ttl:
                        lease.release()  # idle writers hold no lease
                        self._lease_event("released")
                    elif lease.record.expires - self.clock.now() < self.lease_ttl / 2:
                        lease.renew()
                        self._lease_event("renewed")
                except HeldElsewhere:
                    self._lease_event("lost")
                except Exception:
                    log.warning("lease upkeep of %s failed", ob.key[0], exc_info=True)
            self._embed_pending(ob)
            try:
                # A copy this node only reads follows the store within the staleness bound
                # even when idle, so an erasure's delete reaches its local files too.
                self._fresh_enough(ob)
            except Exception:
                log.warning("catching up %s failed", ob.key[0], exc_info=True)
            if lease.valid() and now - ob.last_sweep >= SWEEP_EVERY_S and not ob.closed:
                ob.last_sweep = now  # expired rows are invisible already; purge them
                try:
                    self._retention_erasure(ob)  # what retention_s passed: erased, receipted
                    with ob.gate.shared():
                        if not ob.closed:
                            self._governed(ob)  # the retention period, as of now
                            ob.profile.sweep()
                except Exception:
                    log.warning("sweep of %s failed", ob.key[0], exc_info=True)
            try:
                self._auto_extract(ob)  # sessions that asked for it (auto_extract)
            except Exception:
                log.warning("automatic extraction of %s failed", ob.key[0], exc_info=True)
            if now - ob.last_used >= self.hibernate_after and not ob.gate.busy:
                try:
                    self._hibernate(ob, wait=False)
                except Exception:
                    log.warning("hibernation of %s failed", ob.key[0], exc_info=True)
                    self._discard(ob)

    def _embed_pending(self, ob: OpenBranch, budget_s: float = 0.5) -> None:
        """Embed memories ingested with ``defer_embedding``, for at most ``budget_s``."""
        if self.clock.now() < ob.embed_after:
            return
        deadline = time.monotonic() + budget_s
        while not ob.closed and time.monotonic() < deadline:
            try:
                with ob.gate.shared():
                    if ob.closed or ob.profile.embed_pending() == 0:
                        return
            except HeldElsewhere as e:
                # Another node writes this branch and embeds its pending memories; ask
                # again once its lease may have lapsed, not every round.
                ob.embed_after = self.clock.now() + (e.retry_after or self.lease_ttl)
                return
            except StaleProfile:
                self._discard(ob)  # an in-memory copy took the lease: wake it to a file
                return
            except Exception:
                log.warning("background embedding of %s failed", ob.key[0], exc_info=True)
                return

    def sweep(self, ns: str, name: str, branch: str = MAIN) -> Written:
        """Purge a branch's expired and retention-aged rows now (the maintenance thread does
        it every minute; they are invisible to reads already)."""
        return self._run(self._key(ns, name, branch), lambda p: p.sweep())

    def pending_embeddings(self, ns: str, name: str, branch: str = MAIN) -> int:
        """How many memories of a branch wait for their embedding (``defer_embedding``)."""
        return self._run(self._key(ns, name, branch), lambda p: p.pending_embeddings())

    def flush_embeddings(self, ns: str, name: str, branch: str = MAIN) -> None:
        """Embed everything a branch ingested with ``defer_embedding`` now."""
        key = self._key(ns, name, branch)
        while self._run(key, lambda p: p.embed_pending()) > 0:
            pass

    def gc(self, *, min_age_s: float = 3600.0) -> list[GcReport]:
        """Advance the due erasures, then collect unreachable objects and expired burner
        branches of every profile."""
        self.sweep_erasures()
        reports = []
        now = self.clock.now()
        for ns in self.catalog.list_namespaces():
            for name in self.catalog.list_profiles(ns):
                reports.append(
                    collect(self.store, database_id(ns, name), now=now, min_age_s=min_age_s)
                )
        return reports

    def _maintain_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.maintain()
                if time.monotonic() - self._last_erasure_sweep >= ERASURE_SWEEP_EVERY_S:
                    self._last_erasure_sweep = time.monotonic()
                    self.sweep_erasures()
                if time.monotonic() - self._last_gc >= self.gc_interval:
                    self._last_gc = time.monotonic()
                    self.gc()
            except Exception:
                log.exception("maintenance round failed")

    def close(self) -> None:
        """Ship what is pending, release leases, close every open branch."""
        self._stop.set()
        if self._maintainer is not None:
            self._maintainer.join(timeout=10)
        self._close_extraction()
        with self._lock:
            self._closing = True  # no new wakes; one in flight closes what it opened
        try:
            for ob in list(self._open.values()):
                try:
                    ob.replica.flush()
                finally:
                    self._discard(ob, release=True)
        finally:
            self._dir_lock.release()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prepare_db_file(path: Path) -> None:
    """A clean place for a branch's database file in the cache."""
    path.parent.mkdir(exist_ok=True)
    _remove_db_files(path)


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


__all__ = ["MAIN", "Engine", "OpenBranch", "ProfileHandle", "StaleProfile"]
