"""Governance: namespace policies, profile overrides (tighten only), the audit stream."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from memoturn.core import model, validate
from memoturn.core.policy import MAX_SECONDS
from memoturn.engine.engine import MAIN
from memoturn.http.auth import (
    BranchQuery,
    BranchWriter,
    NamespaceAdmin,
    NsPath,
    ProfilePath,
    Reader,
    Root,
    node_of,
)
from memoturn.http.schemas import wire

router = APIRouter(prefix="/v1/namespaces", tags=["governance"])
P = "/{ns}/profiles/{profile}"

Seconds = Annotated[int | None, Field(ge=1, le=MAX_SECONDS, strict=True)]


class PolicyIn(BaseModel):
    """Policy fields; each is optional. In a namespace policy an omitted field takes its
    default; in a profile override it inherits the namespace's value."""

    model_config = ConfigDict(extra="forbid")
    retention_s: Seconds = Field(None, description="max age of any memory, turn, chunk")
    task_ttl_max_s: Seconds = Field(None, description="cap on a task's TTL")
    ai_egress: Literal["deny", "self_hosted", "any"] | None = Field(
        None, description="where content may be sent for embedding: deny < self_hosted < any"
    )
    audit: bool | None = Field(None, strict=True, description="append-only audit stream")
    erasure_grace_s: Seconds = Field(None, description="wait before history is rewritten")


class PolicyOut(BaseModel):
    retention_s: int | None
    task_ttl_max_s: int | None
    ai_egress: str
    audit: bool
    erasure_grace_s: int | None


class ProfilePolicyOut(BaseModel):
    namespace: PolicyOut
    profile: dict[str, Any] = Field(description="the fields the override sets")
    effective: PolicyOut


class AuditActor(BaseModel):
    kind: str | None
    subject: str | None
    token_id: str | None


class AuditEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    seq: int
    at: str
    namespace: str
    profile: str | None
    branch: str | None
    op: str
    actor: AuditActor
    status: int
    node: str
    request_id: str
    txid: int | None = None
    ids: list[str] | None = None
    count: int | None = None


class AuditPage(BaseModel):
    events: list[AuditEvent]
    next_cursor: str | None


def _given(body: PolicyIn) -> dict[str, Any]:
    doc = body.model_dump(exclude_unset=True)
    # ai_egress and audit have no "no limit" value: null for them means nothing was said.
    return {k: v for k, v in doc.items() if v is not None or k.endswith("_s")}


@router.get("/{ns}/policy", response_model=PolicyOut, operation_id="get_policy")
def get_namespace_policy(ns: NsPath, request: Request, caller: NamespaceAdmin) -> dict[str, Any]:
    """The namespace's policy (root or the namespace's token)."""
    return node_of(request).engine.get_policy(ns).to_dict()


@router.put(
    "/{ns}/policy", response_model=PolicyOut, name="set_namespace_policy", operation_id="set_policy"
)
def set_namespace_policy(
    ns: NsPath, body: PolicyIn, request: Request, caller: Root
) -> dict[str, Any]:
    """Replace the namespace's policy (root token). Fields it omits take their defaults
    (no retention limit, no task TTL cap, ai_egress any, audit off, erasure grace 24 h).
    Every node enforces a change within the policy cache's staleness bound (5 s)."""
    out = node_of(request).engine.set_policy(ns, _given(body)).to_dict()
    request.state.audit_policy = out
    return out


@router.get(P + "/policy", response_model=ProfilePolicyOut, operation_id="get_profile_policy")
def get_profile_policy(target: Reader) -> dict[str, Any]:
    """The namespace's policy, the profile's override and the effective policy (the
    stricter of the two, field by field)."""
    return target.engine.get_profile_policy(target.ns, target.profile).to_dict()


