"""Re-embedding a profile-branch to another model, resumably.

New vectors collect in the ``reembed`` table (schema v7), one batch per transaction, while
recall goes on with the old ones; :meth:`ReembedOps.reembed_finish` moves them into place and
swaps the stored model name and dimension in one transaction. A batch that did not commit
is simply embedded again, so the work survives SIGINT and ``kill -9`` alike.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from memoturn.core.errors import Conflict, InvalidInput
from memoturn.embed import Embedder
from memoturn.profile import rows
from memoturn.profile.documents import chunk_embedding_text
from memoturn.profile.sessions import embedding_texts

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile

SCOPES = ("memories", "turns", "chunks")

# What each scope embeds for an item, exactly as the writes that stored it did: a memory's
# content, a turn with the turn before it, a chunk with its document's title.
_TODO = {
    "memories": "SELECT t.rid, t.content, NULL FROM memories t",
    "turns": (
        "SELECT t.rid, t.content, (SELECT p.content FROM turns p "
        "WHERE p.session_id = t.session_id AND p.turn = t.turn - 1) FROM turns t"
    ),
    "chunks": (
        "SELECT t.rid, t.content, (SELECT d.title FROM documents d WHERE d.id = t.document_id) "
        "FROM chunks t"
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class ReembedStatus:
    """How far a re-embedding of one profile-branch is."""

    model: str
    """The profile's model now."""
    dim: int
    target: str | None
    """The model a re-embedding under way moves to (``None``: none under way)."""
    target_dim: int | None
    done: int
    """Items (memories, turns, chunks) that have their new vector."""
    total: int
    """Items in all."""

    @property
    def remaining(self) -> int:
        return self.total - self.done


def _text(scope: str, content: str, extra: str | None) -> str:
    if scope == "turns":
        return embedding_texts(extra, [content])[0]
    if scope == "chunks":
        return chunk_embedding_text(extra, content)
    return content


