"""Request and response bodies of the REST API (pydantic, so /openapi.json is the code).

Answers are the engine's own records (:mod:`memoturn.core.model`) as ``to_dict`` renders
them; their schemas are derived from those records by :func:`wire`, never restated.
Requests forbid unknown fields. Field rules that the engine owns (text sizes, name syntax)
are checked by the engine, which answers 400/413 naming the field; the bounds stated here
are the ones a client can see in the schema.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from memoturn.core import limits, model, ranking, validate
from memoturn.core.errors import ERROR_KINDS, InvalidInput
from memoturn.core.model import TIME_FIELDS, MemoryType, Record, Scope, field_types


@functools.cache
def wire(cls: type[Record]) -> type[BaseModel]:
    """The JSON schema of a record as ``to_dict`` renders it: the same fields, times as
    ISO-8601 strings, nested records by their own schemas."""
    fields: dict[str, Any] = {}
    hints = field_types(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp = hints[f.name]
        if f.name in TIME_FIELDS:
            tp = str | None if type(None) in typing.get_args(tp) else str
        else:
            tp = _wire_type(tp)
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (tp, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (tp, Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (tp, ...)
    return create_model(cls.__name__, __doc__=cls.__doc__, **fields)


def _wire_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return list[_wire_type(item)]  # type: ignore[misc]
    if origin in (typing.Union, types.UnionType):
        args = tuple(_wire_type(a) for a in typing.get_args(tp))
        return typing.Union[args]  # noqa: UP007 (built from a tuple)
    if isinstance(tp, type) and issubclass(tp, Record):
        return wire(tp)
    return tp


def bounded(
    default: Any = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    description: str | None = None,
) -> Any:
    """A field whose range the engine checks (so every edge answers with the same message)
    and the schema states."""
    extra = {k: v for k, v in (("minimum", minimum), ("maximum", maximum)) if v is not None}
    return Field(default, description=description, json_schema_extra=extra or None)


def _not_bool_int(value: object) -> object:
    # Pydantic reads true as 1 for a number field; a boolean is not a number. The error
    # type is the one of any non-integer, so every edge words it the same.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _not_bool_number(value: object) -> object:
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


def _json_only(value: dict[str, Any]) -> dict[str, Any]:
    # NaN, Infinity and overflowing literals such as 1e400 parse as floats that JSON cannot
    # carry: refuse them here, before a JSON dump could turn them into null.
    try:
        validate.json_dumps(value, "metadata")
    except InvalidInput as e:
        raise ValueError(e.message) from None
    return value


Int = Annotated[int, BeforeValidator(_not_bool_int)]
Number = Annotated[float, BeforeValidator(_not_bool_number)]
TTL = bounded(minimum=limits.MIN_TTL_S, maximum=limits.MAX_TTL_S, description="seconds")
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
    code: str = Field(description="one of: " + ", ".join(sorted(ERROR_KINDS)))
    message: str
    hint: str


class ErrorBody(BaseModel):
    error: ErrorDetail


# -- namespaces, profiles, tokens -------------------------------------------------------------


class NameIn(Request):
    name: str = Field(description="[a-z0-9][a-z0-9_-]{0,62}, without '--'")


class NamesIn(Request):
    names: list[str] = Field(
        description="1 to 10,000 distinct profile names, each [a-z0-9][a-z0-9_-]{0,62}"
    )


class NamespaceOut(BaseModel):
    name: str
    created: bool


ProfileList = wire(model.ProfilePage)


class NamespaceList(BaseModel):
    namespaces: list[str]


class ProfileOut(BaseModel):
    namespace: str
    name: str
    created: bool


class Deleted(BaseModel):
    deleted: bool


class TokenIn(Request):
    profile: str | None = Field(None, description="omit for a namespace token (root only)")
    branch: str | None = Field(None, description="lock the profile token to this branch")
    scopes: list[Literal["read", "write"]] | None = Field(
        None, min_length=1, description="default: read and write"
    )
    ttl_s: Int | None = TTL


class GcProfileOut(BaseModel):
    profile: str = Field(description="the profile's database id, NS--PROFILE")
    expired_branches: list[str] = Field(description="burner branches removed")
    deleted: int = Field(description="unreachable objects deleted")
    kept: int = Field(description="objects kept (reachable, or too young to delete)")


class GcOut(BaseModel):
    profiles: list[GcProfileOut]


class RevokedOut(BaseModel):
    epoch: int = Field(description="tokens minted before this epoch are revoked")


# -- memories -------------------------------------------------------------------------------


class MemoryIn(Request):
    type: MemoryType
    content: str
    topic: str | None = None
    session_id: SessionId | None = None
    source: str | None = None
    ttl_s: Int | None = TTL
    metadata: MetadataIn | None = None
    idempotency_key: str | None = None
    turn_ids: list[int] | None = Field(
        None, description="the transcript turns this memory was derived from (provenance)"
    )
    valid_from: Timestamp | None = Field(
        None,
        description="since when the memory has been true, if before now (epoch seconds or "
        "ISO-8601); default: the time of the write",
    )


class BatchIn(Request):
    items: list[MemoryIn] = Field(description=f"1 to {limits.MAX_BATCH} memories")
    defer_embedding: bool = Field(
        False, description="acknowledge before embedding (bulk imports); embedded soon after"
    )


# -- recall ---------------------------------------------------------------------------------


class RecallIn(Request):
    query: str
    k: Int = bounded(10, minimum=1, maximum=limits.MAX_RECALL_K)
    types: list[MemoryType] | None = Field(None, description="non-empty when given")
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
    recency_half_life_s: Number | None = Field(None, description="positive seconds")
    recency_weight: Number = bounded(0.3, minimum=0, maximum=1)
    mode: Literal["hybrid", "keyword", "vector"] = "hybrid"
    min_score: float | None = Field(
        None,
        strict=True,
        description="drop hits whose relevance is below this (recommended: "
        f"{ranking.RECOMMENDED_MIN_SCORE}); unset: keep every hit",
        json_schema_extra={"minimum": 0, "maximum": 1},
    )


# -- sessions -------------------------------------------------------------------------------


class AutoExtractIn(Request):
    every_turns: Int | None = bounded(
        None, minimum=1, maximum=10_000, description="extract after every N new turns"
    )
    at_end: bool = Field(
        False, strict=True, description="extract what is left once the session has ended"
    )


class SessionIn(Request):
    session_id: SessionId | None = None
    task_ttl_s: Int | None = TTL
    metadata: MetadataIn | None = None
    auto_extract: AutoExtractIn | None = Field(
        None,
        description="have the node extract memories from the session's turns in the "
        "background (off by default; docs/extraction.md); given for an open session, it "
        "replaces its setting",
    )


# -- extraction -----------------------------------------------------------------------------


class ExtractIn(Request):
    preview: bool = Field(
        False,
        strict=True,
        description="write the memories to a new burner branch (named in the answer) "
        "instead; apply it with POST .../extract/apply, or delete the branch",
    )
    extractor: Literal["node", "rules"] | None = Field(
        None,
        description="node: the node's configured extractor (default); rules: the in-process "
        "rule-based one (works under ai_egress deny)",
    )
    max_turns: Int | None = bounded(
        None, minimum=1, maximum=100_000, description="extract at most this many turns now"
    )


class ExtractApplyIn(Request):
    branch: str = Field(description="the burner branch a preview answered with")


class TurnIn(Request):
    role: Literal["user", "assistant", "system", "tool"]
    content: str
    name: str | None = None
    metadata: MetadataIn | None = None


class TurnsIn(Request):
    turns: list[TurnIn] = Field(description=f"1 to {limits.MAX_BATCH} turns")


# -- KV -------------------------------------------------------------------------------------


class KVIn(Request):
    value: Any = Field(description="any JSON value (null included)")
    ttl_s: Int | None = TTL


class KVCompareSetIn(Request):
    value: Any = Field(description="any JSON value (null included)")
    expected: Any = Field(
        default=None, description="the value the key must hold now; null: it must not exist"
    )
    ttl_s: Int | None = TTL


# -- documents ------------------------------------------------------------------------------


class DocumentIn(Request):
    content: str
    title: str | None = None
    metadata: MetadataIn | None = None


# -- vectors --------------------------------------------------------------------------------


class VectorIn(Request):
    vector: list[Number] = Field(min_length=1, max_length=limits.MAX_VECTOR_DIM)
    metadata: MetadataIn | None = None


class VectorQueryIn(Request):
    vector: list[Number] = Field(min_length=1, max_length=limits.MAX_VECTOR_DIM)
    k: Int = bounded(10, minimum=1, maximum=limits.MAX_RECALL_K)
    metadata: MetadataIn | None = Field(None, description="keep vectors whose metadata matches")


# -- checkpoints, rewind, branches ------------------------------------------------------------


class CheckpointList(BaseModel):
    checkpoints: list[wire(model.Checkpoint)]  # type: ignore[valid-type]


class RewindIn(Request):
    checkpoint: str | None = Field(None, description="give exactly one of checkpoint, txid")
    txid: Int | None = Field(None, ge=0)


class BranchIn(Request):
    name: str
    from_checkpoint: str | None = None
    from_txid: Int | None = Field(None, ge=0)
    ttl_s: Int | None = TTL


class BranchList(BaseModel):
    branches: list[wire(model.Branch)]  # type: ignore[valid-type]


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