@router.put(
    P + "/policy",
    response_model=ProfilePolicyOut,
    name="set_profile_policy",
    operation_id="set_profile_policy",
)
def set_profile_policy(
    ns: NsPath,
    profile: ProfilePath,
    body: PolicyIn,
    request: Request,
    caller: NamespaceAdmin,
    branch: BranchQuery = MAIN,
) -> dict[str, Any]:
    """Replace the profile's override (root or the namespace's token). It may only tighten:
    a field looser than the namespace's policy is a 400 ``policy_loosens`` naming it, and
    nothing changes."""
    out = node_of(request).engine.set_profile_policy(ns, profile, _given(body)).to_dict()
    request.state.audit_policy = out["profile"]
    return out


@router.get("/{ns}/audit", response_model=AuditPage, operation_id="audit_events")
def read_audit(
    ns: NsPath,
    request: Request,
    caller: NamespaceAdmin,
    since: Annotated[str | None, Query(description="ISO-8601 or epoch seconds")] = None,
    until: Annotated[str | None, Query(description="ISO-8601 or epoch seconds")] = None,
    profile: str | None = None,
    op: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Audit events of every node, oldest first (root or the namespace's token). Page with
    ``cursor`` = the ``next_cursor`` of the page before (``null``: no more)."""
    node = node_of(request)
    node.engine.catalog.require_namespace(ns)
    events, next_cursor = node.audit.events(
        ns,
        since=validate.timestamp(_number(since), "since"),
        until=validate.timestamp(_number(until), "until"),
        profile=profile,
        op=op,
        cursor=cursor,
        limit=limit,
    )
    return {"events": events, "next_cursor": next_cursor}


def _number(value: str | None) -> str | float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


# -- verifiable erasure -------------------------------------------------------------------------


class ErasureKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    space: str = Field(strict=True)
    key: str = Field(strict=True)


class ErasureIn(BaseModel):
    """What to erase: give at least one of the selectors (or ``all`` alone)."""

    model_config = ConfigDict(extra="forbid")
    memory_ids: list[Annotated[str, Field(strict=True)]] | None = Field(
        None, description="memories by id; each takes its whole topic chain with it"
    )
    topic: str | None = Field(None, strict=True, description="every version of a topic")
    session_id: str | None = Field(
        None, strict=True, description="a session: its turns, its task memories, its record"
    )
    document_ids: list[Annotated[str, Field(strict=True)]] | None = Field(
        None, description="documents with their chunks"
    )
    kv: list[ErasureKey] | None = Field(None, description="KV keys")
    all: bool | None = Field(None, strict=True, description="everything on the branch")
    force: bool | None = Field(
        None, strict=True, description="rewrite blocking checkpoints and branches"
    )
    reason: str | None = Field(None, strict=True, description="kept in the record and receipt")


@router.post(
    P + "/erasures",
    response_model=wire(model.ErasureResult),
    status_code=202,
    tags=["governance"],
    operation_id="erase",
)
def erase(body: ErasureIn, target: BranchWriter) -> dict[str, Any]:
    """Verifiable erasure (a token not locked to one branch, with ``write``). The items are
    hard-deleted before the answer (phase 1: rows, keyword and vector indexes, local files);
    the object-store history is rewritten once the policy's ``erasure_grace_s`` has passed
    (phase 2), then the erasure is ``complete`` and carries a signed ``receipt``.
    Checkpoints and branches whose state still holds the content make it ``blocked``
    (``blocked_by`` names each) until they are deleted; ``force: true`` rewrites them."""
    request = body.model_dump(exclude_none=True)
    return target.handle().erase(**request).to_dict()


@router.get(
    P + "/erasures",
    response_model=wire(model.ErasurePage),
    tags=["governance"],
    operation_id="list_erasures",
)
def list_erasures(target: Reader) -> dict[str, Any]:
    """The branch's erasures, oldest first."""
    return target.handle().list_erasures().to_dict()


@router.get(
    P + "/erasures/{erasure_id}",
    response_model=wire(model.ErasureResult),
    tags=["governance"],
    operation_id="get_erasure",
)
def get_erasure(erasure_id: str, target: Reader) -> dict[str, Any]:
    """One erasure; a complete one carries its signed ``receipt`` (verify it offline with
    ``memoturn erasure verify``)."""
    return target.handle().get_erasure(erasure_id).to_dict()
