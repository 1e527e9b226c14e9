"""The hard delete of an erasure inside one profile database.

Rows go with everything derived from them: the FTS5 index entries (the tables run FTS5's
``secure-delete``, so the tokens leave the index pages), the embedding in the row, the
in-memory vector index entry, every version of a topic, tombstones, idempotency records. The
database runs ``PRAGMA secure_delete``, so freed cells and pages are zeroed. The caller
folds the WAL into the file and truncates it afterwards (the engine's part).

Each erased item is reported with a keyed digest of its content (HMAC-SHA256 with a
deployment secret): the receipt proves what was erased without holding it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from memoturn.core.erasure import ErasureRequest

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile


@dataclasses.dataclass(frozen=True, slots=True)
class ErasedItem:
    kind: str
    """``memory``, ``turn``, ``session``, ``document``, ``kv`` or ``vector``."""
    id: str
    digest: str
    """HMAC-SHA256 (hex) of the item's content under the deployment's erasure secret."""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "digest": self.digest}


def digest(secret: bytes, content: str) -> str:
    return hmac.new(secret, content.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


_TABLES_ALL = (
    "memories",
    "turns",
    "sessions",
    "kv",
    "chunks",
    "documents",
    "vectors",
    "vector_collections",
    "idempotency",
    "extracted_turns",
)


def delete_rows(
    profile: Profile, cur: Any, req: ErasureRequest, secret: bytes
) -> tuple[list[ErasedItem], dict[str, list[int]]]:
    """Delete what ``req`` names, inside the caller's transaction on ``cur``. Returns the
    items erased and, per vector index (``memories``, ``turns``, ``chunks``), the rids to
    drop from it once committed."""
    items: list[ErasedItem] = []
    rids: dict[str, list[int]] = {"memories": [], "turns": [], "chunks": []}

    def take(sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return list(cur.execute(sql, args).fetchall())

    # memories: by id (each with its topic chain), by topic, a session's tasks, or all
    memory_rows: dict[int, tuple[Any, ...]] = {}
    cols = "rid, id, content, topic, forgotten_reason"
    topics: set[str] = set()
    if req.all:
        for row in take(f"SELECT {cols} FROM memories", ()):
            memory_rows[row[0]] = row
    for mid in req.memory_ids:
        for row in take(f"SELECT {cols} FROM memories WHERE id = ?", (mid,)):
            memory_rows[row[0]] = row
            if row[3] is not None:
                topics.add(row[3])
    if req.topic is not None:
        topics.add(req.topic)
    for topic in sorted(topics):
        for row in take(f"SELECT {cols} FROM memories WHERE topic = ?", (topic,)):
            memory_rows[row[0]] = row
    if req.session_id is not None:
        for row in take(
            f"SELECT {cols} FROM memories WHERE session_id = ? AND type = 'task'",
            (req.session_id,),
        ):
            memory_rows[row[0]] = row
    if req.retention_before is not None:  # the sweeper's: everything past retention
        for row in take(
            f"SELECT {cols} FROM memories WHERE created_at <= ?", (req.retention_before,)
        ):
            memory_rows[row[0]] = row
    for rid, mid, content, _, reason in sorted(memory_rows.values()):
        items.append(ErasedItem("memory", mid, digest(secret, content)))
        cur.execute("DELETE FROM memories WHERE rid = ?", (rid,))
        cur.execute("DELETE FROM idempotency WHERE memory_id = ?", (mid,))
        rids["memories"].append(rid)
        del reason  # the tombstone's reason goes with its row

    # a session: its turns and its record
    sessions = (
        [r[0] for r in take("SELECT id FROM sessions", ())]
        if req.all
        else [req.session_id]
        if req.session_id is not None
        else []
    )
    for sid in sessions:
        for rid, turn, content in take(
            "SELECT rid, turn, content FROM turns WHERE session_id = ? ORDER BY turn", (sid,)
        ):
            items.append(ErasedItem("turn", f"{sid}#{turn}", digest(secret, content)))
            rids["turns"].append(rid)
        cur.execute("DELETE FROM turns WHERE session_id = ?", (sid,))
        # how far extraction got holds each turn's hash: a digest of the erased words
        cur.execute("DELETE FROM extracted_turns WHERE session_id = ?", (sid,))
        row = cur.execute("SELECT metadata FROM sessions WHERE id = ?", (sid,)).fetchone()
        if row is not None:
            items.append(ErasedItem("session", sid, digest(secret, row[0])))
            cur.execute("DELETE FROM sessions WHERE id = ?", (sid,))

    if req.retention_before is not None:
        for rid, sid, turn, content in take(
            "SELECT rid, session_id, turn, content FROM turns WHERE created_at <= ?",
            (req.retention_before,),
        ):
            items.append(ErasedItem("turn", f"{sid}#{turn}", digest(secret, content)))
            rids["turns"].append(rid)
            cur.execute("DELETE FROM turns WHERE rid = ?", (rid,))
            cur.execute(
                "DELETE FROM extracted_turns WHERE session_id = ? AND turn = ?", (sid, turn)
            )

    # documents and their chunks
    if req.all:
        documents: list[str] | tuple[str, ...] = [
            r[0] for r in take("SELECT id FROM documents", ())
        ]
    elif req.retention_before is not None:
        documents = [
            r[0]
            for r in take("SELECT id FROM documents WHERE created_at <= ?", (req.retention_before,))
        ]
    else:
        documents = req.document_ids
    for did in documents:
        row = cur.execute("SELECT content FROM documents WHERE id = ?", (did,)).fetchone()
        if row is None:
            continue
        items.append(ErasedItem("document", did, digest(secret, row[0])))
        rids["chunks"].extend(
            r[0] for r in take("SELECT rid FROM chunks WHERE document_id = ?", (did,))
        )
        cur.execute("DELETE FROM chunks WHERE document_id = ?", (did,))
        cur.execute("DELETE FROM documents WHERE id = ?", (did,))

    # KV keys (expired ones too: they are invisible, not gone)
    keys = take("SELECT space, key FROM kv", ()) if req.all else list(req.kv)
    for space, key in keys:
        row = cur.execute(
            "SELECT value FROM kv WHERE space = ? AND key = ?", (space, key)
        ).fetchone()
        if row is None:
            continue
        items.append(ErasedItem("kv", f"{space}/{key}", digest(secret, row[0])))
        cur.execute("DELETE FROM kv WHERE space = ? AND key = ?", (space, key))

    if req.all:
        for collection, vid, metadata in take("SELECT collection, id, metadata FROM vectors", ()):
            items.append(ErasedItem("vector", f"{collection}/{vid}", digest(secret, metadata)))
        for table in _TABLES_ALL:
            cur.execute(f"DELETE FROM {table}")
    return items, rids


def retained_count(profile: Profile, cutoff: float) -> int:
    """How many memories, turns and documents were created at or before ``cutoff``."""
    with profile.db.read() as cur:
        return sum(
            cur.execute(
                f"SELECT count(*) FROM {table} WHERE created_at <= ?", (cutoff,)
            ).fetchone()[0]
            for table in ("memories", "turns", "documents")
        )


def drop_from_indexes(profile: Profile, rids: dict[str, list[int]]) -> None:
    """Remove erased rows from the in-memory vector indexes (after the commit)."""
    for name, index in (
        ("memories", profile.memory_index),
        ("turns", profile.turn_index),
        ("chunks", profile.chunk_index),
    ):
        for rid in rids[name]:
            index.remove(rid)
    profile._vector_cache.clear()


def erase(profile: Profile, req: ErasureRequest, secret: bytes) -> tuple[int, list[ErasedItem]]:
    """Hard-delete what ``req`` names in one write transaction (always a new txid, even
    when nothing matched: it is the erasure's point in history). Returns (txid, items)."""
    with profile.db.write() as tx:
        items, rids = delete_rows(profile, tx.cursor, req, secret)
        tx.after_commit(lambda: drop_from_indexes(profile, rids))
    return tx.txid, items


def erase_in_place(profile: Profile, req: ErasureRequest, secret: bytes) -> list[ErasedItem]:
    """The same delete on a database image of an earlier state (a checkpoint's), keeping
    its txid: the image stays the state of that txid, minus the erased items."""
    with profile.db.lock:
        conn = profile.db.conn
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            items, _ = delete_rows(profile, cur, req, secret)
            cur.execute("COMMIT")
        except BaseException:
            if not conn.getautocommit():
                cur.execute("ROLLBACK")
            raise
    return items


__all__ = ["ErasedItem", "delete_rows", "digest", "erase", "erase_in_place"]
