"""A LangGraph ``BaseStore`` over Memoturn profiles.

``pip install 'memoturn[langgraph]'``::

    from memoturn.integrations.langgraph import MemoturnStore

    store = MemoturnStore(memoturn.Client(url, token), "acme")
    graph = builder.compile(store=store)
    store.put(("alice", "memories"), "food", {"likes": "pizza"})   # profile acme/alice
    store.search(("alice", "memories"), query="what does she eat?")

Addressing: the label at ``profile_label`` (default 0) of every LangGraph namespace tuple
names the Memoturn profile (one database per user: isolation is structural); the other
labels and the key address the item inside it.

Where an item lives, and why: the item itself is a KV key of the profile's ``langgraph``
space (KV is a key/value store with TTLs, which is what ``BaseStore`` is), holding the value
with its namespace, timestamps and TTL. So that ``search(query=...)`` can go through hybrid
recall (BM25 + embeddings, each hit with its score), an indexed item also has one memory
(type ``fact``, source ``langgraph``) whose content is the item's text, on a topic of its own:
a new version of the item supersedes the old memory (its history stays queryable), a delete
forgets it. KV is the truth: a hit is read back from KV, so a search never returns a stale
value. Documents were the other candidate; they have no key to address and no TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from memoturn.core.api import MAIN
from memoturn.core.errors import InvalidInput, NotFound
from memoturn.core.limits import MAX_RECALL_K
from memoturn.core.names import check_name
from memoturn.integrations._bridge import Node

SPACE = "langgraph"
"""The KV space of each profile that holds the store's items."""
SOURCE = "langgraph"
"""The ``source`` of the memories that make items recallable."""
_NS_META = "langgraph_ns_"
_KEY_META = "langgraph_key"
_PAGE = 1000


def kv_key(rest: tuple[str, ...], key: str) -> str:
    """The KV key of an item: each label followed by ``.``, then ``.`` and the item's key.
    Labels never hold ``.`` (LangGraph refuses them), so the first ``..`` ends the labels,
    and a namespace prefix is a key prefix (``a.`` matches ``a.b..k`` but not ``ab..k``)."""
    return kv_prefix(rest) + "." + key


def kv_prefix(rest: tuple[str, ...]) -> str:
    return "".join(f"{label}." for label in rest)


def _topic(key: str) -> str:
    return "langgraph-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def _ttl_s(minutes: float | None) -> int | None:
    return None if minutes is None else max(1, math.ceil(minutes * 60))


def item_text(value: dict[str, Any], index: list[str] | None) -> str:
    """What recall indexes for an item: the text at the ``index`` paths, else each scalar
    leaf of the value as ``path: value`` (reads better to BM25 and embeddings than JSON)."""
    if index is not None:
        texts = [t for path in index for t in get_text_at_path(value, tokenize_path(path))]
        return "\n".join(t for t in texts if t.strip())
    lines: list[str] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, dict):
            for k, sub in v.items():
                walk(sub, f"{path}.{k}" if path else str(k))
        elif isinstance(v, list):
            for sub in v:
                walk(sub, path)
        elif v is not None and str(v).strip():
            lines.append(f"{path}: {v}" if path else str(v))

    walk(value, "")
    return "\n".join(lines)


def matches(value: dict[str, Any], filter: dict[str, Any] | None) -> bool:
    """LangGraph's filter: top-level keys, nested objects compared key by key, and the
    operators ``$eq $ne $gt $gte $lt $lte`` (a comparison with a non-number is false)."""
    return not filter or all(_compare(value.get(k), f) for k, f in filter.items())


