"""Row <-> record conversions shared by the profile operations."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from memoturn.core.model import DocumentChunk, Memory, Turn

T = TypeVar("T")

MEMORY_COLUMNS = (
    "id, type, content, topic, session_id, source, metadata, created_at, valid_from, "
    "valid_to, superseded_by, expires_at, forgotten_reason, content_hash, turn_ids, txid"
)
TURN_COLUMNS = "session_id, turn, role, name, content, metadata, created_at"


def memory(row: tuple[Any, ...]) -> Memory:
    (
        id_,
        type_,
        content,
        topic,
        session_id,
        source,
        metadata,
        created_at,
        valid_from,
        valid_to,
        superseded_by,
        expires_at,
        forgotten_reason,
        chash,
        turn_ids,
        txid,
    ) = row
    return Memory(
        id=id_,
        type=type_,
        content=content,
        topic=topic,
        session_id=session_id,
        source=source,
        metadata=json.loads(metadata),
        created_at=created_at,
        valid_from=valid_from,
        valid_to=valid_to,
        superseded_by=superseded_by,
        expires_at=expires_at,
        forgotten_reason=forgotten_reason,
        content_hash=chash,
        turn_ids=json.loads(turn_ids),
        txid=txid,
    )


def turn(row: tuple[Any, ...]) -> Turn:
    session_id, n, role, name, content, metadata, created_at = row
    return Turn(session_id, n, role, name, content, json.loads(metadata), created_at)


def chunk(row: tuple[Any, ...]) -> DocumentChunk:
    document_id, n, title, content, metadata, created_at = row
    return DocumentChunk(document_id, n, title, content, json.loads(metadata), created_at)


EMBEDDING_DTYPE = np.float16
"""How the embeddings of memories, turns and chunks are stored (schema v8): half the bytes of
float32, so a profile's image (what a wake reads) is ~40% smaller. They are scored as
float32; the in-memory index rounds every vector through this dtype, so a live index equals
one loaded from the database. MiniLM's unit vectors lose nothing recall can measure
(cosines move by ~1e-4). Raw vectors (the ``vectors`` API) stay float32: they are the
caller's data."""


def to_blob(vector: np.ndarray) -> bytes:
    """A raw vector (the ``vectors`` API) as stored: float32, exactly as given."""
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def to_embedding_blob(vector: np.ndarray) -> bytes:
    """An embedding of a memory, turn or chunk as stored (:data:`EMBEDDING_DTYPE`)."""
    return np.ascontiguousarray(vector, dtype=EMBEDDING_DTYPE).tobytes()


def embedding_matrix(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stored embeddings as one float32 matrix (one row per blob)."""
    flat = np.frombuffer(b"".join(blobs), dtype=EMBEDDING_DTYPE)
    return flat.reshape(len(blobs), dim).astype(np.float32)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def page(items: list[T], limit: int, key: Callable[[T], Any]) -> tuple[list[T], str | None]:
    """A page of at most ``limit`` items from ``limit + 1`` fetched, and the cursor of the
    next page (the key of its last item), ``None`` when nothing follows."""
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, str(key(items[-1]))
