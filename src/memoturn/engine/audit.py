"""The audit stream: metadata-only events per namespace, group-committed to the object store,
chained by hash and signed at the head.

Layout (:mod:`memoturn.storage.keys`): each node keeps its own chain per namespace, a run of
immutable batch objects ``audit/{ns}/{node}/{n:016d}.json`` (n = 1, 2, ...), each holding the
SHA-256 of the exact bytes of the batch before it (``prev``), and one head object
``audit/{ns}/{node}/head.json`` naming the last batch, its hash and the last event's seq,
signed with the deployment's Ed25519 key. The head is rewritten after every batch and, while
the node runs, every :data:`HEAD_PERIOD_S` even when nothing happened (an empty period still
gets a signed head, so a cut tail shows as a stale head); at close it is marked ``closed``.

Acknowledged means audited: :meth:`AuditLog.submit` returns a future that completes only
once the batch holding the event is in the store. Calls that arrive while a batch is being
written share the next one (group commit: one PUT for all of them).

An event never holds content: only names (namespace, profile, branch), the operation, who
called (token kind, subject, token id), the status, this node, a request id, and where
they apply the txid, server-made ids (memories, documents) and a count. Reading merges the
chains of every node in time order. Rewinds, branches and profile deletions never touch
these objects.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from memoturn.core.clock import Clock
from memoturn.core.errors import InvalidInput
from memoturn.core.ids import new_id
from memoturn.engine.governance import Policies
from memoturn.storage import keys
from memoturn.storage.objectstore import ObjectNotFound, ObjectStore

HEAD_PERIOD_S = 60.0
"""While a node runs, each of its chains gets a freshly signed head at least this often."""
GENESIS = "0" * 64
SIGNED_PREFIX = b"memoturn-audit-head\n"
POLICY_OPS = frozenset({"set_namespace_policy", "set_profile_policy"})
"""Always audited, whatever the policy says (turning audit off is itself on the record)."""
MAX_IDS = 100

log = logging.getLogger("memoturn.audit")


# -- events -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    kind: str | None
    """``root``, ``namespace``, ``profile``, or ``None`` (no valid token: a 401)."""
    subject: str | None = None
    token_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """What an edge knows about one call once it has its answer."""

    namespace: str
    op: str
    status: int
    actor: Actor
    profile: str | None = None
    branch: str | None = None
    request_id: str = ""
    answer: Mapping[str, Any] | None = None
    """The JSON answer; only ``txid``, server-made ids and counts are taken from it."""
    policy: Mapping[str, Any] | None = None
    """For a policy change: the policy set (policy values are settings, not content)."""


def at(ts: float) -> str:
    """A fixed-width UTC time, so that times sort as strings."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def facts(answer: Mapping[str, Any] | None) -> dict[str, Any]:
    """``txid``, ``ids`` and ``count`` of an answer. Only server-made ids (memories,
    documents) are taken; nothing a client wrote (content, keys, session ids, values)."""
    if not isinstance(answer, Mapping):
        return {}
    out: dict[str, Any] = {}
    txid = answer.get("txid")
    if isinstance(txid, int) and not isinstance(txid, bool):
        out["txid"] = txid
    ids: list[str] = []

    def add_id(record: object) -> None:
        if isinstance(record, Mapping) and isinstance(record.get("id"), str):
            ids.append(record["id"])

    add_id(answer.get("memory"))
    add_id(answer.get("document"))
    results = answer.get("results")
    if isinstance(results, list):  # ingest batches and recall (memories only); vector ids
        for item in results:  # are the client's own, so vector hits give a count alone
            if isinstance(item, Mapping):
                add_id(item.get("memory"))
        out["count"] = len(results)
    for listed in ("memories", "versions"):
        items = answer.get(listed)
        if isinstance(items, list):
            for item in items:
                add_id(item)
            out["count"] = len(items)
    superseded = answer.get("superseded")
    if isinstance(superseded, list):
        ids.extend(s for s in superseded if isinstance(s, str))
    for counted in ("count", "deleted_tasks"):
        value = answer.get(counted)
        if isinstance(value, int) and not isinstance(value, bool):
            out["count"] = value
    for listed in ("turns", "items", "checkpoints", "branches", "profiles", "events"):
        items = answer.get(listed)
        if isinstance(items, list):
            out["count"] = len(items)
    ids = [i for i in ids if _is_server_id(i)]
    if ids:
        out["ids"] = ids[:MAX_IDS]
    return out


