"""Governance policies kept with the deployment, and the egress guard on embedders.

Each namespace's policy and each profile's override is one object in the store, written
with compare-and-swap, so every node on one store enforces the same policy. Nodes cache
what they read: a cached policy is trusted for at most :data:`STALENESS_S` seconds (by the
engine's clock), then read again; a write on this node replaces its cached copy at once.
So a change made on one node is enforced by every other node within that bound.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from memoturn.core import policy as lattice
from memoturn.core.clock import Clock
from memoturn.core.errors import EgressDenied, PolicyLoosens, Unavailable
from memoturn.core.names import check_name
from memoturn.core.policy import Policy, ProfilePolicy
from memoturn.embed import Embedder
from memoturn.storage import keys
from memoturn.storage.objectstore import ObjectNotFound, ObjectStore, PreconditionFailed

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine, OpenBranch

STALENESS_S = 5.0
"""The longest a node enforces a policy it read from the store without reading it again."""
_MAX_CACHED = 10_000
"""Cached policy objects (including "none set") before the cache starts afresh."""


def egress_of(embedder: Embedder) -> str:
    """Where ``embedder`` sends texts: ``in_process``, ``self_hosted`` or ``third_party``.
    An embedder that does not declare ``egress`` is judged by ``self_hosted`` alone, which
    cannot tell in-process from a server, so it counts as ``self_hosted`` at best."""
    declared = getattr(embedder, "egress", None)
    if declared in ("in_process", "self_hosted", "third_party"):
        return str(declared)
    return "self_hosted" if getattr(embedder, "self_hosted", False) else "third_party"


_DEFAULT_EFFECTIVE = lattice.effective(lattice.DEFAULT, {})


class Policies:
    """The namespace policies and profile overrides of one deployment, cached."""

    def __init__(self, store: ObjectStore, clock: Clock, staleness_s: float = STALENESS_S):
        self.store = store
        self.clock = clock
        self.staleness_s = staleness_s
        self._cache: dict[str, tuple[dict[str, Any] | None, float]] = {}
        self._lock = threading.Lock()
        self.on_change: Callable[[str], None] | None = None
        """Told the namespace whose policy (or one of whose overrides) this node changed."""

    # -- reading ---------------------------------------------------------------------------

    def _read(self, key: str) -> dict[str, Any] | None:
        now = self.clock.now()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[1] < self.staleness_s:
            return hit[0]
        try:
            found: dict[str, Any] | None = json.loads(self.store.get(key, op="get_policy").data)[
                "policy"
            ]
        except ObjectNotFound:
            found = None
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()  # e.g. refused calls naming many profiles that don't exist
            self._cache[key] = (found, now)
        return found

    def _peek(self, key: str) -> tuple[bool, dict[str, Any] | None]:
        """(fresh, document) from the cache alone; ``fresh`` False: a read is due."""
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and self.clock.now() - hit[1] < self.staleness_s:
            return True, hit[0]
        return False, None

    def effective_cached(self, ns: str, profile: str | None) -> Policy | None:
        """The effective policy (the namespace's, for ``profile`` None) if this node's copy
        is fresh, without reading the store; ``None`` when a read is due."""
        fresh, doc = self._peek(keys.namespace_policy(ns))
        if not fresh:
            return None
        base = Policy(**doc) if doc is not None else lattice.DEFAULT
        if profile is None:
            return base
        fresh, override = self._peek(keys.profile_policy(ns, profile))
        return lattice.effective(base, dict(override or {})) if fresh else None

    def namespace(self, ns: str) -> Policy:
        """The namespace's policy (:data:`lattice.DEFAULT` until root sets one)."""
        doc = self._read(keys.namespace_policy(ns))
        return Policy(**doc) if doc is not None else lattice.DEFAULT

    def override(self, ns: str, profile: str) -> dict[str, Any]:
        """The fields a profile's override sets (empty: none)."""
        return dict(self._read(keys.profile_policy(ns, profile)) or {})

    def effective(self, ns: str, profile: str) -> Policy:
        ns_doc = self._read(keys.namespace_policy(ns))
        override = self._read(keys.profile_policy(ns, profile))
        if ns_doc is None and not override:
            return _DEFAULT_EFFECTIVE  # no policy set: asked on every call and every wake
        namespace = Policy(**ns_doc) if ns_doc is not None else lattice.DEFAULT
        return lattice.effective(namespace, dict(override or {}))

    # -- writing ---------------------------------------------------------------------------

    def set_namespace(self, ns: str, doc: object) -> Policy:
        """Replace a namespace's policy (fields it omits take their defaults)."""
        check_name(ns, "namespace")
        fields = lattice.parse(doc, partial=False)
        self._write(keys.namespace_policy(ns), fields)
        self._changed(ns)
        return Policy(**fields)

    def set_override(self, ns: str, profile: str, doc: object) -> dict[str, Any]:
        """Replace a profile's override; :class:`PolicyLoosens` (nothing changed) if any
        field it sets is looser than the namespace's policy."""
        fields = lattice.parse(doc, partial=True)
        base = self.namespace_fresh(ns)
        loose = lattice.loosens(base, fields)
        if loose is not None:
            raise PolicyLoosens(
                f"the override would loosen {loose}: the namespace has "
                f"{json.dumps(getattr(base, loose))}, the override asks "
                f"{json.dumps(fields[loose])}",
                hint="a profile override may only tighten the namespace policy; "
                "root changes the namespace policy",
                field=loose,
            )
        self._write(keys.profile_policy(ns, profile), fields)
        self._changed(ns)
        return fields

    def namespace_fresh(self, ns: str) -> Policy:
        """The namespace's policy read from the store now (for checks that must not use a
        stale copy)."""
        with self._lock:
            self._cache.pop(keys.namespace_policy(ns), None)
        return self.namespace(ns)

    def delete_override(self, ns: str, profile: str) -> None:
        key = keys.profile_policy(ns, profile)
        self.store.delete(key, op="delete_policy")
        with self._lock:
            self._cache[key] = (None, self.clock.now())

    def _write(self, key: str, fields: Mapping[str, Any]) -> None:
        for _ in range(10):
            try:
                obj = self.store.get(key, op="get_policy")
                version, etag = json.loads(obj.data).get("version", 0) + 1, obj.etag
            except ObjectNotFound:
                version, etag = 1, None
            body = {"policy": dict(fields), "version": version, "updated_at": self.clock.now()}
            try:
                self.store.put(
                    key, json.dumps(body).encode(), if_absent=etag is None, if_match=etag,
                    op="cas_policy",
                )  # fmt: skip
            except PreconditionFailed:
                continue
            with self._lock:
                self._cache[key] = (dict(fields), self.clock.now())
            return
        raise Unavailable("the policy kept changing while it was written", hint="retry")

    def _changed(self, ns: str) -> None:
        if self.on_change is not None:
            self.on_change(ns)


class GuardedEmbedder:
    """An embedder whose every call first checks the profile's effective ``ai_egress``:
    content is sent only where the policy allows, else :class:`EgressDenied` and nothing
    is sent."""

    def __init__(self, inner: Embedder, current: Callable[[], Policy], where: str) -> None:
        self._inner = inner
        self._current = current
        self._where = where

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    @property
    def self_hosted(self) -> bool:
        return self._inner.self_hosted

    @property
    def egress(self) -> str:
        return egress_of(self._inner)

    @property
    def max_tokens(self) -> int | None:
        return self._inner.max_tokens

    def check(self) -> None:
        p = self._current()
        if not p.allows_egress(self.egress):
            raise denied(self._where, p, self._inner)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.check()
        return self._inner.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self.check()
        return self._inner.embed_query(text)


class GovernanceOps:
    """Mixin of :class:`~memoturn.engine.Engine`: the policy operations, and the policy
    applied to each open profile-branch before every call."""

    def get_policy(self: Engine, ns: str) -> Policy:
        """The namespace's policy."""
        self.catalog.require_namespace(ns)
        return self.policies.namespace(ns)

    def set_policy(self: Engine, ns: str, policy: Mapping[str, Any]) -> Policy:
        """Replace the namespace's policy (root's call: the edges check that). Fields it
        omits take their defaults."""
        self.catalog.require_namespace(ns)
        return self.policies.set_namespace(ns, policy)

    def get_profile_policy(self: Engine, ns: str, name: str) -> ProfilePolicy:
        """The namespace's policy, the profile's override (only the fields it sets) and the
        policy the profile lives under."""
        self.catalog.require_profile(ns, name)
        base, override = self.policies.namespace(ns), self.policies.override(ns, name)
        return ProfilePolicy(base, override, lattice.effective(base, override))

    def set_profile_policy(
        self: Engine, ns: str, name: str, policy: Mapping[str, Any]
    ) -> ProfilePolicy:
        """Replace the profile's override; it may only tighten (:class:`PolicyLoosens`)."""
        self.catalog.require_profile(ns, name)
        self.policies.set_override(ns, name, policy)
        return self.get_profile_policy(ns, name)

    def effective_policy(self: Engine, ns: str, name: str) -> Policy:
        return self.policies.effective(ns, name)

    # -- applied to open branches ---------------------------------------------------------

    def _egress_choice(self: Engine, p: Policy) -> str:
        """Which embedder a profile under ``p`` gets: the node's (``node``), the in-process
        model standing in for it (``local``), or none (``denied``)."""
        node = egress_of(self.embedder)
        if p.allows_egress(node):
            return "node"
        if self._fallback_embedder().dim == self.embedder.dim:
            return "local"
        return "denied"

    def _fallback_embedder(self: Engine) -> Embedder:
        if egress_of(self.embedder) == "in_process":
            return self.embedder
        from memoturn.embed import default_embedder

        return default_embedder()

    def _embedder_for(self: Engine, ns: str, name: str, choice: str) -> Embedder:
        if choice == "local":
            return self._fallback_embedder()
        if egress_of(self.embedder) == "in_process":
            return self.embedder
        return GuardedEmbedder(
            self.embedder, lambda: self.policies.effective(ns, name), f"namespace {ns!r}"
        )

    def _governed(self: Engine, ob: OpenBranch) -> bool:
        """Apply the profile's effective policy to its open branch; ``False`` when the
        branch must be opened again (it was opened with an embedder the policy now
        chooses differently)."""
        ns, name = ob.key[0].split("--", 1)
        p = self.policies.effective(ns, name)
        ob.profile.retention_s = p.retention_s
        ob.profile.task_ttl_max_s = p.task_ttl_max_s
        return self._egress_choice(p) == ob.egress_choice


def denied(where: str, p: Policy, embedder: Embedder) -> EgressDenied:
    return EgressDenied(
        f"the policy of {where} allows ai_egress={p.ai_egress!r}, but this node embeds with "
        f"{embedder.name!r}, which sends content {egress_of(embedder).replace('_', '-')}; "
        "nothing was sent, and the in-process model cannot stand in for it (another vector "
        f"dimension than {embedder.dim}, or this profile's vectors come from {embedder.name!r})",
        hint="run the node with the in-process embedder (the default) or one the policy "
        "allows, or have root loosen the namespace's ai_egress",
    )


__all__ = [
    "STALENESS_S",
    "GovernanceOps",
    "GuardedEmbedder",
    "Policies",
    "denied",
    "egress_of",
]
