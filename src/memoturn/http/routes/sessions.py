"""Sessions: verbatim transcripts and session-scoped task memories."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from memoturn.core import validate
from memoturn.http import schemas
from memoturn.http.auth import MinTxid, Reader, Writer
from memoturn.http.schemas import READ_RESPONSES

SessionPath = Annotated[
    str,
    Path(
        description=validate.SESSION_ID_RULE,
        json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
    ),
]

router = APIRouter(prefix="/v1/namespaces/{ns}/profiles/{profile}/sessions", tags=["sessions"])


@router.post("", response_model=schemas.SessionWritten)
def open_session(body: schemas.SessionIn, target: Writer) -> dict[str, Any]:
    """Open a session (a new id when none is given). Opening an open session again returns
    it; an ended one is 409. ``task_ttl_s`` is how long its task memories live (24 h)."""
    session, txid = target.handle().open_session(
        body.session_id, task_ttl_s=body.task_ttl_s, metadata=body.metadata
    )
    return {"session": session.to_dict(), "txid": txid}


@router.get("/{session_id}", response_model=schemas.SessionOut, responses=READ_RESPONSES)
def get_session(
    session_id: SessionPath, target: Reader, min_txid: MinTxid = None
) -> dict[str, Any]:
    """A session's settings and whether it has ended."""
    return target.handle(min_txid).get_session(session_id).to_dict()


@router.post("/{session_id}/turns", response_model=schemas.TurnWritten)
def append_turn(session_id: SessionPath, body: schemas.TurnIn, target: Writer) -> dict[str, Any]:
    """Append a verbatim turn (the session is opened with defaults if it does not exist)."""
    turn, txid = target.handle().append_turn(
        session_id, body.role, body.content, name=body.name, metadata=body.metadata
    )
    return {"turn": turn.to_dict(), "txid": txid}


@router.get("/{session_id}/turns", response_model=schemas.TurnList, responses=READ_RESPONSES)
def read_turns(
    session_id: SessionPath,
    target: Reader,
    after: Annotated[int, Query(ge=0, description="last turn number already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    min_txid: MinTxid = None,
) -> dict[str, Any]:
    """The transcript in order."""
    handle = target.handle(min_txid)
    txid = handle.txid
    turns = handle.read_turns(session_id, after=after, limit=limit)
    return {"turns": [t.to_dict() for t in turns], "txid": txid}


@router.post("/{session_id}/end", response_model=schemas.SessionEnded)
def end_session(session_id: SessionPath, target: Writer) -> dict[str, Any]:
    """End a session: its task memories are deleted in the same transaction; the transcript
    stays. Ending an ended session changes nothing."""
    written = target.handle().end_session(session_id)
    return {"deleted_tasks": written.count, "txid": written.txid}
