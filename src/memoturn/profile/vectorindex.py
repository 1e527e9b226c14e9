"""The in-memory embedding matrix of one table of a profile.

Vectors are held as float32 rounded through the stored dtype (float16, schema v8), so the
index a write updates equals the one a wake loads.

Recall computes cosine similarity against every row with one matrix-vector product (numpy
brute force: about 0.3 ms for 10k x 384 here), which beats an ANN index at profile sizes and
is exact. Rows carry their validity interval and expiry so recall can mask history and
expired items without going back to SQLite.
"""

from __future__ import annotations

import math

import numpy as np

from memoturn.profile.rows import EMBEDDING_DTYPE

_GROW = 1.5


class VectorIndex:
    """Embeddings keyed by SQLite rowid, with per-row validity columns."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._n = 0
        self._rids = np.zeros(0, dtype=np.int64)
        self._mat = np.zeros((0, dim), dtype=np.float32)
        self._valid_from = np.zeros(0, dtype=np.float64)
        self._valid_to = np.zeros(0, dtype=np.float64)
        self._expires = np.zeros(0, dtype=np.float64)
        self._alive = np.zeros(0, dtype=bool)
        self._row: dict[int, int] = {}
        self._dead = 0

    def __len__(self) -> int:
        return len(self._row)

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= len(self._rids):
            return
        cap = max(need, int(len(self._rids) * _GROW) + 16)

        def grow(a: np.ndarray, fill: float | bool | int = 0) -> np.ndarray:
            shape = (cap, *a.shape[1:])
            b = np.full(shape, fill, dtype=a.dtype)
            b[: self._n] = a[: self._n]
            return b

        self._rids = grow(self._rids)
        self._mat = grow(self._mat)
        self._valid_from = grow(self._valid_from)
        self._valid_to = grow(self._valid_to, math.inf)
        self._expires = grow(self._expires, math.inf)
        self._alive = grow(self._alive, False)

    def add(
        self,
        rid: int,
        vector: np.ndarray,
        *,
        valid_from: float = 0.0,
        valid_to: float | None = None,
        expires_at: float | None = None,
    ) -> None:
        if rid in self._row:
            self.remove(rid)
        self._reserve(1)
        i = self._n
        self._rids[i] = rid
        # Rounded as the database stores it: a live index equals one loaded from the file.
        self._mat[i] = np.asarray(vector, dtype=EMBEDDING_DTYPE)
        self._valid_from[i] = valid_from
        self._valid_to[i] = math.inf if valid_to is None else valid_to
        self._expires[i] = math.inf if expires_at is None else expires_at
        self._alive[i] = True
        self._row[rid] = i
        self._n += 1

    def load(
        self,
        rids: list[int],
        matrix: np.ndarray,
        *,
        valid_from: list[float] | None = None,
        valid_to: list[float | None] | None = None,
        expires_at: list[float | None] | None = None,
    ) -> None:
        """Fill an empty index in one go (waking a profile: no per-row growth) with stored
        embeddings as :func:`~memoturn.profile.rows.embedding_matrix` reads them."""
        if self._n:
            raise ValueError("load() needs an empty index")
        n = len(rids)

        def times(values: list[float | None] | None, missing: float) -> np.ndarray:
            if values is None:
                return np.full(n, missing)
            return np.array([missing if v is None else v for v in values], dtype=np.float64)

        self._rids = np.array(rids, dtype=np.int64)
        # The matrix is read from the database (rows.embedding_matrix): already rounded as
        # stored and float32. Rounding it again cost two full conversions per wake.
        self._mat = np.require(matrix, dtype=np.float32, requirements=["C", "W"])
        self._valid_from = times(valid_from, 0.0)  # type: ignore[arg-type]
        self._valid_to = times(valid_to, math.inf)
        self._expires = times(expires_at, math.inf)
        self._alive = np.ones(n, dtype=bool)
        self._row = {int(r): i for i, r in enumerate(rids)}
        self._n = n

    def similarity(self, rids: list[int], query: np.ndarray) -> dict[int, float]:
        """The exact cosine of the query and each of ``rids`` held here."""
        found = [(rid, self._row[rid]) for rid in rids if rid in self._row]
        if not found:
            return {}
        sims = self._mat[[i for _, i in found]] @ query
        return {rid: float(sim) for (rid, _), sim in zip(found, sims, strict=True)}

    def set_valid_to(self, rid: int, valid_to: float | None) -> None:
        i = self._row.get(rid)
        if i is not None:
            self._valid_to[i] = math.inf if valid_to is None else valid_to

    def set_expires_at(self, rid: int, expires_at: float | None) -> None:
        i = self._row.get(rid)
        if i is not None:
            self._expires[i] = math.inf if expires_at is None else expires_at

    def remove(self, rid: int) -> None:
        i = self._row.pop(rid, None)
        if i is None:
            return
        self._alive[i] = False
        self._dead += 1
        if self._dead > 1024 and self._dead > self._n // 2:
            self._compact()

    def _compact(self) -> None:
        keep = np.flatnonzero(self._alive[: self._n])
        for name in ("_rids", "_mat", "_valid_from", "_valid_to", "_expires", "_alive"):
            setattr(self, name, getattr(self, name)[keep].copy())
        self._n = len(keep)
        self._row = {int(r): i for i, r in enumerate(self._rids)}
        self._dead = 0

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        now: float | None = None,
        as_of: float | None = None,
        current_only: bool = False,
        allowed: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` most similar live rows as ``(rid, cosine)``, best first.

        ``current_only`` keeps rows whose validity is open; ``as_of`` keeps rows valid at
        that instant; ``now`` drops rows expired by then; ``allowed`` (sorted rids) restricts
        to rows that passed the caller's SQL filters.
        """
        n = self._n
        if n == 0 or k <= 0:
            return []
        mask = self._alive[:n].copy()
        if current_only:
            mask &= np.isinf(self._valid_to[:n])
        if as_of is not None:
            mask &= (self._valid_from[:n] <= as_of) & (self._valid_to[:n] > as_of)
        if now is not None:
            mask &= self._expires[:n] > now
        if allowed is not None:
            mask &= np.isin(self._rids[:n], allowed, assume_unique=True)
        count = int(mask.sum())
        if count == 0:
            return []
        # Full product then mask: cheaper than gathering the masked rows first.
        sims = np.where(mask, self._mat[:n] @ query, -np.inf)
        top = min(k, count)
        part = np.argpartition(-sims, top - 1)[:top]
        order = part[np.argsort(-sims[part], kind="stable")]
        return [(int(self._rids[j]), float(sims[j])) for j in order]
