"""Sessions: verbatim transcripts and session-scoped task memories."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from memoturn.core import model, validate
from memoturn.engine.tokens import WRITE
from memoturn.http import schemas
from memoturn.http.auth import BranchWriter, MinTxid, Reader, Writer, node_of
from memoturn.http.schemas import READ_RESPONSES, wire

SessionPath = Annotated[
    str,
    Path(
        description=validate.SESSION_ID_RULE,
        json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
    ),
]

router = APIRouter(prefix="/v1/namespaces/{ns}/profiles/{profile}/sessions", tags=["sessions"])

Cursor = Annotated[str | None, Query(description="the next_cursor of the previous page")]


@router.post("", response_model=wire(model.SessionResult), operation_id="open_session")
def open_session(body: schemas.SessionIn, target: Writer) -> dict[str, Any]:
    """Open a session (a new id when none is given). Opening an open session again returns
    it; an ended one is 409. ``task_ttl_s`` is how long its task memories live (24 h)."""
    auto = body.auto_extract.model_dump(exclude_none=True) if body.auto_extract else None
    return (
        target.handle()
        .open_session(
            body.session_id, task_ttl_s=body.task_ttl_s, metadata=body.metadata, auto_extract=auto
        )
        .to_dict()
    )


@router.get(
    "",
    response_model=wire(model.SessionPage),
    responses=READ_RESPONSES,
    operation_id="list_sessions",
)
def list_sessions(
    target: Reader,
    limit: Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": 1000})] = 100,
    cursor: Cursor = None,
    min_txid: MinTxid = None,
) -> dict[str, Any]:
    """Sessions in id order; page on with ``cursor``."""
    return target.handle(min_txid).list_sessions(limit=limit, cursor=cursor).to_dict()


@router.get(
    "/{session_id}",
    response_model=wire(model.SessionResult),
    responses=READ_RESPONSES,
    operation_id="get_session",
)
def get_session(
    session_id: SessionPath, target: Reader, min_txid: MinTxid = None
) -> dict[str, Any]:
    """A session's settings and whether it has ended."""
    return target.handle(min_txid).get_session(session_id).to_dict()


@router.post(
    "/{session_id}/turns", response_model=wire(model.TurnResult), operation_id="append_turn"
)
def append_turn(session_id: SessionPath, body: schemas.TurnIn, target: Writer) -> dict[str, Any]:
    """Append a verbatim turn (the session is opened with defaults if it does not exist)."""
    return (
        target.handle()
        .append_turn(session_id, body.role, body.content, name=body.name, metadata=body.metadata)
        .to_dict()
    )


@router.post(
    "/{session_id}/turns/batch",
    response_model=wire(model.TurnsResult),
    operation_id="append_turns",
)
def append_turns(session_id: SessionPath, body: schemas.TurnsIn, target: Writer) -> dict[str, Any]:
    """Append up to 1000 turns in one transaction, numbered in order."""
    turns = [t.model_dump(mode="json", exclude_none=True) for t in body.turns]
    return target.handle().append_turns(session_id, turns).to_dict()


@router.get(
    "/{session_id}/turns",
    response_model=wire(model.TurnPage),
    responses=READ_RESPONSES,
    operation_id="read_turns",
)
def read_turns(
    session_id: SessionPath,
    target: Reader,
    after: Annotated[
        int, Query(json_schema_extra={"minimum": 0}, description="last turn number already read")
    ] = 0,
    limit: Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": 10_000})] = 1000,
    cursor: Cursor = None,
    min_txid: MinTxid = None,
) -> dict[str, Any]:
    """The transcript in order."""
    return (
        target.handle(min_txid)
        .read_turns(session_id, after=after, limit=limit, cursor=cursor)
        .to_dict()
    )


@router.post(
    "/{session_id}/end", response_model=wire(model.SessionEnded), operation_id="end_session"
)
def end_session(session_id: SessionPath, target: Writer) -> dict[str, Any]:
    """End a session: its task memories are deleted in the same transaction; the transcript
    stays. Ending an ended session changes nothing."""
    return target.handle().end_session(session_id).to_dict()


@router.post(
    "/{session_id}/extract", response_model=wire(model.ExtractResult), operation_id="extract"
)
def extract(
    session_id: SessionPath, body: schemas.ExtractIn, target: Writer, request: Request
) -> dict[str, Any]:
    """Turn the session's turns not yet extracted into typed memories (the ingest rules
    apply: duplicates, supersession on a topic). The answer's ``report`` says for every
    turn what came of it: ADD, SUPERSEDE (``superseded``), DUPLICATE, or SKIP with a
    ``reason``. Running it again changes nothing. 403 ``egress_denied`` (nothing sent) when
    the profile's ai_egress forbids the node's extractor; 502 ``extractor_failed`` (nothing
    applied) when the model gives no usable answer. A preview makes a branch: not with a
    token locked to a branch."""
    if body.preview:
        node_of(request).tokens.require_profile(
            request.state.grant, target.ns, target.profile, branch=None, scope=WRITE
        )
    return (
        target.handle()
        .extract(
            session_id, preview=body.preview, extractor=body.extractor, max_turns=body.max_turns
        )
        .to_dict()
    )


@router.post(
    "/{session_id}/extract/apply",
    response_model=wire(model.ExtractResult),
    operation_id="extract_apply",
)
def extract_apply(
    session_id: SessionPath, body: schemas.ExtractApplyIn, target: BranchWriter
) -> dict[str, Any]:
    """Apply a preview: the memories its extraction wrote to the burner ``branch`` are
    ingested into this branch (no model call; 409 if this branch extracted those turns or
    they changed since), then the burner branch is deleted."""
    return target.handle().extract_apply(session_id, body.branch).to_dict()


@router.post(
    "/{session_id}/turns/pop", response_model=wire(model.TurnResult), operation_id="pop_turn"
)
def pop_turn(session_id: SessionPath, target: Writer) -> dict[str, Any]:
    """Delete the session's last turn and return it, in one transaction (404 when it has
    none). Turn numbers are never reused."""
    return target.handle().pop_turn(session_id).to_dict()


@router.delete(
    "/{session_id}/turns", response_model=wire(model.Written), operation_id="delete_turns"
)
def delete_turns(
    session_id: SessionPath,
    target: Writer,
    after: Annotated[
        int,
        Query(json_schema_extra={"minimum": 0}, description="keep the turns up to this number"),
    ] = 0,
) -> dict[str, Any]:
    """Delete the session's turns numbered after ``after`` (all of them by default) in one
    transaction; ``count`` says how many. The session and its task memories stay."""
    return target.handle().delete_turns(session_id, after=after).to_dict()
