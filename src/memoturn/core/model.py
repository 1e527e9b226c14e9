"""Typed records the engine returns. Times are float seconds since the epoch in Python and
ISO-8601 UTC strings on the wire (:meth:`to_dict`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any


class MemoryType(enum.StrEnum):
    FACT = "fact"
    PREFERENCE = "preference"
    TASK = "task"
    EVENT = "event"
    INSTRUCTION = "instruction"


class Scope(enum.StrEnum):
    """What recall searches."""

    MEMORIES = "memories"
    TRANSCRIPT = "transcript"
    DOCUMENTS = "documents"


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO-8601 UTC with microseconds, ``None`` stays ``None``."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


_TIME_FIELDS = frozenset(
    {"created_at", "valid_from", "valid_to", "expires_at", "ended_at", "updated_at"}
)


class Record:
    """Mixin: ``to_dict`` renders the dataclass for JSON, times as ISO strings."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name in _TIME_FIELDS:
                value = iso(value)
            elif isinstance(value, Record):
                value = value.to_dict()
            elif isinstance(value, list):
                value = [v.to_dict() if isinstance(v, Record) else v for v in value]
            out[f.name] = value
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Memory(Record):
    id: str
    type: str
    content: str
    topic: str | None
    session_id: str | None
    source: str | None
    metadata: dict[str, Any]
    created_at: float
    valid_from: float
    valid_to: float | None
    superseded_by: str | None
    expires_at: float | None
    forgotten_reason: str | None
    content_hash: str
    turn_ids: list[int]
    txid: int
    """The transaction that created this memory."""

    @property
    def current(self) -> bool:
        return self.valid_to is None


@dataclasses.dataclass(frozen=True, slots=True)
class IngestResult(Record):
    memory: Memory
    txid: int
    duplicate: bool
    superseded: list[str]
    """Ids of memories this one replaced (same topic)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Turn(Record):
    session_id: str
    turn: int
    role: str
    name: str | None
    content: str
    metadata: dict[str, Any]
    created_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class Session(Record):
    id: str
    created_at: float
    ended_at: float | None
    task_ttl_s: int
    metadata: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentChunk(Record):
    document_id: str
    chunk: int
    title: str | None
    content: str
    metadata: dict[str, Any]
    created_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class Document(Record):
    id: str
    title: str | None
    content: str
    metadata: dict[str, Any]
    created_at: float
    chunks: int


@dataclasses.dataclass(frozen=True, slots=True)
class Why(Record):
    """Why a hit matched: its rank in each list (1 = best, ``None`` = not in that list)."""

    bm25_rank: int | None
    vector_rank: int | None
    similarity: float | None
    """Cosine similarity of the query and the item embedding."""
    bm25: float | None
    """The BM25 score (higher is better)."""
    recency: float | None = None
    """The recency factor applied, when recency weighting was asked for."""


@dataclasses.dataclass(frozen=True, slots=True)
class RecallHit(Record):
    scope: str
    memory: Memory | Turn | DocumentChunk
    score: float
    why: Why


@dataclasses.dataclass(frozen=True, slots=True)
class RecallResult(Record):
    results: list[RecallHit]
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class KVItem(Record):
    key: str
    value: Any
    expires_at: float | None
    updated_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class VectorHit(Record):
    id: str
    score: float
    metadata: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Written(Record):
    """The answer to a write that has no richer result: the new txid, and how many items
    it changed where that is meaningful."""

    txid: int
    count: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Checkpoint(Record):
    name: str
    branch: str
    txid: int
    created_at: float
    automatic: bool = False
    """True for the undo checkpoints rewind keeps."""


@dataclasses.dataclass(frozen=True, slots=True)
class RewindResult(Record):
    txid: int
    """The branch's txid after the rewind (the new head)."""
    undo_checkpoint: str
    """Rewinding to this checkpoint undoes the rewind."""


@dataclasses.dataclass(frozen=True, slots=True)
class Branch(Record):
    name: str
    parent: str | None
    parent_txid: int | None
    created_at: float
    expires_at: float | None
    txid: int
    """The branch's head txid."""


@dataclasses.dataclass(frozen=True, slots=True)
class ImportResult(Record):
    """The answer to importing a profile export: the one txid the whole import committed
    as, and how many records of each kind it wrote."""

    txid: int
    counts: dict[str, int]
