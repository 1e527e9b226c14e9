"""The deployment's catalog, kept in the object store: namespaces, profiles, token epochs
and deployment secrets. Every node on one store sees the same catalog. Which profiles a
namespace has is its profile log (:mod:`memoturn.engine.provisioning`)."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time

from memoturn.core.clock import Clock
from memoturn.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from memoturn.core.names import check_name, database_id
from memoturn.engine.provisioning import ProfileLog
from memoturn.storage import keys
from memoturn.storage import manifest as manifests
from memoturn.storage.manifest import Manifest
from memoturn.storage.objectstore import ObjectNotFound, ObjectStore, PreconditionFailed

_EXISTS_TTL_S = 5.0
"""How long a positive 'this profile exists' answer is trusted without asking the store."""
MAX_PROVISION_BATCH = 10_000
"""Profiles per batch provisioning call."""
TOKEN_EPOCH_STALENESS_S = 1.0
"""How long a node trusts a token epoch it read before reading it again: a revocation on
one node reaches every other node within this bound (its own at once)."""


class Catalog:
    def __init__(
        self,
        store: ObjectStore,
        clock: Clock,
        *,
        token_staleness_s: float = TOKEN_EPOCH_STALENESS_S,
    ) -> None:
        self.store = store
        self.clock = clock
        self._known: dict[str, float] = {}  # key -> monotonic time it was seen
        self._lock = threading.Lock()
        self.token_staleness_s = token_staleness_s
        self._epochs: dict[str, tuple[int, float]] = {}
        """db -> (token epoch, engine clock time it was read or set here)."""
        self.profiles = ProfileLog(store)

    def _seen(self, key: str) -> bool:
        with self._lock:
            t = self._known.get(key)
            return t is not None and time.monotonic() - t < _EXISTS_TTL_S

    def _remember(self, key: str) -> None:
        with self._lock:
            self._known[key] = time.monotonic()

    def _forget(self, prefix: str) -> None:
        with self._lock:
            for k in [k for k in self._known if k.startswith(prefix)]:
                del self._known[k]

    # -- namespaces -------------------------------------------------------------------------

    def create_namespace(self, ns: str) -> bool:
        """Create a namespace; ``False`` if it already existed."""
        check_name(ns, "namespace")
        doc = json.dumps({"name": ns, "created_at": self.clock.now()}).encode()
        try:
            self.store.put(keys.namespace(ns), doc, if_absent=True, op="create_namespace")
        except PreconditionFailed:
            return False
        self._remember(keys.namespace(ns))
        return True

    def list_namespaces(self) -> list[str]:
        return sorted(
            info.key.removeprefix(keys.NAMESPACES_PREFIX).removesuffix(".json")
            for info in self.store.list(keys.NAMESPACES_PREFIX, op="list_namespaces")
        )

    def require_namespace(self, ns: str) -> None:
        check_name(ns, "namespace")
        key = keys.namespace(ns)
        if self._seen(key):
            return
        if self.store.head(key, op="head_namespace") is None:
            raise NotFound(f"no namespace {ns!r}", hint="create it first (needs the root token)")
        self._remember(key)

    # -- profiles ---------------------------------------------------------------------------

    def create_profile(self, ns: str, name: str) -> bool:
        """Provision a profile: one entry in the namespace's profile log, shared with the
        calls that arrive meanwhile (its manifest is made on first use). ``False`` if it
        already existed."""
        self.require_namespace(ns)
        database_id(ns, name)  # checks the name
        return self.profiles.create(ns, [name])[0]

    def create_profiles(self, ns: str, names: list[str]) -> list[bool]:
        """Provision up to MAX_PROVISION_BATCH profiles in one log entry; for each name,
        ``False`` if it already existed. A bad or repeated name refuses the whole batch."""
        self.require_namespace(ns)
        if not isinstance(names, list) or not 1 <= len(names) <= MAX_PROVISION_BATCH:
            raise InvalidInput(f"names must be a list of 1 to {MAX_PROVISION_BATCH} names")
        seen: set[str] = set()
        for i, name in enumerate(names):
            check_name(name, f"profile names[{i}]")
            if name in seen:
                raise InvalidInput(f"names[{i}]: {name!r} is named twice", hint="name it once")
            seen.add(name)
        return self.profiles.create(ns, names)

    def list_profiles(
        self, ns: str, *, after: str | None = None, limit: int | None = None
    ) -> list[str]:
        self.require_namespace(ns)
        return self.profiles.names(ns, after=after, limit=limit)

    def require_profile(self, ns: str, name: str) -> str:
        """The profile's database id; NotFound unless it is provisioned. The first use of a
        profile makes its main manifest (txid 0)."""
        self.require_namespace(ns)
        db = database_id(ns, name)
        if not self.profiles.exists(ns, name):
            raise NotFound(f"no profile {name!r} in namespace {ns!r}")
        key = keys.manifest(db, "main")
        if not self._seen(key):
            if self.store.head(key, op="head_manifest") is None:
                with contextlib.suppress(Conflict):  # another call made it first: the same
                    manifests.create(self.store, Manifest.new(db, "main", self.clock.now()))
            self._remember(key)
        return db

    def delete_profile(self, db: str) -> None:
        """Delete every branch, lease and data object of a profile (all but its token
        epoch, which moves on). Main goes last, so a crash midway leaves a profile that
        still exists and can be deleted again."""
        self._forget(keys.manifests_of_profile(db))
        branch_manifests = [
            i.key for i in self.store.list(keys.manifests_of_profile(db), op="list_manifests")
        ]
        main = keys.manifest(db, "main")
        self.store.delete_many(
            [i.key for i in self.store.list(keys.data_prefix(db), op="list_data")], op="delete_data"
        )
        self.store.delete_many(
            [i.key for i in self.store.list(f"leases/{db}/", op="list_leases")], op="delete_lease"
        )
        # The token epoch outlives the profile, one step on: tokens minted for this profile
        # must not come back to life if a profile of the same name is made again.
        self.bump_token_epoch(db)
        self.store.delete_many([k for k in branch_manifests if k != main], op="delete_manifest")
        self.store.delete(main, op="delete_manifest")
        self.profiles.delete(*db.split("--", 1))  # last: the profile is gone from here on
        self._forget(keys.manifests_of_profile(db))

    # -- tokens and secrets -----------------------------------------------------------------

    def token_epoch(self, db: str, *, cached: bool = False) -> int:
        """The profile's token epoch as the store holds it; ``cached``: as this node read
        it within ``token_staleness_s`` (token verification: no store read per request)."""
        now = self.clock.now()
        if cached:
            with self._lock:
                hit = self._epochs.get(db)
            if hit is not None and 0 <= now - hit[1] < self.token_staleness_s:
                return hit[0]
        try:
            epoch = int(self.store.get(keys.token_epoch(db), op="get_token_epoch").data)
        except ObjectNotFound:
            epoch = 0
        self._remember_epoch(db, epoch, now)
        return epoch

    def cached_token_epoch(self, ns: str, name: str) -> int | None:
        """``token_epoch(require_profile(ns, name), cached=True)`` when this node's caches
        answer all of it (namespace and profile known to exist, main manifest seen, epoch
        fresh); ``None`` when any part would read the store."""
        db = database_id(ns, name)
        if not (
            self._seen(keys.namespace(ns))
            and self.profiles.exists_cached(ns, name)
            and self._seen(keys.manifest(db, "main"))
        ):
            return None
        with self._lock:
            hit = self._epochs.get(db)
        if hit is not None and 0 <= self.clock.now() - hit[1] < self.token_staleness_s:
            return hit[0]
        return None

    def _remember_epoch(self, db: str, epoch: int, at: float) -> None:
        with self._lock:
            if len(self._epochs) >= 100_000:  # bounded: drop the lot, they are re-read
                self._epochs.clear()
            self._epochs[db] = (epoch, at)

    def bump_token_epoch(self, db: str) -> int:
        """Revoke every token of one profile; returns the new epoch."""
        key = keys.token_epoch(db)
        for _ in range(10):
            try:
                obj = self.store.get(key, op="get_token_epoch")
                epoch, etag = int(obj.data) + 1, obj.etag
            except ObjectNotFound:
                epoch, etag = 1, None
            try:
                self.store.put(
                    key, str(epoch).encode(), if_absent=etag is None, if_match=etag,
                    op="cas_token_epoch",
                )  # fmt: skip
                self._remember_epoch(db, epoch, self.clock.now())  # this node: at once
                return epoch
            except PreconditionFailed:
                continue
        raise Unavailable("token epoch kept changing", hint="retry")

    def deployment_secret(self, name: str, size: int = 32) -> bytes:
        """A random secret shared by every node on this store, created on first use."""
        check_name(name, "secret name")
        key = keys.deployment_secret(name)
        # If another node (or an earlier run) made it first, read theirs.
        with contextlib.suppress(PreconditionFailed):
            self.store.put(key, secrets.token_bytes(size), if_absent=True, op="create_secret")
        return self.store.get(key, op="get_secret").data

    def stored_secret(self, name: str) -> bytes | None:
        """The deployment secret ``name`` as the store holds it now (``None`` if it has
        none); reads only, never creates."""
        check_name(name, "secret name")
        try:
            return self.store.get(keys.deployment_secret(name), op="get_secret").data
        except ObjectNotFound:
            return None
