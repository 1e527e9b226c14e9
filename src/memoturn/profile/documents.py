"""Documents: stored whole, chunked for recall (keyword and embedding per chunk)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from memoturn.core import limits, validate
from memoturn.core.errors import NotFound
from memoturn.core.ids import new_id
from memoturn.core.model import Document, DocumentInfo, DocumentPage, DocumentResult, Written
from memoturn.profile import rows

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile

_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+"))


def chunk_text(text: str, size: int = limits.DOCUMENT_CHUNK_CHARS) -> list[str]:
    """Split text into pieces of at most about ``size`` characters, preferring paragraph,
    then sentence, then word boundaries. Every character of the text lands in a chunk
    (whitespace between chunks aside): nothing is dropped."""
    text = text.strip()
    if len(text) <= size:
        return [text]
    for pattern in _BREAKS:
        parts = [p for p in pattern.split(text) if p.strip()]
        if len(parts) > 1:
            break
    else:  # one enormous word: cut it
        return [text[i : i + size] for i in range(0, len(text), size)]
    chunks: list[str] = []
    current = ""
    for part in parts:
        if len(part) > size:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(chunk_text(part, size))
        elif current and len(current) + 1 + len(part) > size:
            chunks.append(current)
            current = part
        else:
            current = f"{current} {part}" if current else part
    if current:
        chunks.append(current)
    return chunks


def chunk_embedding_text(title: str | None, piece: str) -> str:
    """What gets embedded for a chunk: the title goes into every chunk's embedding text,
    since it is often what a query names."""
    return f"{title}: {piece}" if title else piece


class DocumentOps:
    """Mixin of :class:`~memoturn.profile.profile.Profile`: documents."""

    def add_document(
        self: Profile,
        content: str,
        *,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> DocumentResult:
        """Store a document and its chunks; returns it and the txid."""
        text = validate.text(content, "content", max_bytes=limits.MAX_DOCUMENT_BYTES)
        title = validate.short(title, "title", max_chars=limits.MAX_TITLE_CHARS)
        meta = validate.metadata(metadata)
        pieces = chunk_text(text)
        vectors = self._embed([chunk_embedding_text(title, p) for p in pieces])
        doc_id = new_id()
        with self.db.write() as tx:
            tx.cursor.execute(
                "INSERT INTO documents(id, title, content, metadata, created_at, chunks) "
                "VALUES (?,?,?,?,?,?)",
                (doc_id, title, text, rows.dumps(meta), tx.now, len(pieces)),
            )
            for n, (piece, vec) in enumerate(zip(pieces, vectors, strict=True)):
                tx.cursor.execute(
                    "INSERT INTO chunks(document_id, chunk, content, embedding) VALUES (?,?,?,?)",
                    (doc_id, n, piece, rows.to_embedding_blob(vec)),
                )
                rid = self.db.conn.last_insert_rowid()
                tx.after_commit(lambda rid=rid, vec=vec: self.chunk_index.add(rid, vec))
        return DocumentResult(Document(doc_id, title, text, meta, tx.now, len(pieces)), tx.txid)

    def get_document(self: Profile, document_id: str) -> DocumentResult:
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT id, title, content, metadata, created_at, chunks FROM documents "
                "WHERE id = ?",
                (document_id,),
            ).fetchone()
            txid = self.db.txid
        if row is None:
            raise NotFound(f"no document {document_id!r} in this profile")
        cutoff = self.retained_after(self.clock.now())
        if cutoff is not None and row[4] <= cutoff:
            raise NotFound(f"document {document_id!r} has passed the retention period")
        return DocumentResult(
            Document(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5]), txid
        )

    def list_documents(
        self: Profile, *, limit: int = 100, cursor: str | None = None
    ) -> DocumentPage:
        """Documents oldest first (ids sort by time), without their content."""
        limit = validate.integer(limit, "limit", low=1, high=1000)
        after = validate.short(cursor, "cursor", max_chars=64) or ""
        with self.db.read() as cur:
            found = cur.execute(
                "SELECT id, title, metadata, created_at, chunks, length(CAST(content AS BLOB)) "
                "FROM documents WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit + 1),
            ).fetchall()
            txid = self.db.txid
        infos = [DocumentInfo(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in found]
        page, next_cursor = rows.page(infos, limit, lambda d: d.id)
        return DocumentPage(page, txid, next_cursor)

    def delete_document(self: Profile, document_id: str) -> Written:
        """Delete a document and its chunks."""
        with self.db.write() as tx:
            found = tx.cursor.execute(
                "SELECT 1 FROM documents WHERE id = ?", (document_id,)
            ).fetchone()
            if found is None:
                raise NotFound(f"no document {document_id!r} in this profile")
            rids = tx.cursor.execute(
                "SELECT rid FROM chunks WHERE document_id = ?", (document_id,)
            ).fetchall()
            tx.cursor.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            tx.cursor.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            for (rid,) in rids:
                tx.after_commit(lambda rid=rid: self.chunk_index.remove(rid))
        return Written(tx.txid, 1)
