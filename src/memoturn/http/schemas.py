"""Request and response bodies of the REST API (pydantic, so /openapi.json is the code).

Requests forbid unknown fields. Field rules that the engine owns (text sizes, name syntax)
are checked by the engine, which answers 400/413 naming the field; the bounds stated here
are the ones a client can see in the schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from memoturn.core import limits, validate
from memoturn.core.errors import InvalidInput
from memoturn.core.model import MemoryType, Scope


def _not_bool(value: object) -> object:
    # Pydantic reads true as 1 for a number field; a boolean is not a number.
    if isinstance(value, bool):
        raise ValueError("a number is required, not a boolean")
    return value


def _json_only(value: dict[str, Any]) -> dict[str, Any]:
    # NaN, Infinity and overflowing literals such as 1e400 parse as floats that JSON cannot
    # carry: refuse them here, before a JSON dump could turn them into null.
    try:
        validate.json_dumps(value, "metadata")
    except InvalidInput as e:
        raise ValueError(e.message) from None
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Number = Annotated[float, BeforeValidator(_not_bool)]
TTL = Field(default=None, ge=limits.MIN_TTL_S, le=limits.MAX_TTL_S, description="seconds")
Metadata = dict[str, Any]
SessionId = Annotated[
    str,
    Field(
        description=validate.SESSION_ID_RULE,
        json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
    ),
]
MetadataIn = Annotated[dict[str, Any], AfterValidator(_json_only)]
Timestamp = float | str
"""Epoch seconds or an ISO-8601 string."""


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors ---------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="one of: " + ", ".join(sorted({
        "invalid", "unauthorized", "forbidden", "not_found", "conflict", "too_large",
        "rate_limited", "unavailable", "txid_timeout", "internal",
    })))  # fmt: skip
    message: str
    hint: str


class ErrorBody(BaseModel):
    error: ErrorDetail


# -- namespaces, profiles, tokens -------------------------------------------------------------


class NameIn(Request):
    name: str = Field(description="[a-z0-9][a-z0-9_-]{0,62}, without '--'")


class NamespaceOut(BaseModel):
    name: str
    created: bool


class NamespaceList(BaseModel):
    namespaces: list[str]


class ProfileOut(BaseModel):
    namespace: str
    name: str
    created: bool


class ProfileList(BaseModel):
    profiles: list[str]


class Deleted(BaseModel):
    deleted: bool


class TokenIn(Request):
    profile: str | None = Field(None, description="omit for a namespace token (root only)")
    branch: str | None = Field(None, description="lock the profile token to this branch")
    scopes: list[Literal["read", "write"]] | None = Field(
        None, min_length=1, description="default: read and write"
    )
    ttl_s: Int | None = TTL


class TokenOut(BaseModel):
    token: str
    expires_at: str | None


class RevokedOut(BaseModel):
    epoch: int = Field(description="tokens minted before this epoch are revoked")


# -- memories -------------------------------------------------------------------------------


class MemoryOut(BaseModel):
    id: str
    type: str
    content: str
    topic: str | None
    session_id: str | None
    source: str | None
    metadata: Metadata
    created_at: str
    valid_from: str
    valid_to: str | None
    superseded_by: str | None
    expires_at: str | None
    forgotten_reason: str | None
    content_hash: str
    turn_ids: list[int]
    txid: int = Field(description="the transaction that created this memory")


class MemoryIn(Request):
    type: MemoryType
    content: str
    topic: str | None = None
    session_id: SessionId | None = None
    source: str | None = None
    ttl_s: Int | None = TTL
    metadata: MetadataIn | None = None
    idempotency_key: str | None = None


class IngestOut(BaseModel):
    memory: MemoryOut
    txid: int
    duplicate: bool
    superseded: list[str]


class BatchIn(Request):
    items: list[MemoryIn] = Field(min_length=1, max_length=limits.MAX_BATCH)


class BatchOut(BaseModel):
    results: list[IngestOut]
    txid: int


class MemoryList(BaseModel):
    memories: list[MemoryOut]
    txid: int


class WrittenOut(BaseModel):
    txid: int
    count: int = Field(description="items changed (0: nothing to do)")


class TopicHistory(BaseModel):
    versions: list[MemoryOut]
    txid: int


# -- recall ---------------------------------------------------------------------------------


class RecallIn(Request):
    query: str
    k: Int = Field(10, ge=1, le=limits.MAX_RECALL_K)
    types: list[MemoryType] | None = Field(None, min_length=1)
    topic: str | None = None
    session_id: SessionId | None = None
    source: str | None = None
    scopes: list[Scope] | None = Field(None, description="default: memories")
    include_history: bool = False
    as_of: Timestamp | None = None
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None
    metadata: dict[str, str | int | float | bool | None] | None = Field(
        None, description="keep items whose metadata has each key equal to the value"
    )
    recency_half_life_s: Number | None = Field(None, gt=0)
    recency_weight: Number = Field(0.3, ge=0, le=1)
    mode: Literal["hybrid", "keyword", "vector"] = "hybrid"


class TurnOut(BaseModel):
    session_id: str
    turn: int
    role: str
    name: str | None
    content: str
    metadata: Metadata
    created_at: str


class ChunkOut(BaseModel):
    document_id: str
    chunk: int
    title: str | None
    content: str
    metadata: Metadata
    created_at: str


class WhyOut(BaseModel):
    bm25_rank: int | None
    vector_rank: int | None
    similarity: float | None
    bm25: float | None
    recency: float | None


class RecallHitOut(BaseModel):
    scope: Scope
    memory: MemoryOut | TurnOut | ChunkOut = Field(
        description="a memory, a transcript turn or a document chunk, by scope"
    )
    score: float
    why: WhyOut


class RecallOut(BaseModel):
    results: list[RecallHitOut]
    txid: int


# -- sessions -------------------------------------------------------------------------------


class SessionIn(Request):
    session_id: SessionId | None = None
    task_ttl_s: Int | None = TTL
    metadata: MetadataIn | None = None


class SessionOut(BaseModel):
    id: str
    created_at: str
    ended_at: str | None
    task_ttl_s: int
    metadata: Metadata


class SessionWritten(BaseModel):
    session: SessionOut
    txid: int


class TurnIn(Request):
    role: Literal["user", "assistant", "system", "tool"]
    content: str
    name: str | None = None
    metadata: MetadataIn | None = None


class TurnWritten(BaseModel):
    turn: TurnOut
    txid: int


class TurnList(BaseModel):
    turns: list[TurnOut]
    txid: int


class SessionEnded(BaseModel):
    deleted_tasks: int
    txid: int


# -- KV -------------------------------------------------------------------------------------


class KVIn(Request):
    value: Any = Field(description="any JSON value (null included)")
    ttl_s: Int | None = TTL


class KVOut(BaseModel):
    key: str
    value: Any
    expires_at: str | None
    updated_at: str


class KVWritten(KVOut):
    txid: int


class KVList(BaseModel):
    items: list[KVOut]
    txid: int


# -- documents ------------------------------------------------------------------------------


class DocumentIn(Request):
    content: str
    title: str | None = None
    metadata: MetadataIn | None = None


class DocumentOut(BaseModel):
    id: str
    title: str | None
    content: str
    metadata: Metadata
    created_at: str
    chunks: int


class DocumentWritten(BaseModel):
    document: DocumentOut
    txid: int


# -- vectors --------------------------------------------------------------------------------


class VectorIn(Request):
    vector: list[Number] = Field(min_length=1, max_length=limits.MAX_VECTOR_DIM)
    metadata: MetadataIn | None = None


class VectorQueryIn(Request):
    vector: list[Number] = Field(min_length=1, max_length=limits.MAX_VECTOR_DIM)
    k: Int = Field(10, ge=1, le=limits.MAX_RECALL_K)
    metadata: MetadataIn | None = Field(None, description="keep vectors whose metadata matches")


class VectorHitOut(BaseModel):
    id: str
    score: float
    metadata: Metadata


class VectorQueryOut(BaseModel):
    results: list[VectorHitOut]
    txid: int


# -- checkpoints, rewind, branches ------------------------------------------------------------


class CheckpointOut(BaseModel):
    name: str
    branch: str
    txid: int = Field(description="the pinned txid")
    created_at: str
    automatic: bool


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointOut]


class RewindIn(Request):
    checkpoint: str | None = Field(None, description="give exactly one of checkpoint, txid")
    txid: Int | None = Field(None, ge=0)


class RewindOut(BaseModel):
    txid: int
    undo_checkpoint: str


class BranchIn(Request):
    name: str
    from_checkpoint: str | None = None
    from_txid: Int | None = Field(None, ge=0)
    ttl_s: Int | None = TTL


class BranchOut(BaseModel):
    name: str
    parent: str | None
    parent_txid: int | None
    created_at: str
    expires_at: str | None
    txid: int = Field(description="the branch's head txid")


class BranchList(BaseModel):
    branches: list[BranchOut]


# -- node -----------------------------------------------------------------------------------


class Status(BaseModel):
    status: str


# -- documented error answers ----------------------------------------------------------------

_ERROR = {"model": ErrorBody}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_ERROR, "description": "invalid input (the message names the field)"},
    401: {**_ERROR, "description": "no token, or a token that is invalid, expired or revoked"},
    403: {**_ERROR, "description": "the token does not allow this (reveals nothing else)"},
    404: {**_ERROR, "description": "not found"},
    413: {**_ERROR, "description": "over a size limit"},
    503: {**_ERROR, "description": "unavailable; retry after the Retry-After header"},
    "default": {**_ERROR, "description": "any other error, same body"},
}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    504: {**_ERROR, "description": "min_txid not visible in time"},
}
