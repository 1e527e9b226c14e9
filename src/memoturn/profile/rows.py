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


def to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def page(items: list[T], limit: int, key: Callable[[T], Any]) -> tuple[list[T], str | None]:
    """A page of at most ``limit`` items from ``limit + 1`` fetched, and the cursor of the
    next page (the key of its last item), ``None`` when nothing follows."""
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, str(key(items[-1]))