_SERVER_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def _is_server_id(value: str) -> bool:
    # new_id(): a ULID, 26 characters of Crockford base32, never client text.
    return _SERVER_ID.fullmatch(value) is not None


# -- the log ----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Chain:
    batch: int = 0
    seq: int = 0
    hash: str = GENESIS
    head_at: float = 0.0


class AuditLog:
    """This node's audit chains, one per namespace, and the reader of every node's."""

    def __init__(
        self,
        store: ObjectStore,
        policies: Policies,
        clock: Clock,
        node: str,
        signing_key: Ed25519PrivateKey,
        *,
        head_period_s: float = HEAD_PERIOD_S,
    ) -> None:
        self.store = store
        self.policies = policies
        self.clock = clock
        self.node = node
        self._key = signing_key
        self.head_period_s = head_period_s
        self._chains: dict[str, _Chain] = {}
        self._pending: dict[str, list[tuple[dict[str, Any], concurrent.futures.Future[int]]]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._batches: dict[str, list[dict[str, Any]]] = {}  # immutable batch key -> events
        self.puts = 0
        """Batches written (group commit: fewer than the events)."""
        self._writer = threading.Thread(target=self._run, daemon=True, name="memoturn-audit")
        self._writer.start()

    # -- appending --------------------------------------------------------------------------

    def wants(self, call: Call) -> bool:
        """Does this call need an event? Policy changes always; others when the effective
        policy of the profile (or of the namespace, for namespace calls) has ``audit``."""
        if call.op in POLICY_OPS:
            return True
        if call.profile is not None:
            return self.policies.effective(call.namespace, call.profile).audit
        return self.policies.namespace(call.namespace).audit

    def wants_cached(self, namespace: str, profile: str | None, op: str) -> bool | None:
        """:meth:`wants` from the cached policy alone (no store read); ``None`` when the
        policy copy is stale (then ask :meth:`wants`, off the event loop)."""
        if op in POLICY_OPS:
            return True
        policy = self.policies.effective_cached(namespace, profile)
        return None if policy is None else policy.audit

    def submit(self, call: Call) -> concurrent.futures.Future[int] | None:
        """Queue the call's event if its policy wants one; the future completes (with the
        event's seq) once the event is durable, or fails if it could not be written."""
        if not self.wants(call):
            return None
        event: dict[str, Any] = {
            "at": at(self.clock.now()),
            "namespace": call.namespace,
            "profile": call.profile,
            "branch": call.branch,
            "op": call.op,
            "actor": dataclasses.asdict(call.actor),
            "status": call.status,
            "node": self.node,
            "request_id": call.request_id or new_id(),
            **facts(call.answer),
        }
        if call.policy is not None:
            event["policy"] = dict(call.policy)
        done: concurrent.futures.Future[int] = concurrent.futures.Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the audit log is closed")
            self._pending.setdefault(call.namespace, []).append((event, done))
            self._cond.notify()
        return done

    def record(self, call: Call) -> int | None:
        """:meth:`submit` and wait until durable; the event's seq (``None``: not audited)."""
        done = self.submit(call)
        return done.result() if done is not None else None

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending and not self._closed:
                    self._cond.wait(timeout=self.head_period_s / 2)
                work, self._pending = self._pending, {}
                closing = self._closed
            for ns, items in work.items():
                self._write_batch(ns, items)
            self._heartbeat(closing=closing and not work)
            if closing and not work:
                return

    def _chain(self, ns: str) -> _Chain:
        chain = self._chains.get(ns)
        if chain is None:
            chain = _Chain()
            try:  # a node that keeps its id across restarts continues its chain
                head = json.loads(
                    self.store.get(keys.audit_head(ns, self.node), op="get_audit").data
                )
                chain = _Chain(head["batch"], head["seq"], head["hash"])
            except ObjectNotFound:
                pass
            self._chains[ns] = chain
        return chain

    def _write_batch(
        self, ns: str, items: list[tuple[dict[str, Any], concurrent.futures.Future[int]]]
    ) -> None:
        try:
            chain = self._chain(ns)
            events = []
            for i, (event, _) in enumerate(items):
                events.append({"seq": chain.seq + 1 + i, **event})
            number = chain.batch + 1
            body = _canonical(
                {"namespace": ns, "node": self.node, "batch": number, "prev": chain.hash,
                 "events": events}
            )  # fmt: skip
            self.store.put(keys.audit_batch(ns, self.node, number), body, op="put_audit")
            self.puts += 1
        except BaseException as e:
            for _, done in items:
                done.set_exception(e)
            log.error("audit batch of namespace %s not written", ns, exc_info=True)
            return
        chain.batch, chain.seq, chain.hash = number, chain.seq + len(events), _sha256(body)
        for (_, done), event in zip(items, events, strict=True):
            done.set_result(event["seq"])
        self._write_head(ns, chain)

    def _write_head(self, ns: str, chain: _Chain, *, closed: bool = False) -> None:
        now = self.clock.now()
        head = {"namespace": ns, "node": self.node, "batch": chain.batch, "seq": chain.seq,
                "hash": chain.hash, "at": at(now), "closed": closed}  # fmt: skip
        head["sig"] = base64.b64encode(self._key.sign(SIGNED_PREFIX + _canonical(head))).decode()
        try:
            self.store.put(keys.audit_head(ns, self.node), _canonical(head), op="put_audit_head")
            chain.head_at = now
        except Exception:
            # The events are durable; the head is written again on the next batch or beat.
            log.warning("audit head of namespace %s not written", ns, exc_info=True)

    def _heartbeat(self, *, closing: bool) -> None:
        now = self.clock.now()
        for ns, chain in list(self._chains.items()):
            if closing or now - chain.head_at >= self.head_period_s:
                self._write_head(ns, chain, closed=closing)

    def close(self) -> None:
        """Write what is queued, seal every chain's head (``closed``), stop."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify()
        self._writer.join(timeout=30)

    # -- reading ----------------------------------------------------------------------------

    def events(
        self,
        ns: str,
        *,
        since: float | None = None,
        until: float | None = None,
        profile: str | None = None,
        op: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Events of every node, oldest first, filtered; and the cursor of the next page."""
        after = _cursor_position(cursor) if cursor else None
        lo = at(since) if since is not None else None
        hi = at(until) if until is not None else None
        found: list[dict[str, Any]] = []
        for event in sorted(self._all_events(ns), key=_order):
            if after is not None and _order(event) <= after:
                continue
            if (lo is not None and event["at"] < lo) or (hi is not None and event["at"] >= hi):
                continue
            if (profile is not None and event.get("profile") != profile) or (
                op is not None and event.get("op") != op
            ):
                continue
            found.append(event)
            if len(found) > limit:
                break
        more = len(found) > limit
        page = found[:limit]
        next_cursor = _cursor_of(page[-1]) if more else None
        return page, next_cursor

    def _all_events(self, ns: str) -> Iterator[dict[str, Any]]:
        for info in self.store.list(keys.audit_prefix(ns), op="list_audit"):
            if info.key.endswith("/head.json"):
                continue
            batch = self._batches.get(info.key)
            if batch is None:
                data = self.store.get(info.key, op="get_audit").data
                batch = self._batches[info.key] = json.loads(data)["events"]
            yield from batch


def _order(event: Mapping[str, Any]) -> tuple[str, str, int]:
    return (event["at"], event["node"], event["seq"])


def _cursor_of(event: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(_order(event))).encode()).decode()