class ReembedOps:
    """Mixin of :class:`~memoturn.profile.profile.Profile`: re-embedding to another model."""

    def reembed_status(self: Profile) -> ReembedStatus:
        with self.db.read() as cur:
            meta = dict(
                cur.execute(
                    "SELECT key, value FROM meta WHERE key IN "
                    "('embed_model', 'embed_dim', 'reembed_model', 'reembed_dim')"
                ).fetchall()
            )
            total = sum(cur.execute(f"SELECT count(*) FROM {s}").fetchone()[0] for s in SCOPES)
            (done,) = cur.execute("SELECT count(*) FROM reembed").fetchone()
        target_dim = meta.get("reembed_dim")
        return ReembedStatus(
            model=str(meta.get("embed_model", self.embedder.name)),
            dim=int(meta.get("embed_dim", self.embedder.dim)),
            target=meta.get("reembed_model"),
            target_dim=None if target_dim is None else int(target_dim),
            done=done,
            total=total,
        )

    def reembed_begin(self: Profile, to: Embedder) -> ReembedStatus:
        """Start re-embedding to ``to``, or go on with the one under way to that model.
        Another model under way is a :class:`Conflict` (abort it first); the profile's own
        model is :class:`InvalidInput` (nothing to do)."""
        status = self.reembed_status()
        if status.target is not None:
            if (status.target, status.target_dim) != (to.name, to.dim):
                raise Conflict(
                    f"a re-embedding to {status.target} ({status.target_dim} dimensions) is "
                    f"under way, {status.done} of {status.total} items done",
                    hint="finish it with the same --to, or stop it with --abort",
                )
            return status
        if (status.model, status.dim) == (to.name, to.dim):
            raise InvalidInput(
                f"this profile's embeddings already come from {to.name} ({to.dim} dimensions)",
                hint="nothing to re-embed; name another model with --to",
            )
        with self.db.write() as tx:
            tx.cursor.execute(
                "INSERT INTO meta(key, value) VALUES ('reembed_model', ?), ('reembed_dim', ?)",
                (to.name, to.dim),
            )
        return self.reembed_status()

    def reembed_batch(self: Profile, to: Embedder, limit: int = 64) -> int:
        """Embed up to ``limit`` items that have no new vector yet with ``to`` and store the
        vectors in one transaction; returns how many (0: every item has one)."""
        self._require_target(to)
        with self.db.read() as cur:
            todo: list[tuple[str, int, str]] = []
            for scope in SCOPES:
                if len(todo) >= limit:
                    break
                found = cur.execute(
                    f"{_TODO[scope]} WHERE NOT EXISTS (SELECT 1 FROM reembed r "
                    f"WHERE r.scope = '{scope}' AND r.rid = t.rid) ORDER BY t.rid LIMIT ?",
                    (limit - len(todo),),
                ).fetchall()
                todo += [
                    (scope, rid, _text(scope, content, extra)) for rid, content, extra in found
                ]
        if not todo:
            return 0
        self.db.ensure_writable()  # before spending the embedding, as every write does
        vectors = to.embed([text for _, _, text in todo])
        if vectors.shape != (len(todo), to.dim):
            raise Conflict(
                f"{to.name} returned vectors of shape {vectors.shape}, "
                f"expected {(len(todo), to.dim)}"
            )
        with self.db.write() as tx:
            self._require_target(to)  # an abort may have come in between
            # An item deleted meanwhile stores nothing: its row is gone, so is its vector.
            for (scope, rid, _), vec in zip(todo, vectors, strict=True):
                tx.cursor.execute(
                    f"INSERT OR REPLACE INTO reembed(scope, rid, embedding) SELECT ?, rid, ? "
                    f"FROM {scope} WHERE rid = ?",
                    (scope, rows.to_embedding_blob(vec), rid),
                )
        return len(todo)

    def reembed_finish(self: Profile, to: Embedder) -> bool:
        """Move the new vectors into place and make ``to`` the profile's model, in one
        transaction; ``False`` (nothing changed) while some item has no new vector yet.
        The open profile keeps the old vectors in memory: the caller reopens it."""
        self._require_target(to)
        with self.db.write() as tx:
            c = tx.cursor
            for scope in SCOPES:
                (missing,) = c.execute(
                    f"SELECT count(*) FROM {scope} t WHERE NOT EXISTS (SELECT 1 FROM reembed r "
                    f"WHERE r.scope = '{scope}' AND r.rid = t.rid)"
                ).fetchone()
                if missing:
                    tx.cancel()
                    return False
            for scope in SCOPES:
                c.execute(
                    f"UPDATE {scope} SET embedding = (SELECT r.embedding FROM reembed r "
                    f"WHERE r.scope = '{scope}' AND r.rid = {scope}.rid)"
                )
            c.execute("DELETE FROM reembed")
            c.execute("DELETE FROM meta WHERE key IN ('reembed_model', 'reembed_dim')")
            c.execute("UPDATE meta SET value = ? WHERE key = 'embed_model'", (to.name,))
            c.execute("UPDATE meta SET value = ? WHERE key = 'embed_dim'", (to.dim,))
        return True

    def reembed_abort(self: Profile) -> ReembedStatus:
        """Drop a re-embedding under way and its new vectors; the profile keeps its model.
        :class:`InvalidInput` when none is under way."""
        if self.reembed_status().target is None:
            raise InvalidInput("no re-embedding is under way for this profile")
        with self.db.write() as tx:
            tx.cursor.execute("DELETE FROM reembed")
            tx.cursor.execute("DELETE FROM meta WHERE key IN ('reembed_model', 'reembed_dim')")
        return self.reembed_status()

    def _require_target(self: Profile, to: Embedder) -> None:
        status = self.reembed_status()
        if (status.target, status.target_dim) != (to.name, to.dim):
            raise Conflict(
                f"no re-embedding to {to.name} ({to.dim} dimensions) is under way "
                f"(under way: {status.target or 'none'})",
                hint="start one with reembed_begin",
            )
