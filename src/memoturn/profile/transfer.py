"""Export and import of a whole profile-branch as JSON Lines (format version 1).

An export is one JSON object per line, each ``{"kind": ..., ...}``: a ``header`` line (format
version, schema version, embedder), then every record — sessions, turns, memories (current,
superseded and forgotten, with their links), idempotency keys, documents, KV keys, vector
collections, vectors — and an ``end`` line with the record count, so a cut-off file is
refused instead of half-imported. docs/cli.md describes each kind and its fields.

What makes the round trip exact: every field is written as stored (times as epoch-second
floats, which JSON carries exactly; vectors as numbers that parse back to the same float32),
rows are written in their storage order (so imported rows keep their relative order, which
breaks ranking ties), and nothing derived is written: content hashes, keyword indexes and
embeddings are rebuilt on import. Expired items, already invisible to every read, are left
out. The txid each record was written at is not carried: an import is one transaction, and
its txid is the one every imported record carries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from memoturn.core import validate
from memoturn.core.errors import Conflict
from memoturn.core.ids import content_hash
from memoturn.core.model import ImportResult
from memoturn.profile import rows
from memoturn.profile.database import Transaction
from memoturn.profile.export_format import (
    FIELDS,
    FORMAT_VERSION,
    KINDS,
    Parsed,
    float32_numbers,
    line,
    parse,
    texts_to_embed,
)
from memoturn.profile.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile

# -- export -----------------------------------------------------------------------------------

_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _export_lines(cur: Any, now: float, embedder: str, dim: int) -> Iterator[str]:
    yield line(
        "header",
        {
            "format": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "embedder": embedder,
            "dim": dim,
        },
    )
    count = 0

    def each(kind: str, sql: str, params: tuple[Any, ...], convert: Callable) -> Iterator[str]:
        nonlocal count
        names = list(FIELDS[kind])
        for row in cur.execute(sql, params).fetchall():
            count += 1
            yield line(kind, convert(dict(zip(names, row, strict=True))))

    def meta(r: dict[str, Any]) -> dict[str, Any]:
        r["metadata"] = json.loads(r["metadata"])
        return r

    yield from each(
        "session",
        "SELECT id, created_at, ended_at, task_ttl_s, metadata, next_turn FROM sessions "
        "ORDER BY id",
        (),
        meta,
    )
    yield from each(
        "turn",
        "SELECT session_id, turn, role, name, content, metadata, created_at FROM turns "
        "ORDER BY rid",
        (),
        meta,
    )

    def memory(r: dict[str, Any]) -> dict[str, Any]:
        r["turn_ids"] = json.loads(r["turn_ids"])
        return meta(r)

    yield from each(
        "memory",
        "SELECT id, type, content, topic, session_id, source, metadata, created_at, "
        "valid_from, valid_to, superseded_by, forgotten_reason, expires_at, turn_ids "
        f"FROM memories WHERE {_LIVE} ORDER BY rid",
        (now,),
        memory,
    )

    def idempotency(r: dict[str, Any]) -> dict[str, Any]:
        r["duplicate"] = bool(r["duplicate"])
        r["superseded"] = json.loads(r["superseded"])
        return r

    yield from each(
        "idempotency",
        "SELECT i.key, i.request_hash, i.memory_id, i.duplicate, i.superseded, i.created_at "
        "FROM idempotency i JOIN memories m ON m.id = i.memory_id "
        "WHERE m.expires_at IS NULL OR m.expires_at > ? ORDER BY i.key",
        (now,),
        idempotency,
    )
    chunks: dict[str, list[str]] = {}
    for doc_id, content in cur.execute(
        "SELECT document_id, content FROM chunks ORDER BY document_id, chunk"
    ).fetchall():
        chunks.setdefault(doc_id, []).append(content)

    def document(r: dict[str, Any]) -> dict[str, Any]:
        r["chunks"] = chunks.get(r["id"], [])
        return meta(r)

    yield from each(
        "document",
        # The chunks column is a count in the table and the chunk texts in the export.
        "SELECT id, title, content, metadata, created_at, chunks FROM documents d "
        "ORDER BY (SELECT min(rid) FROM chunks c WHERE c.document_id = d.id), id",
        (),
        document,
    )

    def kv(r: dict[str, Any]) -> dict[str, Any]:
        r["value"] = json.loads(r["value"])
        return r

    yield from each(
        "kv",
        f"SELECT space, key, value, expires_at, updated_at FROM kv WHERE {_LIVE} "
        "ORDER BY space, key",
        (now,),
        kv,
    )
    yield from each(
        "collection",
        "SELECT name, dim, created_at FROM vector_collections ORDER BY name",
        (),
        lambda r: r,
    )

    def vector(r: dict[str, Any]) -> dict[str, Any]:
        r["vector"] = float32_numbers(r["vector"])
        return meta(r)

    yield from each(
        "vector",
        "SELECT collection, id, vector, metadata, updated_at FROM vectors ORDER BY collection, id",
        (),
        vector,
    )
    yield line("end", {"records": count})


# -- the operations -------------------------------------------------------------------------


def _holdings(cur: Any, now: float) -> dict[tuple[str, str], int]:
    """How many live records of each kind a profile-branch holds."""
    found = {}
    for what, sql in (
        (("memories", "memory"), f"SELECT count(*) FROM memories WHERE {_LIVE}"),
        (("sessions", "session"), "SELECT count(*) FROM sessions"),
        (("documents", "document"), "SELECT count(*) FROM documents"),
        (("KV keys", "KV key"), f"SELECT count(*) FROM kv WHERE {_LIVE}"),
        (("vector collections", "vector collection"), "SELECT count(*) FROM vector_collections"),
    ):
        (n,) = cur.execute(sql, (now,) if "?" in sql else ()).fetchone()
        if n:
            found[what] = int(n)
    return found


def _require_empty(cur: Any, now: float) -> None:
    held = _holdings(cur, now)
    if held:
        raise Conflict(
            "this profile-branch is not empty: it holds "
            + ", ".join(f"{n} {what if n > 1 else one}" for (what, one), n in held.items()),
            hint="import into a new, empty profile (an import never merges)",
        )


class TransferOps:
    """Mixin of :class:`~memoturn.profile.profile.Profile`: export and import."""

    def export_profile(self: Profile) -> str:
        """The whole profile-branch as JSON Lines (format version 1): every memory with its
        history, sessions and turns, KV keys, documents and vector collections. Embeddings
        are not written; an import recomputes them."""
        with self.db.read() as cur:
            return "".join(
                _export_lines(cur, self.clock.now(), self.embedder.name, self.embedder.dim)
            )

    def import_profile(self: Profile, data: str | bytes | Iterable[str | bytes]) -> ImportResult:
        """Load an export into this profile-branch, which must be empty (else Conflict), in
        one transaction (one txid). The whole export is checked first: a bad line is an
        InvalidInput naming it, and changes nothing."""
        with self.db.read() as cur:
            _require_empty(cur, self.clock.now())  # before the costly part
        parsed = parse(data)
        memory_texts, turn_texts, chunk_texts = texts_to_embed(parsed)
        texts = memory_texts + turn_texts + chunk_texts
        vectors = self._embed(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)
        counts = {k: len(parsed.records[k]) for k in KINDS}
        if not any(counts.values()):
            return ImportResult(self.db.txid, counts)  # nothing to write, no txid taken
        with self.db.write() as tx:
            _require_empty(tx.cursor, tx.now)
            self._clear_leftovers(tx)
            m, t = len(memory_texts), len(turn_texts)
            self._import_sessions(tx, parsed, vectors[m : m + t])
            self._import_memories(tx, parsed, vectors[:m])
            self._import_documents(tx, parsed, vectors[m + t :])
            self._import_store(tx, parsed)
        return ImportResult(tx.txid, counts)

    def _clear_leftovers(self: Profile, tx: Transaction) -> None:
        """An empty profile may still hold expired rows the sweeper has not purged, and
        idempotency keys of memories that are gone; drop them, invisible as they are."""
        cur = tx.cursor
        expired = cur.execute("SELECT rid FROM memories").fetchall()
        cur.execute("DELETE FROM memories")
        cur.execute("DELETE FROM kv")
        cur.execute("DELETE FROM idempotency")
        for (rid,) in expired:
            tx.after_commit(lambda rid=rid: self.memory_index.remove(rid))

    def _import_sessions(self: Profile, tx: Transaction, parsed: Parsed, vectors: Any) -> None:
        cur = tx.cursor
        for s in parsed.of("session"):
            cur.execute(
                "INSERT INTO sessions(id, created_at, ended_at, task_ttl_s, metadata, next_turn) "
                "VALUES (?,?,?,?,?,?)",
                (
                    s["id"],
                    s["created_at"],
                    s["ended_at"],
                    s["task_ttl_s"],
                    rows.dumps(s["metadata"]),
                    s["next_turn"],
                ),
            )
        for t, vec in zip(parsed.of("turn"), vectors, strict=True):
            cur.execute(
                "INSERT INTO turns(session_id, turn, role, name, content, metadata, created_at, "
                "embedding) VALUES (?,?,?,?,?,?,?,?)",
                (
                    t["session_id"],
                    t["turn"],
                    t["role"],
                    t["name"],
                    t["content"],
                    rows.dumps(t["metadata"]),
                    t["created_at"],
                    rows.to_embedding_blob(vec),
                ),
            )
            rid = self.db.conn.last_insert_rowid()
            tx.after_commit(lambda rid=rid, vec=vec: self.turn_index.add(rid, vec))

    def _import_memories(self: Profile, tx: Transaction, parsed: Parsed, vectors: Any) -> None:
        cur = tx.cursor
        for m, vec in zip(parsed.of("memory"), vectors, strict=True):
            cur.execute(
                "INSERT INTO memories(id, type, content, topic, session_id, source, metadata, "
                "content_hash, created_at, valid_from, valid_to, superseded_by, "
                "forgotten_reason, expires_at, turn_ids, txid, embedding) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    m["id"],
                    m["type"],
                    m["content"],
                    m["topic"],
                    m["session_id"],
                    m["source"],
                    rows.dumps(m["metadata"]),
                    content_hash(m["type"], m["topic"], m["content"], m["session_id"]),
                    m["created_at"],
                    m["valid_from"],
                    m["valid_to"],
                    m["superseded_by"],
                    m["forgotten_reason"],
                    m["expires_at"],
                    rows.dumps(m["turn_ids"]),
                    tx.txid,
                    rows.to_embedding_blob(vec),
                ),
            )
            rid = self.db.conn.last_insert_rowid()
            tx.after_commit(
                lambda rid=rid, vec=vec, m=m: self.memory_index.add(
                    rid,
                    vec,
                    valid_from=m["valid_from"],
                    valid_to=m["valid_to"],
                    expires_at=m["expires_at"],
                )
            )
        for i in parsed.of("idempotency"):
            cur.execute(
                "INSERT INTO idempotency(key, request_hash, memory_id, txid, duplicate, "
                "superseded, created_at) VALUES (?,?,?,?,?,?,?)",
                (
                    i["key"],
                    i["request_hash"],
                    i["memory_id"],
                    tx.txid,
                    int(i["duplicate"]),
                    rows.dumps(i["superseded"]),
                    i["created_at"],
                ),
            )

    def _import_documents(self: Profile, tx: Transaction, parsed: Parsed, vectors: Any) -> None:
        cur, at = tx.cursor, 0
        for d in parsed.of("document"):
            cur.execute(
                "INSERT INTO documents(id, title, content, metadata, created_at, chunks) "
                "VALUES (?,?,?,?,?,?)",
                (
                    d["id"],
                    d["title"],
                    d["content"],
                    rows.dumps(d["metadata"]),
                    d["created_at"],
                    len(d["chunks"]),
                ),
            )
            for n, piece in enumerate(d["chunks"]):
                vec = vectors[at]
                at += 1
                cur.execute(
                    "INSERT INTO chunks(document_id, chunk, content, embedding) VALUES (?,?,?,?)",
                    (d["id"], n, piece, rows.to_embedding_blob(vec)),
                )
                rid = self.db.conn.last_insert_rowid()
                tx.after_commit(lambda rid=rid, vec=vec: self.chunk_index.add(rid, vec))

    def _import_store(self: Profile, tx: Transaction, parsed: Parsed) -> None:
        cur = tx.cursor
        for k in parsed.of("kv"):
            cur.execute(
                "INSERT INTO kv(space, key, value, expires_at, updated_at) VALUES (?,?,?,?,?)",
                (
                    k["space"],
                    k["key"],
                    validate.json_dumps(k["value"], "value"),
                    k["expires_at"],
                    k["updated_at"],
                ),
            )
        for c in parsed.of("collection"):
            cur.execute(
                "INSERT INTO vector_collections(name, dim, created_at) VALUES (?,?,?)",
                (c["name"], c["dim"], c["created_at"]),
            )
        for v in parsed.of("vector"):
            cur.execute(
                "INSERT INTO vectors(collection, id, vector, metadata, updated_at) "
                "VALUES (?,?,?,?,?)",
                (
                    v["collection"],
                    v["id"],
                    rows.to_blob(np.asarray(v["vector"], np.float32)),
                    rows.dumps(v["metadata"]),
                    v["updated_at"],
                ),
            )
        tx.after_commit(self._vector_cache.clear)
