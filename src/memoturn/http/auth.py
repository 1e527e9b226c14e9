"""Who may call what: the bearer token of each request, checked before anything is looked up.

Every route under ``/v1/namespaces/{ns}/profiles/{profile}`` depends on :func:`reader` or
:func:`writer`, which verify the token and the grant from the names in the request alone,
then hand the endpoint a :class:`Target` naming exactly one profile-branch.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from memoturn.core.errors import InvalidInput, Unauthorized
from memoturn.core.names import check_name
from memoturn.engine import Engine, ProfileHandle
from memoturn.engine.audit import AuditLog
from memoturn.engine.engine import MAIN
from memoturn.engine.tokens import READ, WRITE, Grant, TokenAuthority
from memoturn.http.metrics import NodeMetrics


@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    """What the app serves: the engine, its token authority and its metrics."""

    engine: Engine
    tokens: TokenAuthority
    metrics: NodeMetrics
    max_body_bytes: int
    audit: AuditLog


def log_profile(request: Request, ns: str, profile: str, branch: str | None = None) -> None:
    """Name the request's profile in its log line, only once every name in it is valid: a
    name is user input, and an invalid one (a newline, say) could forge log lines."""
    try:
        for value, what in ((ns, "namespace"), (profile, "profile"), (branch, "branch")):
            if value is not None:
                check_name(value, what)
    except InvalidInput:
        return
    request.state.profile_id = f"{ns}--{profile}" + (f"@{branch}" if branch else "")


def node_of(request: Request) -> Node:
    return request.app.state.node  # type: ignore[no-any-return]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "the Authorization header is not a bearer token", hint="send 'Bearer TOKEN'"
        )
    return token.strip()


def grant(request: Request) -> Grant:
    """The verified grant of the request's token (401 if missing or invalid). Kept on the
    request for the audit stream, which names who called."""
    caller = node_of(request).tokens.verify(bearer(request))
    request.state.grant = caller
    return caller


NsPath = Annotated[str, Path(description="namespace")]
ProfilePath = Annotated[str, Path(description="profile")]
BranchQuery = Annotated[str, Query(description="the branch to act on")]


def _root(request: Request) -> Grant:
    caller = grant(request)
    node_of(request).tokens.require_root(caller)
    return caller


def _namespace_admin(request: Request, ns: NsPath) -> Grant:
    caller = grant(request)
    node_of(request).tokens.require_namespace(caller, ns)
    return caller


Root = Annotated[Grant, Depends(_root)]
"""The root token's grant (403 for any other token)."""
NamespaceAdmin = Annotated[Grant, Depends(_namespace_admin)]
"""The grant of the root token or of the namespace's token."""

MinTxid = Annotated[
    int | None,
    Query(ge=0, description="wait (bounded) until this txid is visible, else 504"),
]


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """One profile-branch the caller may act on."""

    engine: Engine
    ns: str
    profile: str
    branch: str

    def handle(self, min_txid: int | None = None) -> ProfileHandle:
        return self.engine.profile(self.ns, self.profile, self.branch, min_txid=min_txid)


async def _target(
    request: Request, ns: str, profile: str, branch: str, scope: str, *, spans_branches: bool
) -> Target:
    """On the event loop when the token checks out from this node's caches (no thread hop
    per request); a check that must read the store runs on a worker thread."""
    node = node_of(request)
    token = bearer(request)
    caller = node.tokens.verify_offline(token)
    if caller is None:
        caller = await run_in_threadpool(node.tokens.verify, token)
    request.state.grant = caller
    locked_to = None if spans_branches else branch
    node.tokens.require_profile(caller, ns, profile, branch=locked_to, scope=scope)
    log_profile(request, ns, profile, branch)
    return Target(node.engine, ns, profile, branch)


async def _read(
    request: Request, ns: NsPath, profile: ProfilePath, branch: BranchQuery = MAIN
) -> Target:
    return await _target(request, ns, profile, branch, READ, spans_branches=False)


async def _write(
    request: Request, ns: NsPath, profile: ProfilePath, branch: BranchQuery = MAIN
) -> Target:
    return await _target(request, ns, profile, branch, WRITE, spans_branches=False)


async def _branches_read(
    request: Request, ns: NsPath, profile: ProfilePath, branch: BranchQuery = MAIN
) -> Target:
    return await _target(request, ns, profile, branch, READ, spans_branches=True)


async def _branches_write(
    request: Request, ns: NsPath, profile: ProfilePath, branch: BranchQuery = MAIN
) -> Target:
    return await _target(request, ns, profile, branch, WRITE, spans_branches=True)


Reader = Annotated[Target, Depends(_read)]
"""A profile-branch the caller may read (``read`` scope, branch lock respected)."""
Writer = Annotated[Target, Depends(_write)]
"""A profile-branch the caller may write (``write`` scope, branch lock respected)."""
BranchReader = Annotated[Target, Depends(_branches_read)]
"""A profile whose branches the caller may list (tokens not locked to a branch)."""
BranchWriter = Annotated[Target, Depends(_branches_write)]
"""A profile whose branches the caller may create or delete (not branch-locked)."""
