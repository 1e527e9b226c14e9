"""Typed records the engine returns. Times are float seconds since the epoch in Python and
ISO-8601 UTC strings on the wire (:meth:`to_dict`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import types
import typing
from typing import Any, Self


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


def epoch(value: str | float | None) -> float | None:
    """An ISO-8601 time from the wire (or epoch seconds) as epoch seconds."""
    if value is None or isinstance(value, int | float):
        return value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


TIME_FIELDS = frozenset(
    {"created_at", "valid_from", "valid_to", "expires_at", "ended_at", "updated_at"}
)


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of each field of a record class."""
    return typing.get_type_hints(cls)


def records_in(tp: Any) -> list[type[Record]]:
    """The record classes a field type names (``Memory``, ``list[Memory]``, a union)."""
    if isinstance(tp, type) and issubclass(tp, Record):
        return [tp]
    return [r for arg in typing.get_args(tp) for r in records_in(arg)]


def _decode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_decode(item, v) for v in value]
    if origin in (typing.Union, types.UnionType):
        found = records_in(tp)
        return found[0].from_dict(value) if len(found) == 1 else value
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value)
    return value


class Record:
    """Mixin: ``to_dict`` renders the dataclass for JSON, times as ISO strings, and
    ``from_dict`` reads that form back (the SDK's parser; unknown keys are ignored)."""

    @classmethod
    def from_dict(cls, data: typing.Mapping[str, Any]) -> Self:
        hints = field_types(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                value = data[f.name]
                values[f.name] = (
                    epoch(value) if f.name in TIME_FIELDS else _decode(hints[f.name], value)
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name in TIME_FIELDS:
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
    updated: list[str] = dataclasses.field(default_factory=list)
    """On a duplicate: the fields the re-ingest changed on the existing memory
    (``metadata``, ``expires_at``); empty when nothing changed (and nothing was written)."""
    ttl_capped: bool = False
    """The policy's ``task_ttl_max_s`` shortened the TTL asked for (``expires_at`` shows it)."""


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
    auto_extract: dict[str, Any] | None = None
    """When memories are extracted from its turns without being asked
    (``{"every_turns": N, "at_end": bool}``); ``None``: only on request."""


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
    """What matched: a memory, a transcript turn or a document chunk, as ``scope`` says."""
    score: float
    """The fused score: how this hit ranks against the other hits of the same query."""
    relevance: float
    """Calibrated relevance in [0, 1] from this hit's own evidence (cosine and the share of
    query words it holds), the same whatever else the profile holds; ``min_score`` filters
    on it."""
    why: Why

    @classmethod
    def from_dict(cls, data: typing.Mapping[str, Any]) -> Self:
        item = {
            Scope.MEMORIES: Memory,
            Scope.TRANSCRIPT: Turn,
            Scope.DOCUMENTS: DocumentChunk,
        }[Scope(data["scope"])]
        names = {f.name for f in dataclasses.fields(cls)} - {"memory", "why"}  # type: ignore[arg-type]
        return cls(
            **{k: v for k, v in data.items() if k in names},
            memory=item.from_dict(data["memory"]),
            why=Why.from_dict(data["why"]),
        )


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


# -- results: every write answers with its txid, every read with the txid it read at ---------


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryResult(Record):
    """One memory, and the profile's txid when it was read."""

    memory: Memory
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryPage(Record):
    """A page of memories. ``next_cursor`` continues the listing (``None``: no more)."""

    memories: list[Memory]
    txid: int
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class IngestBatchResult(Record):
    """A batch ingested in one transaction, results in input order."""

    results: list[IngestResult]
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class TopicHistory(Record):
    """Every version of a topic, oldest first."""

    versions: list[Memory]
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class SessionResult(Record):
    session: Session
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class SessionPage(Record):
    sessions: list[Session]
    txid: int
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SessionEnded(Record):
    deleted_tasks: int
    """How many task memories of the session were deleted."""
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class TurnResult(Record):
    turn: Turn
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class TurnsResult(Record):
    """Turns appended in one transaction, in order."""

    turns: list[Turn]
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class TurnPage(Record):
    turns: list[Turn]
    txid: int
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class KVResult(Record):
    """A key's value, and the txid it was written or read at (flat on the wire)."""

    key: str
    value: Any
    expires_at: float | None
    updated_at: float
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class KVPage(Record):
    items: list[KVItem]
    txid: int
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class KVSpace(Record):
    name: str
    keys: int
    """Live keys in the space."""


@dataclasses.dataclass(frozen=True, slots=True)
class KVSpacePage(Record):
    spaces: list[KVSpace]
    txid: int
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentResult(Record):
    document: Document
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentInfo(Record):
    """A document without its content (what a listing shows)."""

    id: str
    title: str | None
    metadata: dict[str, Any]
    created_at: float
    chunks: int
    bytes: int


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentPage(Record):
    documents: list[DocumentInfo]
    txid: int
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class VectorQueryResult(Record):
    results: list[VectorHit]
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class VectorCollection(Record):
    name: str
    dim: int
    count: int
    created_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionPage(Record):
    collections: list[VectorCollection]
    txid: int
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProfilePage(Record):
    """Profile names of a namespace in name order."""

    profiles: list[str]
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProfilesCreated(Record):
    """A batch provisioning: the names it created and the names that existed already, each
    in the order given."""

    created: list[str]
    existing: list[str]


@dataclasses.dataclass(frozen=True, slots=True)
class MintedToken(Record):
    """A freshly minted token and when it expires (``None``: never)."""

    token: str
    expires_at: float | None


@dataclasses.dataclass(slots=True)
class GcReport(Record):
    """One profile's garbage collection: burner branches removed, objects deleted or kept."""

    db: str
    expired_branches: list[str] = dataclasses.field(default_factory=list)
    deleted: int = 0
    kept: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class AuditPage(Record):
    """A page of a namespace's audit events (metadata only), oldest first."""

    events: list[dict[str, Any]]
    next_cursor: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ImportResult(Record):
    """The answer to importing a profile export: the one txid the whole import committed
    as, and how many records of each kind it wrote."""

    txid: int
    counts: dict[str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class Erasure(Record):
    """A verifiable erasure of one profile-branch's items (see docs/governance.md)."""

    id: str
    namespace: str
    profile: str
    branch: str
    state: str
    """``pending`` (history not rewritten yet), ``blocked`` or ``complete``."""
    blocked_by: list[dict[str, Any]]
    """Each checkpoint (``kind``, ``name``, ``branch``, ``txid``) or branch (``kind``,
    ``name``) whose state still holds the content."""
    asked: dict[str, Any]
    """What was asked (the request's fields as given)."""
    erased: int
    """How many items were hard-deleted (memories, turns, sessions, documents, KV keys)."""
    txid: int | None
    """The txid of the hard delete (phase 1)."""
    requested_at: str
    due_at: str | None
    """When history is rewritten at the earliest (``None``: the policy sets no deadline)."""
    completed_at: str | None = None
    receipt: dict[str, Any] | None = None
    """The signed receipt, once complete."""


@dataclasses.dataclass(frozen=True, slots=True)
class ErasureResult(Record):
    erasure: Erasure
    txid: int
    """The branch's txid on this node when answered (the hard delete's or later)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ErasurePage(Record):
    erasures: list[Erasure]
    """Oldest first."""


@dataclasses.dataclass(frozen=True, slots=True)
class DiffPoint(Record):
    """One side of a diff: the spec as given and the (branch, txid) it named."""

    spec: str
    branch: str
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryChange(Record):
    """A memory current at both points whose fields differ (``fields`` names them)."""

    id: str
    fields: list[str]
    before: Memory
    after: Memory


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryDiff(Record):
    """The current memories of two points of a profile's history compared: ``added`` are
    current at ``to_point`` only, ``removed`` at ``from_point`` only (superseded, forgotten,
    expired or never there), ``changed`` at both with different fields. ``txid`` is the
    request branch's txid when it was read."""

    from_point: DiffPoint
    to_point: DiffPoint
    added: list[Memory]
    removed: list[Memory]
    changed: list[MemoryChange]
    txid: int


class ExtractAction(enum.StrEnum):
    """What came of one transcript turn in an extraction."""

    ADD = "ADD"
    """A new memory was stored."""
    SUPERSEDE = "SUPERSEDE"
    """A new memory replaced the current one on its topic (``superseded`` names it)."""
    DUPLICATE = "DUPLICATE"
    """The memory was already current; nothing new was written for it."""
    SKIP = "SKIP"
    """No memory came of the turn; ``reason`` says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class TurnOutcome(Record):
    """One line of an extraction's per-turn report. A turn that gave several memories has
    one line per memory; a turn that gave none has one ``SKIP`` line with its reason."""

    turn: int
    action: str
    memory_id: str | None = None
    superseded: list[str] = dataclasses.field(default_factory=list)
    reason: str | None = None
    type: str | None = None
    topic: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ExtractResult(Record):
    """The answer to extracting memories from a session's transcript (or to applying a
    preview): the per-turn report, in turn order, and how far extraction has got."""

    session_id: str
    report: list[TurnOutcome]
    txid: int
    extractor: str
    """The extractor that read the turns (e.g. ``rules``, ``chat:MODEL``)."""
    extracted_through: int
    """The last turn of the session extracted so far (0: none)."""
    pending: int
    """Turns of the session still waiting (a token budget or ``max_turns`` stopped it)."""
    branch: str | None = None
    """With ``preview``: the burner branch the memories were written to (``txid`` is then
    this branch's own, unchanged; ``branch_txid`` the burner branch's)."""
    branch_txid: int | None = None
    preview: bool = False
    memories: list[Memory] = dataclasses.field(default_factory=list)
    """The memories this call added (or found current, for duplicates), in report order."""
