"""Checkpoints, rewind and branches: metadata operations of the storage engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from memoturn.core import model
from memoturn.core.diff import parse_point
from memoturn.core.errors import InvalidInput, Unavailable
from memoturn.engine.tokens import READ
from memoturn.http import schemas
from memoturn.http.auth import BranchReader, BranchWriter, MinTxid, Reader, Writer, node_of
from memoturn.http.schemas import wire

router = APIRouter(prefix="/v1/namespaces/{ns}/profiles/{profile}", tags=["history"])


@contextmanager
def _storage_engine() -> Iterator[None]:
    """Until the storage engine lands, its operations raise NotImplementedError: answer
    503 (retryable) rather than a 500 or a 501 a client would cache as permanent."""
    try:
        yield
    except NotImplementedError as e:
        raise Unavailable(
            f"{e}" or "not available on this node yet",
            hint="checkpoints, rewind and branches need the storage engine; upgrade the node",
            retry_after=60,
        ) from None


@router.post(
    "/checkpoints",
    response_model=wire(model.Checkpoint),
    status_code=201,
    operation_id="create_checkpoint",
)
def create_checkpoint(body: schemas.NameIn, target: Writer) -> dict[str, Any]:
    """Pin the branch's current txid under a name (metadata only, instant)."""
    with _storage_engine():
        return target.engine.create_checkpoint(
            target.ns, target.profile, body.name, branch=target.branch
        ).to_dict()


@router.get("/checkpoints", response_model=schemas.CheckpointList, operation_id="list_checkpoints")
def list_checkpoints(target: Reader) -> dict[str, Any]:
    """The branch's checkpoints, including the automatic ones rewind keeps."""
    with _storage_engine():
        found = target.engine.list_checkpoints(target.ns, target.profile, branch=target.branch)
    return {"checkpoints": [c.to_dict() for c in found]}


@router.delete(
    "/checkpoints/{name}", response_model=schemas.Deleted, operation_id="delete_checkpoint"
)
def delete_checkpoint(name: str, target: Writer) -> dict[str, Any]:
    """Remove a checkpoint (the history it pinned becomes collectable)."""
    with _storage_engine():
        target.engine.delete_checkpoint(target.ns, target.profile, name, branch=target.branch)
    return {"deleted": True}


@router.post("/rewind", response_model=wire(model.RewindResult), operation_id="rewind")
def rewind(body: schemas.RewindIn, target: Writer) -> dict[str, Any]:
    """Atomically return the branch to a checkpoint or a txid. The state just before is kept
    as ``undo_checkpoint``: rewinding to it undoes the rewind."""
    if (body.checkpoint is None) == (body.txid is None):
        raise InvalidInput("give exactly one of checkpoint, txid")
    with _storage_engine():
        return target.engine.rewind(
            target.ns,
            target.profile,
            branch=target.branch,
            checkpoint=body.checkpoint,
            txid=body.txid,
        ).to_dict()


@router.post(
    "/branches", response_model=wire(model.Branch), status_code=201, operation_id="create_branch"
)
def create_branch(body: schemas.BranchIn, target: BranchWriter) -> dict[str, Any]:
    """Fork a branch from the head, a txid or a checkpoint of ``?branch=`` (default main).
    Metadata only; ``ttl_s`` makes it a burner branch that is removed when it expires."""
    if body.from_checkpoint is not None and body.from_txid is not None:
        raise InvalidInput("give at most one of from_checkpoint, from_txid")
    with _storage_engine():
        return target.engine.create_branch(
            target.ns,
            target.profile,
            body.name,
            from_branch=target.branch,
            from_checkpoint=body.from_checkpoint,
            from_txid=body.from_txid,
            ttl_s=body.ttl_s,
        ).to_dict()


@router.get("/branches", response_model=schemas.BranchList, operation_id="list_branches")
def list_branches(target: BranchReader) -> dict[str, Any]:
    """Every branch of the profile (``?branch=`` is ignored)."""
    with _storage_engine():
        found = target.engine.list_branches(target.ns, target.profile)
    return {"branches": [b.to_dict() for b in found]}


@router.delete("/branches/{name}", response_model=schemas.Deleted, operation_id="delete_branch")
def delete_branch(name: str, target: BranchWriter) -> dict[str, Any]:
    """Delete a branch (never ``main``; ``?branch=`` is ignored)."""
    with _storage_engine():
        target.engine.delete_branch(target.ns, target.profile, name)
    return {"deleted": True}


FromPoint = Annotated[
    str, Query(alias="from", description="a point: branch:NAME, checkpoint:NAME, txid:N")
]
ToPoint = Annotated[str, Query(description="a point, as for from")]


@router.get(
    "/diff",
    response_model=wire(model.MemoryDiff),
    responses=schemas.READ_RESPONSES,
    operation_id="diff",
)
def diff(
    request: Request,
    target: Reader,
    from_: FromPoint,
    to: ToPoint,
    min_txid: MinTxid = None,
) -> dict[str, Any]:
    """The current memories at ``to`` compared with those at ``from``: ``added``,
    ``removed`` (superseded, forgotten, expired or never there) and ``changed`` (same id,
    fields differ). A point is ``branch:NAME`` (its head), ``checkpoint:NAME`` or ``txid:N``
    of ``?branch=``, or ``checkpoint:BRANCH/NAME``, ``txid:BRANCH/N`` of another branch (a
    token locked to one branch may name only that one)."""
    node = node_of(request)
    for spec, what in ((from_, "from"), (to, "to")):
        point = parse_point(spec, what, target.branch)
        node.tokens.require_profile(
            request.state.grant, target.ns, target.profile, branch=point.branch, scope=READ
        )
    return target.handle(min_txid).diff(from_, to).to_dict()
