"""Raw vector collections, for agents that bring their own embeddings."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from memoturn.core import limits, validate
from memoturn.core.errors import InvalidInput, NotFound
from memoturn.core.model import (
    CollectionPage,
    VectorCollection,
    VectorHit,
    VectorQueryResult,
    Written,
)
from memoturn.core.names import check_name
from memoturn.profile import rows

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile


def _vector(value: object) -> np.ndarray:
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        raise InvalidInput("vector must be a non-empty list of numbers")
    if len(value) > limits.MAX_VECTOR_DIM:
        raise InvalidInput(
            f"vector has {len(value)} dimensions; the limit is {limits.MAX_VECTOR_DIM}"
        )
    if not isinstance(value, np.ndarray) and not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    ):
        raise InvalidInput("vector must contain only numbers")
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, rejected just below
        v = np.asarray(value, dtype=np.float32)
    if not np.all(np.isfinite(v)):
        raise InvalidInput("vector must contain only finite numbers")
    norm = float(np.linalg.norm(v))
    if norm == 0 or not math.isfinite(norm):
        raise InvalidInput("vector must not be all zeros")
    return v


def _id(value: object) -> str:
    v = validate.short(value, "vector id", max_chars=limits.MAX_VECTOR_ID_CHARS)
    assert v is not None
    return v


class VectorOps:
    """Mixin of :class:`~memoturn.profile.profile.Profile`: raw vector collections.

    A collection's dimension is fixed by its first vector; vectors are stored as given and
    compared by cosine similarity.
    """

    def vector_upsert(
        self: Profile,
        collection: str,
        vector_id: str,
        vector: list[float],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Written:
        check_name(collection, "collection")
        vid, v, meta = _id(vector_id), _vector(vector), validate.metadata(metadata)
        with self.db.write() as tx:
            row = tx.cursor.execute(
                "SELECT dim FROM vector_collections WHERE name = ?", (collection,)
            ).fetchone()
            if row is None:
                tx.cursor.execute(
                    "INSERT INTO vector_collections(name, dim, created_at) VALUES (?,?,?)",
                    (collection, len(v), tx.now),
                )
            elif row[0] != len(v):
                raise InvalidInput(
                    f"collection {collection!r} holds {row[0]}-dimensional vectors; got {len(v)}",
                    hint="use another collection for another embedding model",
                )
            tx.cursor.execute(
                "INSERT INTO vectors(collection, id, vector, metadata, updated_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT(collection, id) DO UPDATE SET "
                "vector = excluded.vector, metadata = excluded.metadata, "
                "updated_at = excluded.updated_at",
                (collection, vid, rows.to_blob(v), rows.dumps(meta), tx.now),
            )
            tx.after_commit(lambda: self._vector_cache.pop(collection, None))
        return Written(tx.txid, 1)

    def vector_delete(self: Profile, collection: str, vector_id: str) -> Written:
        check_name(collection, "collection")
        vid = _id(vector_id)
        with self.db.write() as tx:
            tx.cursor.execute(
                "DELETE FROM vectors WHERE collection = ? AND id = ?", (collection, vid)
            )
            if self.db.conn.changes() == 0:
                raise NotFound(f"no vector {vid!r} in collection {collection!r}")
            tx.after_commit(lambda: self._vector_cache.pop(collection, None))
        return Written(tx.txid, 1)

    def vector_query(
        self: Profile,
        collection: str,
        vector: list[float],
        *,
        k: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> VectorQueryResult:
        """The ``k`` nearest vectors by cosine similarity; ``metadata`` keeps only vectors
        whose metadata has each given key equal to the given value."""
        check_name(collection, "collection")
        q = _vector(vector)
        validate.integer(k, "k", low=1, high=limits.MAX_RECALL_K)
        where = validate.metadata(metadata, "metadata filter")
        with self.db.read() as cur:
            cached = self._vector_cache.get(collection)
            if cached is None:
                row = cur.execute(
                    "SELECT dim FROM vector_collections WHERE name = ?", (collection,)
                ).fetchone()
                if row is None:
                    raise NotFound(f"no vector collection {collection!r} in this profile")
                found = cur.execute(
                    "SELECT id, vector, metadata FROM vectors WHERE collection = ? ORDER BY id",
                    (collection,),
                ).fetchall()
                mat = np.stack([rows.from_blob(r[1]) for r in found]) if found else None
                if mat is not None:
                    mat = mat / np.linalg.norm(mat, axis=1, keepdims=True)
                cached = (row[0], [r[0] for r in found], [json.loads(r[2]) for r in found], mat)
                self._vector_cache[collection] = cached
            txid = self.db.txid
        dim, ids, metas, mat = cached
        if len(q) != dim:
            raise InvalidInput(
                f"collection {collection!r} holds {dim}-dimensional vectors; got {len(q)}"
            )
        if mat is None:
            return VectorQueryResult([], txid)
        sims = mat @ (q / np.linalg.norm(q))
        if where:
            keep = np.array([all(m.get(key) == val for key, val in where.items()) for m in metas])
            sims = np.where(keep, sims, -np.inf)
        order = np.argsort(-sims, kind="stable")[:k]
        hits = [VectorHit(ids[i], float(sims[i]), metas[i]) for i in order if np.isfinite(sims[i])]
        return VectorQueryResult(hits, txid)

    def list_collections(
        self: Profile, *, limit: int = 100, cursor: str | None = None
    ) -> CollectionPage:
        """Vector collections in name order, with their dimension and size."""
        limit = validate.integer(limit, "limit", low=1, high=1000)
        after = "" if cursor is None else check_name(cursor, "cursor")
        with self.db.read() as cur:
            found = cur.execute(
                "SELECT c.name, c.dim, (SELECT count(*) FROM vectors v WHERE v.collection = "
                "c.name), c.created_at FROM vector_collections c WHERE c.name > ? "
                "ORDER BY c.name LIMIT ?",
                (after, limit + 1),
            ).fetchall()
            txid = self.db.txid
        page, next_cursor = rows.page(
            [VectorCollection(*r) for r in found], limit, lambda c: c.name
        )
        return CollectionPage(page, txid, next_cursor)
