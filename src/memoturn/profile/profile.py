"""A profile-branch: its database plus the in-memory state recall needs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memoturn.core.clock import Clock, SystemClock
from memoturn.core.errors import Conflict
from memoturn.core.model import Written
from memoturn.embed import Embedder
from memoturn.profile import rows
from memoturn.profile.database import ProfileDatabase
from memoturn.profile.documents import DocumentOps
from memoturn.profile.extraction import TranscriptExtraction
from memoturn.profile.grouping import IngestGroups
from memoturn.profile.kv import KVOps
from memoturn.profile.memories import MemoryOps
from memoturn.profile.recall import RecallOps
from memoturn.profile.reembed import ReembedOps
from memoturn.profile.sessions import SessionOps
from memoturn.profile.transfer import TransferOps
from memoturn.profile.vectorindex import VectorIndex
from memoturn.profile.vectors import VectorOps

Indexes = tuple[VectorIndex, VectorIndex, VectorIndex]


class Profile(
    MemoryOps, RecallOps, SessionOps, KVOps, DocumentOps, VectorOps, TransferOps,
    TranscriptExtraction, ReembedOps,
):  # fmt: skip
    """Every operation on one profile-branch. Each mutating call is one SQLite transaction
    and returns (or carries) the new txid."""

    def __init__(
        self,
        path: Path,
        embedder: Embedder,
        *,
        clock: Clock | None = None,
        synchronous: str = "full",
        indexes: Indexes | None = None,
        lazy_indexes: bool = False,
        image: bytes | bytearray | None = None,
    ) -> None:
        """``indexes``: the vector indexes of this very state, from :meth:`indexes` of a
        closed profile that was at it (a rewind returning there), instead of loading them.
        ``lazy_indexes``: load them on first use instead of now (a reader catching up with
        the store pays for them only if a call needs vectors). ``image``: serve an in-memory copy
        of this database image (see :class:`ProfileDatabase`), not the file at ``path``."""
        self.clock = clock or SystemClock()
        self.embedder = embedder
        self.db = ProfileDatabase(path, clock=self.clock, synchronous=synchronous, image=image)
        self._indexes: Indexes | None = indexes
        try:
            self._check_embedder()
            if indexes is None and not lazy_indexes:
                self._indexes = self._load_indexes()
        except BaseException:
            self.db.close()
            raise
        self._vector_cache: dict[str, Any] = {}
        self.ingest_groups = IngestGroups(self)
        """Concurrent single ingests, committed in groups."""
        # Set by the engine from the effective governance policy before every call.
        self.retention_s: int | None = None
        """Items (memories, turns, document chunks) older than this are never read."""
        self.task_ttl_max_s: int | None = None
        """The cap on a task memory's TTL."""

    @property
    def txid(self) -> int:
        return self.db.txid

    def indexes(self) -> Indexes:
        """The in-memory vector indexes (memories, turns, chunks) of the current state."""
        if self._indexes is None:
            with self.db.lock:  # one load, even with calls racing for it
                if self._indexes is None:
                    self._indexes = self._load_indexes()
        return self._indexes

    @property
    def loaded_indexes(self) -> Indexes | None:
        """The vector indexes if they are loaded (a lazy open loads them on first use)."""
        return self._indexes

    @property
    def memory_index(self) -> VectorIndex:
        return self.indexes()[0]

    @property
    def turn_index(self) -> VectorIndex:
        return self.indexes()[1]

    @property
    def chunk_index(self) -> VectorIndex:
        return self.indexes()[2]

    def _load_indexes(self) -> Indexes:
        return (
            self._load_index(
                "SELECT rid, embedding, valid_from, valid_to, expires_at FROM memories "
                "WHERE embedding IS NOT NULL"
            ),
            self._load_index("SELECT rid, embedding FROM turns WHERE embedding IS NOT NULL"),
            self._load_index("SELECT rid, embedding FROM chunks WHERE embedding IS NOT NULL"),
        )

    def _check_embedder(self) -> None:
        """Record the embedding model on first use; refuse a different one later, since
        vectors of two models in one index are silent garbage."""
        name, dim = self.db.opened_meta.get("embed_model"), self.db.opened_meta.get("embed_dim")
        if name is None:
            with self.db.lock:
                self.db.conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('embed_model', ?), ('embed_dim', ?)",
                    (self.embedder.name, self.embedder.dim),
                )
            return
        if (name, int(dim)) != (self.embedder.name, self.embedder.dim):
            raise Conflict(
                f"this profile's embeddings come from {name} ({dim} dimensions), not "
                f"{self.embedder.name} ({self.embedder.dim})",
                hint=f"open it with the {name} embedder",
            )

    def _load_index(self, sql: str) -> VectorIndex:
        index = VectorIndex(self.embedder.dim)
        with self.db.read() as cur:
            found = cur.execute(sql).fetchall()
        if found:
            width = len(found[0])
            index.load(
                [r[0] for r in found],
                rows.embedding_matrix([r[1] for r in found], self.embedder.dim),
                valid_from=[r[2] for r in found] if width > 2 else None,
                valid_to=[r[3] for r in found] if width > 3 else None,
                expires_at=[r[4] for r in found] if width > 4 else None,
            )
        return index

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed what a write is about to store: only where the write can happen, so a node
        that does not hold the writer lease refuses (and the write is forwarded) before
        spending the embedding."""
        self.db.ensure_writable()
        return self.embedder.embed(list(texts))

    def retained_after(self, now: float) -> float | None:
        """Items created at or before this time have passed the retention period (``None``:
        no retention limit)."""
        return None if self.retention_s is None else now - self.retention_s

    def sweep(self) -> Written:
        """Purge expired memories and KV keys, and items past the retention period (both
        are already invisible to reads)."""
        with self.db.write() as tx:
            now = tx.now
            count = self._purge_retained(tx)
            expired = tx.cursor.execute(
                "SELECT rid FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (now,),
            ).fetchall()
            tx.cursor.execute(
                "DELETE FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
            tx.cursor.execute(
                "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
            kv_count = self.db.conn.changes()
            tx.cursor.execute(
                "DELETE FROM idempotency WHERE created_at <= ?", (now - 7 * 24 * 3600,)
            )
            count += len(expired) + kv_count
            if count == 0:
                tx.cancel()
                return Written(self.db.txid, 0)
            for (rid,) in expired:
                tx.after_commit(lambda rid=rid: self.memory_index.remove(rid))
        return Written(tx.txid, count)

    def _purge_retained(self, tx: Any) -> int:
        cutoff = self.retained_after(tx.now)
        if cutoff is None:
            return 0
        cur, count = tx.cursor, 0
        for table, index in (("memories", self.memory_index), ("turns", self.turn_index)):
            old = cur.execute(f"SELECT rid FROM {table} WHERE created_at <= ?", (cutoff,))
            rids = [rid for (rid,) in old.fetchall()]
            cur.execute(f"DELETE FROM {table} WHERE created_at <= ?", (cutoff,))
            for rid in rids:
                tx.after_commit(lambda rid=rid, index=index: index.remove(rid))
            count += len(rids)
        chunks = cur.execute(
            "SELECT c.rid FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.created_at <= ?",
            (cutoff,),
        ).fetchall()
        cur.execute(
            "DELETE FROM chunks WHERE document_id IN "
            "(SELECT id FROM documents WHERE created_at <= ?)",
            (cutoff,),
        )
        cur.execute("DELETE FROM documents WHERE created_at <= ?", (cutoff,))
        count += self.db.conn.changes()
        for (rid,) in chunks:
            tx.after_commit(lambda rid=rid: self.chunk_index.remove(rid))
        return count

    def close(self) -> None:
        self.db.close()
