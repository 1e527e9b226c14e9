"""Typed memories: idempotent ingest, supersession on a topic, forget, history."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from memoturn.core import limits, validate
from memoturn.core.errors import Conflict, InvalidInput, MemoturnError, NotFound
from memoturn.core.ids import content_hash, new_id
from memoturn.core.model import (
    IngestBatchResult,
    IngestResult,
    Memory,
    MemoryPage,
    MemoryResult,
    MemoryType,
    TopicHistory,
    Written,
)
from memoturn.profile import rows
from memoturn.profile.database import Transaction

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile

_TYPES = [t.value for t in MemoryType]
_NOT_EXPIRED = "(expires_at IS NULL OR expires_at > ?)"


@dataclasses.dataclass(frozen=True, slots=True)
class _Request:
    """A validated ingest request."""

    type: str
    content: str
    topic: str | None
    session_id: str | None
    source: str | None
    ttl_s: int | None
    metadata: dict[str, Any] | None
    """``None`` when the request gave none (a duplicate then keeps its metadata)."""
    idempotency_key: str | None
    turn_ids: list[int]
    content_hash: str
    valid_from: float | None
    """When the memory became true, if the caller says it was before now (a fact learned
    earlier, an import of old notes); ``None`` is the time of the write."""

    def fingerprint(self) -> str:
        fields = dataclasses.asdict(self)
        fields.pop("idempotency_key")
        fields["metadata"] = fields["metadata"] or {}
        return hashlib.blake2b(rows.dumps(fields).encode(), digest_size=16).hexdigest()


def _request(
    type: object,
    content: object,
    topic: object = None,
    session_id: object = None,
    source: object = None,
    ttl_s: object = None,
    metadata: object = None,
    idempotency_key: object = None,
    turn_ids: object = None,
    valid_from: object = None,
) -> _Request:
    mtype = validate.choice(type, "type", _TYPES)
    text = validate.text(content, "content", max_bytes=limits.MAX_MEMORY_CONTENT_BYTES)
    top = validate.short(topic, "topic", max_chars=limits.MAX_TOPIC_CHARS)
    sid = validate.session_id(session_id)
    src = validate.short(source, "source", max_chars=limits.MAX_SOURCE_CHARS)
    key = validate.short(
        idempotency_key, "idempotency_key", max_chars=limits.MAX_IDEMPOTENCY_KEY_CHARS
    )
    ids: list[int] = []
    if turn_ids is not None:
        if not isinstance(turn_ids, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in turn_ids
        ):
            raise InvalidInput("turn_ids must be a list of positive turn numbers")
        ids = list(turn_ids)
    return _Request(
        type=mtype,
        content=text,
        topic=top,
        session_id=sid,
        source=src,
        ttl_s=validate.ttl(ttl_s),
        metadata=validate.metadata(metadata) if metadata is not None else None,
        idempotency_key=key,
        turn_ids=ids,
        content_hash=content_hash(mtype, top, text, sid),
        valid_from=validate.timestamp(valid_from, "valid_from"),
    )


class MemoryOps:
    """Mixin of :class:`~memoturn.profile.profile.Profile`: the memory operations."""

    def ingest(self: Profile, type: str, content: str, **fields: Any) -> IngestResult:
        """Store one memory, or return the current identical one with ``duplicate=True``.

        Fields: ``topic`` (a memory with a topic replaces the current one on that topic, in
        the same transaction), ``session_id``, ``source``, ``ttl_s``, ``metadata``,
        ``idempotency_key`` (a retry with the same key returns the first answer), ``turn_ids``,
        ``valid_from`` (when it became true, if before now: not in the future, and not before
        the current version on its topic, which it closes at that time).
        """
        # Concurrent single ingests to this profile commit together (profile/grouping.py).
        return self.ingest_groups.ingest(_checked({"type": type, "content": content, **fields}))

    def ingest_many(
        self: Profile, items: Sequence[Mapping[str, Any]], *, defer_embedding: bool = False
    ) -> IngestBatchResult:
        """Ingest a batch in one transaction (one txid); results in input order.

        The whole batch is validated before anything is written: one bad item rejects all.
        ``defer_embedding`` acknowledges before the memories are embedded (bulk imports:
        the embedder, not storage, bounds synchronous ingest): they are keyword-recallable
        at once and found by meaning once :meth:`embed_pending` has run (the engine runs it
        in the background).
        """
        if not isinstance(items, Sequence) or isinstance(items, str | bytes):
            raise InvalidInput("items must be a list of memory objects")
        if not 1 <= len(items) <= limits.MAX_BATCH:
            raise InvalidInput(f"a batch holds 1 to {limits.MAX_BATCH} items, got {len(items)}")
        requests = []
        for i, item in enumerate(items):
            try:
                requests.append(_checked(item))
            except MemoturnError as e:
                raise type(e)(f"items[{i}]: {e.message}", hint=e.hint) from None
        results = self._ingest_requests(requests, defer_embedding=defer_embedding)
        return IngestBatchResult(results, max(r.txid for r in results))

    def _ingest_requests(
        self: Profile, requests: list[_Request], *, defer_embedding: bool = False
    ) -> list[IngestResult]:
        # Embed outside the lock, and only what is not already answered.
        answered = self._answered_without_write(requests)
        todo = [r for r, a in zip(requests, answered, strict=True) if a is None]
        if not todo:
            return [a for a in answered if a is not None]
        vec_of: dict[int, np.ndarray] = {}
        if not defer_embedding:
            vectors = self._embed([r.content for r in todo])
            vec_of = {id(r): vectors[i] for i, r in enumerate(todo)}
        results: list[IngestResult | None] = list(answered)
        with self.db.write() as tx:
            for i, req in enumerate(requests):
                if results[i] is None:
                    results[i] = self._ingest_in(tx, req, vec_of.get(id(req)))
            if not any(r.txid == tx.txid for r in results if r is not None):
                tx.cancel()  # everything turned out answered by the time we held the lock
        return [r for r in results if r is not None]

    def _answered_without_write(
        self: Profile, requests: list[_Request]
    ) -> list[IngestResult | None]:
        with self.db.read() as cur:
            now = self.clock.now()
            return [self._existing_answer(cur, req, now) for req in requests]

    def _existing_answer(self: Profile, cur: Any, req: _Request, now: float) -> IngestResult | None:
        if req.idempotency_key is not None:
            row = cur.execute(
                "SELECT request_hash, memory_id, txid, duplicate, superseded FROM idempotency "
                "WHERE key = ?",
                (req.idempotency_key,),
            ).fetchone()
            if row is not None:
                if row[0] != req.fingerprint():
                    raise Conflict(
                        f"idempotency_key {req.idempotency_key!r} was used for a different request",
                        hint="use a new key for a new request",
                    )
                mem = self._memory_by_id(cur, row[1], include_expired=True)
                return IngestResult(mem, row[2], bool(row[3]), json.loads(row[4]))
        dup = self._current_duplicate(cur, req, now)
        if dup is not None:
            mem = rows.memory(dup)
            if _changes(mem, req):
                return None  # a write: the duplicate's metadata or expiry changes
            # Inside a batch the original may be from this very transaction.
            return IngestResult(mem, max(self.db.txid, mem.txid), True, [])
        return None

    def _current_duplicate(self: Profile, cur: Any, req: _Request, now: float) -> Any:
        """The row of the current, live memory with the request's content, if any."""
        return cur.execute(
            f"SELECT {rows.MEMORY_COLUMNS} FROM memories WHERE content_hash = ? "
            f"AND valid_to IS NULL AND {_NOT_EXPIRED} AND created_at > ?",
            (req.content_hash, now, self.retained_after(now) or -1.0),
        ).fetchone()

    def _update_duplicate(self: Profile, tx: Transaction, req: _Request) -> IngestResult | None:
        """Re-ingesting current content with new metadata or a new TTL updates the existing
        memory in place (same id, no new version) and says which fields changed."""
        cur, now = tx.cursor, tx.now
        dup = self._current_duplicate(cur, req, now)
        if dup is None:
            return None
        mem = rows.memory(dup)
        changes = _changes(mem, req)
        metadata = req.metadata if "metadata" in changes else mem.metadata
        ttl, capped = req.ttl_s, False
        cap = self.task_ttl_max_s
        if ttl is not None and mem.type == MemoryType.TASK and cap is not None and ttl > cap:
            ttl, capped = cap, True
        expires_at = now + ttl if "expires_at" in changes and ttl else mem.expires_at
        cur.execute(
            "UPDATE memories SET metadata = ?, expires_at = ? WHERE id = ?",
            (rows.dumps(metadata), expires_at, mem.id),
        )
        (rid,) = cur.execute("SELECT rid FROM memories WHERE id = ?", (mem.id,)).fetchone()
        tx.after_commit(lambda: self.memory_index.set_expires_at(rid, expires_at))
        updated = self._memory_by_id(cur, mem.id, include_expired=True)
        return IngestResult(updated, tx.txid, True, [], sorted(changes), ttl_capped=capped)

    def _ingest_in(
        self: Profile,
        tx: Transaction,
        req: _Request,
        vector: np.ndarray | None,
        *,
        from_transcript: bool = False,
    ) -> IngestResult:
        """``from_transcript``: a memory extracted from its session's turns, which names the
        session as its provenance even once the session has ended (tasks excepted)."""
        cur, now = tx.cursor, tx.now
        answer = self._existing_answer(cur, req, now)
        if answer is not None:
            return answer
        answer = self._update_duplicate(tx, req)
        if answer is not None:
            return answer
        valid_from = _valid_from(req, now)
        ttl = req.ttl_s
        if req.session_id is not None and not (from_transcript and req.type != MemoryType.TASK):
            session = self._session_for_write(tx, req.session_id)
            if req.type == MemoryType.TASK and req.ttl_s is None:
                ttl = session.task_ttl_s
        capped = False
        cap = self.task_ttl_max_s
        if req.type == MemoryType.TASK and cap is not None and (ttl is None or ttl > cap):
            ttl, capped = cap, True
        expires_at = now + ttl if ttl is not None else None
        mid = new_id()
        superseded: list[str] = []
        if req.topic is not None:
            for rid, old_id, old_from in cur.execute(
                "SELECT rid, id, valid_from FROM memories WHERE topic = ? AND valid_to IS NULL",
                (req.topic,),
            ).fetchall():
                if req.valid_from is not None and valid_from < old_from:
                    raise InvalidInput(
                        f"valid_from is before the current memory on topic {req.topic!r} "
                        f"({old_id}) became true",
                        hint="a new version of a topic starts after the one it replaces; "
                        "omit valid_from to mean now",
                    )
                cur.execute(
                    "UPDATE memories SET valid_to = ?, superseded_by = ? WHERE rid = ?",
                    (valid_from, mid, rid),
                )
                superseded.append(old_id)
                tx.after_commit(lambda rid=rid: self.memory_index.set_valid_to(rid, valid_from))
        cur.execute(
            "INSERT INTO memories(id, type, content, topic, session_id, source, metadata, "
            "content_hash, created_at, valid_from, expires_at, turn_ids, txid, embedding) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                mid,
                req.type,
                req.content,
                req.topic,
                req.session_id,
                req.source,
                rows.dumps(req.metadata or {}),
                req.content_hash,
                now,
                valid_from,
                expires_at,
                rows.dumps(req.turn_ids),
                tx.txid,
                rows.to_embedding_blob(vector) if vector is not None else None,
            ),
        )
        rid = self.db.conn.last_insert_rowid()
        if vector is not None:
            tx.after_commit(
                lambda: self.memory_index.add(
                    rid, vector, valid_from=valid_from, expires_at=expires_at
                )
            )
        if req.idempotency_key is not None:
            cur.execute(
                "INSERT INTO idempotency(key, request_hash, memory_id, txid, duplicate, "
                "superseded, created_at) VALUES (?,?,?,?,?,?,?)",
                (
                    req.idempotency_key,
                    req.fingerprint(),
                    mid,
                    tx.txid,
                    0,
                    rows.dumps(superseded),
                    now,
                ),
            )
        mem = self._memory_by_id(cur, mid, include_expired=True)
        return IngestResult(mem, tx.txid, False, superseded, ttl_capped=capped)

    def _memory_by_id(
        self: Profile, cur: Any, memory_id: str, *, include_expired: bool = False
    ) -> Memory:
        row = cur.execute(
            f"SELECT {rows.MEMORY_COLUMNS} FROM memories WHERE id = ?", (memory_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no memory {memory_id!r} in this profile")
        mem = rows.memory(row)
        cutoff = self.retained_after(self.clock.now())
        if cutoff is not None and mem.created_at <= cutoff and not include_expired:
            raise NotFound(f"memory {memory_id!r} has passed the retention period")
        if (
            not include_expired
            and mem.expires_at is not None
            and mem.expires_at <= self.clock.now()
        ):
            raise NotFound(f"memory {memory_id!r} has expired")
        return mem

    def pending_embeddings(self: Profile) -> int:
        """How many memories still wait for their embedding (see ``defer_embedding``)."""
        with self.db.read() as cur:
            (n,) = cur.execute("SELECT count(*) FROM memories WHERE embedding IS NULL").fetchone()
        return int(n)

    def embed_pending(self: Profile, limit: int = 256) -> int:
        """Embed up to ``limit`` memories ingested with ``defer_embedding``, in one write
        transaction; returns how many (0: nothing was pending, nothing written)."""
        with self.db.read() as cur:
            todo = cur.execute(
                "SELECT rid, content FROM memories WHERE embedding IS NULL ORDER BY rid LIMIT ?",
                (limit,),
            ).fetchall()
        if not todo:
            return 0
        vectors = self._embed([content for _, content in todo])
        with self.db.write() as tx:
            done = 0
            for (rid, _), vec in zip(todo, vectors, strict=True):
                row = tx.cursor.execute(
                    "SELECT valid_from, valid_to, expires_at FROM memories "
                    "WHERE rid = ? AND embedding IS NULL",
                    (rid,),
                ).fetchone()
                if row is None:
                    continue  # deleted or embedded meanwhile
                tx.cursor.execute(
                    "UPDATE memories SET embedding = ? WHERE rid = ?",
                    (rows.to_embedding_blob(vec), rid),
                )
                tx.after_commit(
                    lambda rid=rid, vec=vec, row=row: self.memory_index.add(
                        rid, vec, valid_from=row[0], valid_to=row[1], expires_at=row[2]
                    )
                )
                done += 1
            if done == 0:
                tx.cancel()
        return done

    def get_memory(self: Profile, memory_id: str) -> MemoryResult:
        """One memory by id, current or historical; expired memories are not found."""
        validate.short(memory_id, "memory id", max_chars=64)
        with self.db.read() as cur:
            return MemoryResult(self._memory_by_id(cur, memory_id), self.db.txid)

    def list_memories(
        self: Profile,
        *,
        type: str | None = None,
        topic: str | None = None,
        session_id: str | None = None,
        source: str | None = None,
        include_history: bool = False,
        limit: int = 100,
        cursor: str | None = None,
    ) -> MemoryPage:
        """Memories oldest first (ids sort by time); ``cursor`` is the ``next_cursor`` of
        the previous page."""
        now = self.clock.now()
        conds, params = [_NOT_EXPIRED, "created_at > ?"], [now, self.retained_after(now) or -1.0]
        if type is not None:
            conds.append("type = ?")
            params.append(validate.choice(type, "type", _TYPES))
        for col, value in (("topic", topic), ("session_id", session_id), ("source", source)):
            if value is not None:
                conds.append(f"{col} = ?")
                params.append(validate.short(value, col, max_chars=256))
        if not include_history:
            conds.append("valid_to IS NULL")
        if cursor is not None:
            conds.append("id > ?")
            params.append(validate.short(cursor, "cursor", max_chars=64))
        limit = validate.integer(limit, "limit", low=1, high=1000)
        with self.db.read() as cur:
            found = cur.execute(
                f"SELECT {rows.MEMORY_COLUMNS} FROM memories WHERE {' AND '.join(conds)} "
                "ORDER BY id LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
            txid = self.db.txid
        page, next_cursor = rows.page([rows.memory(r) for r in found], limit, lambda m: m.id)
        return MemoryPage(page, txid, next_cursor)

    def topic_history(self: Profile, topic: str) -> TopicHistory:
        """Every version of a topic, oldest first, superseded and forgotten ones included."""
        topic = validate.short(topic, "topic", max_chars=limits.MAX_TOPIC_CHARS) or ""
        now = self.clock.now()
        with self.db.read() as cur:
            found = cur.execute(
                f"SELECT {rows.MEMORY_COLUMNS} FROM memories WHERE topic = ? AND {_NOT_EXPIRED} "
                "AND created_at > ? ORDER BY valid_from, id",
                (topic, now, self.retained_after(now) or -1.0),
            ).fetchall()
            txid = self.db.txid
        return TopicHistory([rows.memory(r) for r in found], txid)

    def forget(self: Profile, memory_id: str, reason: str | None = None) -> Written:
        """Retire a memory from recall; history keeps it as a tombstone with ``reason``.

        Forgetting a memory that is already retired changes nothing (``count`` 0)."""
        validate.short(memory_id, "memory id", max_chars=64)
        why = validate.short(reason, "reason", max_chars=512) or "forgotten"
        with self.db.write() as tx:
            mem = self._memory_by_id(tx.cursor, memory_id)
            if mem.valid_to is not None:
                tx.cancel()
                return Written(self.db.txid, 0)
            tx.cursor.execute(
                "UPDATE memories SET valid_to = ?, forgotten_reason = ? WHERE id = ?",
                (tx.now, why, memory_id),
            )
            row = tx.cursor.execute(
                "SELECT rid FROM memories WHERE id = ?", (memory_id,)
            ).fetchone()
            now = tx.now
            tx.after_commit(lambda: self.memory_index.set_valid_to(row[0], now))
        return Written(tx.txid, 1)


def _changes(mem: Memory, req: _Request) -> set[str]:
    """What re-ingesting ``mem``'s content with ``req`` would change on it."""
    changes = set()
    if req.metadata is not None and req.metadata != mem.metadata:
        changes.add("metadata")
    if req.ttl_s is not None:
        changes.add("expires_at")  # the TTL runs again from now
    return changes


def _valid_from(req: _Request, now: float) -> float:
    if req.valid_from is None:
        return now
    if req.valid_from > now:
        raise InvalidInput(
            "valid_from is in the future",
            hint="valid_from says since when a memory has been true; give a past time or omit it",
        )
    return req.valid_from


def _checked(item: object) -> _Request:
    if not isinstance(item, Mapping):
        raise InvalidInput("a memory must be an object")
    unknown = set(item) - _FIELDS
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    missing = {"type", "content"} - set(item)
    if missing:
        raise InvalidInput(f"missing fields: {', '.join(sorted(missing))}")
    return _request(**item)


_FIELDS = frozenset(
    {
        "type",
        "content",
        "topic",
        "session_id",
        "source",
        "ttl_s",
        "metadata",
        "idempotency_key",
        "turn_ids",
        "valid_from",
    }
)