def _cursor_position(cursor: str) -> tuple[str, str, int]:
    try:
        a, n, s = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(a, str) and isinstance(n, str) and isinstance(s, int)):
            raise ValueError
        return a, n, s
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput(
            "cursor is not one this API gave out", hint="pass next_cursor of the last page"
        ) from None


def _canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- verification -----------------------------------------------------------------------------


@dataclasses.dataclass
class Verdict:
    """The outcome of :func:`verify`: ``problem`` is the first bad position, or ``None``."""

    chains: int = 0
    batches: int = 0
    events: int = 0
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(
    store: ObjectStore,
    ns: str,
    public_key: Ed25519PublicKey,
    *,
    max_head_age_s: float | None = None,
    now: float | None = None,
) -> Verdict:
    """Check every node's chain of ``ns``: each head's signature, each batch's link to
    the one before, the events' seqs (dense, in order) and that the head names the last
    batch. With ``max_head_age_s``, a head not marked closed must be that fresh (a stale
    head is what a cut tail looks like, or a node that died)."""
    verdict = Verdict()
    by_node: dict[str, dict[str, str]] = {}
    prefix = keys.audit_prefix(ns)
    for info in store.list(prefix, op="list_audit"):
        node, _, name = info.key[len(prefix) :].partition("/")
        by_node.setdefault(node, {})[name] = info.key
    for node in sorted(by_node):
        verdict.chains += 1
        problem = _verify_chain(store, ns, node, by_node[node], public_key, verdict,
                                max_head_age_s, now)  # fmt: skip
        if problem is not None:
            verdict.problem = f"node {node}: {problem}"
            return verdict
    return verdict