def _compare(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if any(k.startswith("$") for k in wanted):
            return all(_operator(actual, op, v) for op, v in wanted.items())
        return isinstance(actual, dict) and all(
            _compare(actual.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(wanted)
            and all(_compare(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return actual == wanted


def _operator(actual: Any, op: str, wanted: Any) -> bool:
    if op == "$eq":
        return actual == wanted
    if op == "$ne":
        return actual != wanted
    if op not in ("$gt", "$gte", "$lt", "$lte"):
        raise ValueError(f"unsupported filter operator {op!r}: use $eq $ne $gt $gte $lt $lte")
    try:
        a, w = float(actual), float(wanted)
    except (TypeError, ValueError):
        return False
    return {"$gt": a > w, "$gte": a >= w, "$lt": a < w, "$lte": a <= w}[op]


def _namespace_matches(ns: tuple[str, ...], cond: MatchCondition) -> bool:
    path = tuple(cond.path)
    if len(ns) < len(path):
        return False
    pairs = (
        zip(ns, path, strict=False)
        if cond.match_type == "prefix"
        else zip(reversed(ns), reversed(path), strict=False)
    )
    if cond.match_type not in ("prefix", "suffix"):
        raise ValueError(f"unsupported match type {cond.match_type!r}")
    return all(p == "*" or n == p for n, p in pairs)


class MemoturnStore(BaseStore):
    """LangGraph's ``BaseStore`` on the profiles of one Memoturn namespace.

    ``client``: a :class:`memoturn.Client`, :class:`memoturn.AsyncClient` (async methods
    only) or the engine of :func:`memoturn.open`. ``namespace``: the Memoturn namespace.
    ``profile_label``: which label of a LangGraph namespace names the profile. Profiles are
    created on first write when the client may (a namespace or root token). ``ttl``:
    LangGraph's ``TTLConfig`` (``default_ttl`` in minutes, ``refresh_on_read``).
    ``branch``: the profile-branch to use (each profile must have it).
    """

    supports_ttl = True

    def __init__(
        self,
        client: Any,
        namespace: str,
        *,
        profile_label: int = 0,
        ttl: TTLConfig | None = None,
        branch: str = MAIN,
    ) -> None:
        check_name(namespace, "namespace")
        if isinstance(profile_label, bool) or not isinstance(profile_label, int):
            raise InvalidInput("profile_label must be the index of a namespace label")
        if profile_label < 0:
            raise InvalidInput("profile_label must be 0 or more")
        self.namespace = namespace
        self.profile_label = profile_label
        self.ttl_config = ttl
        self.branch = branch
        self._node = client if isinstance(client, Node) else Node(client)

    # -- addressing -------------------------------------------------------------------------

    def _split(self, ns: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        i = self.profile_label
        if len(ns) <= i:
            raise InvalidNamespaceError(
                f"namespace {ns} has no label at index {i} to name the Memoturn profile "
                f"(MemoturnStore(profile_label={i}))"
            )
        try:
            profile = check_name(ns[i], "profile")
        except InvalidInput as e:
            raise InvalidNamespaceError(
                f"label {ns[i]!r} of namespace {ns} names the Memoturn profile: {e}"
            ) from None
        return profile, ns[:i] + ns[i + 1 :]

    def _profile_of(self, ns: tuple[str, ...]) -> str | None:
        """For reads: the profile a namespace names, or None when its label cannot be a
        profile name (nothing can be stored there, so nothing is found)."""
        try:
            return self._split(ns)[0]
        except InvalidNamespaceError:
            if len(ns) <= self.profile_label:
                raise  # too short: a mistake, not an empty place
            return None

    def _join(self, profile: str, rest: tuple[str, ...]) -> tuple[str, ...]:
        i = self.profile_label
        return (*rest[:i], profile, *rest[i:])

    def _refresh(self, refresh_ttl: bool | None) -> bool:
        if refresh_ttl is not None:
            return refresh_ttl
        return (self.ttl_config or {}).get("refresh_on_read", True)

    async def _call(self, profile: str, method: str, *args: Any, **kwargs: Any) -> Any:
        h = await self._node.acall(self._node.handle, self.namespace, profile, self.branch)
        return await self._node.acall(getattr(h, method), *args, **kwargs)

    async def _write(self, profile: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """A write that creates the profile first if it does not exist yet (and the client
        may: a namespace or root token)."""
        try:
            return await self._call(profile, method, *args, **kwargs)
        except NotFound:
            await self._node.aprovision(self.namespace, profile)
        return await self._call(profile, method, *args, **kwargs)

    async def _profiles(self, wanted: str | None) -> list[str]:
        """The profile named, or every profile of the namespace (needs its token)."""
        if wanted is not None:
            return [wanted]
        names, cursor = [], None
        while True:
            page = await self._node.acall(
                self._node.client.list_profiles, self.namespace, cursor=cursor
            )
            names.extend(page.profiles)
            if page.next_cursor is None:
                return names
            cursor = page.next_cursor

    # -- batch ------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the ops in order (reads first, then the puts, as LangGraph's stores do)."""
        if self._node.is_async:
            raise TypeError(
                "MemoturnStore was given a memoturn.AsyncClient: use the async methods "
                "(abatch, aget, aput, asearch, ...), or give it a memoturn.Client"
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.abatch(ops))
        raise RuntimeError("MemoturnStore.batch was called inside an event loop: use abatch")

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
        results: list[Result] = [None] * len(ops)
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for i, op in enumerate(ops):
            if isinstance(op, GetOp):
                results[i] = await self._get(op)
            elif isinstance(op, SearchOp):
                results[i] = await self._search(op)
            elif isinstance(op, ListNamespacesOp):
                results[i] = await self._list_namespaces(op)
            elif isinstance(op, PutOp):
                if op.namespace and op.namespace[0] == "langgraph":
                    raise InvalidNamespaceError('the root label "langgraph" is reserved')
                puts.pop((op.namespace, op.key), None)
                puts[(op.namespace, op.key)] = op  # the last put of a key wins
            else:
                raise ValueError(f"unknown operation {type(op).__name__}")
        for op in puts.values():
            await self._put(op)
        return results

    # -- the operations ---------------------------------------------------------------------

    def _item(self, profile: str, envelope: dict[str, Any], updated: float) -> dict[str, Any]:
        updated_at = envelope.get("updated_at") or updated
        return {
            "namespace": self._join(profile, tuple(envelope["ns"])),
            "key": envelope["key"],
            "value": envelope["value"],
            "created_at": _when(envelope.get("created_at") or updated_at),
            "updated_at": _when(updated_at),
        }

    async def _read(self, profile: str, key: str) -> tuple[dict[str, Any], float] | None:
        try:
            got = await self._call(profile, "kv_get", SPACE, key)
        except NotFound:
            return None  # no such item, or no such profile yet
        return got.value, got.updated_at

    async def _get(self, op: GetOp) -> Item | None:
        if self._profile_of(op.namespace) is None:
            return None
        profile, rest = self._split(op.namespace)
        key = kv_key(rest, op.key)
        found = await self._read(profile, key)
        if found is None:
            return None
        envelope, updated = found
        if self._refresh(op.refresh_ttl):
            await self._touch(profile, key, envelope, updated)
        return Item(**self._item(profile, envelope, updated))

    async def _touch(
        self, profile: str, key: str, envelope: dict[str, Any], updated: float
    ) -> None:
        """Restart an item's TTL (LangGraph: a TTL counts from the last read or write); its
        timestamps stay what they were."""
        if envelope.get("ttl") is None:
            return
        ttl_s = _ttl_s(envelope["ttl"])
        kept = {
            **envelope,
            "updated_at": envelope.get("updated_at") or updated,
            "created_at": envelope.get("created_at") or envelope.get("updated_at") or updated,
        }
        if envelope.get("memory_id"):
            await self._remember(profile, key, kept, ttl_s)
        await self._call(profile, "kv_set", SPACE, key, kept, ttl_s=ttl_s)

    async def _remember(
        self, profile: str, key: str, envelope: dict[str, Any], ttl_s: int | None
    ) -> str | None:
        """The memory that makes the item recallable (None when it is not indexed)."""
        index = envelope.get("index")
        if index is False:
            return None
        text = item_text(envelope["value"], index)
        if not text.strip():
            return None
        meta: dict[str, Any] = {_KEY_META: key}
        meta.update({f"{_NS_META}{n}": label for n, label in enumerate(envelope["ns"])})
        done = await self._write(
            profile,
            "ingest",
            "fact",
            text,
            topic=_topic(key),
            source=SOURCE,
            ttl_s=ttl_s,
            metadata=meta,
        )
        return done.memory.id

    async def _put(self, op: PutOp) -> None:
        profile, rest = self._split(op.namespace)
        key = kv_key(rest, op.key)
        found = await self._read(profile, key)
        old_memory = found[0].get("memory_id") if found else None
        if op.value is None:
            if found is not None:
                if old_memory:
                    await self._call(profile, "forget", old_memory, "deleted from the store")
                await self._call(profile, "kv_delete", SPACE, key)
            return
        if found is not None:
            created = found[0].get("created_at") or found[0].get("updated_at") or found[1]
        else:
            created = None  # the first write: its own time, read back from KV
        envelope: dict[str, Any] = {
            "ns": list(rest),
            "key": op.key,
            "value": dict(op.value),
            "created_at": created,
            "updated_at": None,
            "ttl": op.ttl,
            "index": op.index,
        }
        ttl_s = _ttl_s(op.ttl)
        memory = await self._remember(profile, key, envelope, ttl_s)
        if old_memory and memory != old_memory and memory is None:
            await self._call(profile, "forget", old_memory, "no longer indexed")
        envelope["memory_id"] = memory
        await self._write(profile, "kv_set", SPACE, key, envelope, ttl_s=ttl_s)

    async def _search(self, op: SearchOp) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        if len(prefix) > self.profile_label:
            if self._profile_of(prefix) is None:
                return []
            wanted, rest = self._split(prefix)
        else:
            wanted, rest = None, prefix
        found: list[tuple[float | None, str, dict[str, Any], float]] = []
        for profile in await self._profiles(wanted):
            try:
                if op.query:
                    found.extend(await self._recall(profile, rest, op))
                else:
                    found.extend(
                        (None, profile, env, updated)
                        for env, updated in await self._scan(profile, kv_prefix(rest))
                    )
            except NotFound:
                continue  # a profile that does not exist yet holds nothing
        found = [f for f in found if matches(f[2]["value"], op.filter)]
        if op.query:
            found.sort(key=lambda f: -(f[0] or 0.0))
        else:  # newest first, as LangGraph's Postgres store lists them
            found.sort(key=lambda f: -(f[2].get("updated_at") or f[3]))
        page = found[op.offset : op.offset + op.limit]
        if self._refresh(op.refresh_ttl):
            for _, profile, env, updated in page:
                await self._touch(profile, kv_key(tuple(env["ns"]), env["key"]), env, updated)
        return [
            SearchItem(**self._item(profile, env, updated), score=score)
            for score, profile, env, updated in page
        ]

    async def _scan(self, profile: str, prefix: str) -> list[tuple[dict[str, Any], float]]:
        out, cursor = [], None
        while True:
            page = await self._call(profile, "kv_list", SPACE, prefix=prefix, cursor=cursor)
            out.extend((i.value, i.updated_at) for i in page.items)
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor

    async def _recall(
        self, profile: str, rest: tuple[str, ...], op: SearchOp
    ) -> list[tuple[float | None, str, dict[str, Any], float]]:
        """Hybrid recall over the profile's indexed items under ``rest``: the best
        ``MAX_RECALL_K`` hits, each read back from KV (the truth)."""
        k = MAX_RECALL_K if op.filter else min(MAX_RECALL_K, max(1, op.offset + op.limit))
        meta = {f"{_NS_META}{n}": label for n, label in enumerate(rest)}
        hits = await self._call(
            profile,
            "recall",
            op.query,
            k=k,
            source=SOURCE,
            scopes=["memories"],
            metadata=meta or None,
        )
        out = []
        for hit in hits.results:
            key = hit.memory.metadata.get(_KEY_META)
            found = await self._read(profile, key) if isinstance(key, str) else None
            if found is not None and found[0].get("memory_id") == hit.memory.id:
                out.append((hit.score, profile, found[0], found[1]))
        return out

    async def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        wanted = None
        for cond in op.match_conditions or ():
            path = tuple(cond.path)
            i = self.profile_label if cond.match_type == "prefix" else None
            if i is not None and len(path) > i and path[i] != "*":
                wanted = self._profile_of(path)
                if wanted is None:
                    return []
        namespaces: set[tuple[str, ...]] = set()
        for profile in await self._profiles(wanted):
            try:
                for env, _ in await self._scan(profile, ""):
                    namespaces.add(self._join(profile, tuple(env["ns"])))
            except NotFound:
                continue
        kept = [
            ns
            for ns in namespaces
            if all(_namespace_matches(ns, c) for c in op.match_conditions or ())
        ]
        if op.max_depth is not None:
            kept = list({ns[: op.max_depth] for ns in kept})
        return sorted(kept)[op.offset : op.offset + op.limit]

    def __repr__(self) -> str:
        return f"<MemoturnStore {self.namespace} profile_label={self.profile_label}>"


__all__ = ["SOURCE", "SPACE", "MemoturnStore", "item_text", "kv_key", "matches"]
