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
from memoturn.profile.database import ProfileDatabase
from memoturn.profile.documents import DocumentOps
from memoturn.profile.kv import KVOps
from memoturn.profile.memories import MemoryOps
from memoturn.profile.recall import RecallOps
from memoturn.profile.sessions import SessionOps
from memoturn.profile.vectorindex import VectorIndex
from memoturn.profile.vectors import VectorOps

Indexes = tuple[VectorIndex, VectorIndex, VectorIndex]


class Profile(MemoryOps, RecallOps, SessionOps, KVOps, DocumentOps, VectorOps):
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
    ) -> None:
        """``indexes``: the vector indexes of this very state, from :meth:`indexes` of a
        closed profile that was at it (a rewind returning there), instead of loading them."""
        self.clock = clock or SystemClock()
        self.embedder = embedder
        self.db = ProfileDatabase(path, clock=self.clock, synchronous=synchronous)
        try:
            self._check_embedder()
            if indexes is not None:
                self.memory_index, self.turn_index, self.chunk_index = indexes
            else:
                self.memory_index = self._load_index(
                    "SELECT rid, embedding, valid_from, valid_to, expires_at FROM memories "
                    "WHERE embedding IS NOT NULL"
                )
                self.turn_index = self._load_index(
                    "SELECT rid, embedding FROM turns WHERE embedding IS NOT NULL"
                )
                self.chunk_index = self._load_index(
                    "SELECT rid, embedding FROM chunks WHERE embedding IS NOT NULL"
                )
        except BaseException:
            self.db.close()
            raise
        self._vector_cache: dict[str, Any] = {}

    @property
    def txid(self) -> int:
        return self.db.txid

    def indexes(self) -> Indexes:
        """The in-memory vector indexes (memories, turns, chunks) of the current state."""
        return self.memory_index, self.turn_index, self.chunk_index

    def _check_embedder(self) -> None:
        """Record the embedding model on first use; refuse a different one later, since
        vectors of two models in one index are silent garbage."""
        name, dim = self.db.meta("embed_model"), self.db.meta("embed_dim")
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
                np.frombuffer(b"".join(r[1] for r in found), dtype=np.float32).reshape(
                    len(found), self.embedder.dim
                ),
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

    def sweep(self) -> Written:
        """Purge expired memories and KV keys (they are already invisible to reads)."""
        with self.db.write() as tx:
            now = tx.now
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
            count = len(expired) + kv_count
            if count == 0:
                tx.cancel()
                return Written(self.db.txid, 0)
            for (rid,) in expired:
                tx.after_commit(lambda rid=rid: self.memory_index.remove(rid))
        return Written(tx.txid, count)

    def close(self) -> None:
        self.db.close()