def _verify_chain(
    store: ObjectStore,
    ns: str,
    node: str,
    objects: dict[str, str],
    public_key: Ed25519PublicKey,
    verdict: Verdict,
    max_head_age_s: float | None,
    now: float | None,
) -> str | None:
    head_key = objects.pop("head.json", None)
    if head_key is None:
        return "no signed head (it was deleted, or the node never wrote one)"
    try:
        head = json.loads(store.get(head_key, op="get_audit").data)
        sig = base64.b64decode(head.pop("sig"))
        public_key.verify(sig, SIGNED_PREFIX + _canonical(head))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, InvalidSignature):
        return "the head's signature does not verify (changed, or signed by another key)"
    if head.get("namespace") != ns or head.get("node") != node:
        return "the head belongs to another chain"
    numbers = []
    for name in objects:
        stem = name.removesuffix(".json")
        if not stem.isdigit() or name != f"{int(stem):016d}.json":
            return f"unexpected object {name!r} in the chain"
        numbers.append(int(stem))
    numbers.sort()
    prev, seq = GENESIS, 0
    for expected, number in enumerate(numbers, start=1):
        if number != expected:
            return f"batch {expected} is missing (seq {seq + 1} onwards)"
        data = store.get(objects[f"{number:016d}.json"], op="get_audit").data
        try:
            batch = json.loads(data)
            events = batch["events"]
            if batch["batch"] != number or batch["node"] != node or batch["namespace"] != ns:
                return f"batch {number} names another position (moved or reordered)"
        except (ValueError, KeyError, TypeError):
            return f"batch {number} is not a batch (unreadable)"
        if batch["prev"] != prev:
            return (
                f"batch {number} (seq {seq + 1}): the link to batch {number - 1} is broken "
                "(that batch was changed, or this one)"
            )
        for event in events:
            if not isinstance(event, dict) or event.get("seq") != seq + 1:
                got = event.get("seq") if isinstance(event, dict) else None
                return f"batch {number}: expected seq {seq + 1}, found {got} (removed or reordered)"
            if event.get("node") != node or event.get("namespace") != ns:
                return f"batch {number}, seq {seq + 1}: the event names another chain"
            seq += 1
        prev = _sha256(data)
        verdict.batches += 1
        verdict.events += len(events)
    if head["batch"] != len(numbers):
        return (
            f"the signed head names batch {head['batch']} (seq {head['seq']}) but the chain "
            f"ends at batch {len(numbers)} (seq {seq}): records were cut or added"
        )
    if head["hash"] != prev or head["seq"] != seq:
        return f"batch {len(numbers)} (seq {seq}) differs from what the signed head sealed"
    if max_head_age_s is not None and not head.get("closed"):
        age = (now or 0.0) - dt.datetime.strptime(head["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=dt.UTC
        ).timestamp()
        if age > max_head_age_s:
            return f"the head is {age:.0f} s old and not closed: the tail may have been cut"
    return None


__all__ = [
    "HEAD_PERIOD_S",
    "POLICY_OPS",
    "Actor",
    "AuditLog",
    "Call",
    "Verdict",
    "at",
    "facts",
    "verify",
]
