"""Namespaces, profiles and tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from memoturn.core import model
from memoturn.core.errors import InvalidInput
from memoturn.engine.engine import MAIN
from memoturn.http import schemas
from memoturn.http.auth import (
    BranchQuery,
    NamespaceAdmin,
    NsPath,
    ProfilePath,
    Root,
    log_profile,
    node_of,
)
from memoturn.http.schemas import wire

router = APIRouter(prefix="/v1/namespaces", tags=["namespaces, profiles, tokens"])
P = "/{ns}/profiles/{profile}"


@router.post(
    "", response_model=schemas.NamespaceOut, status_code=201, operation_id="create_namespace"
)
def create_namespace(
    body: schemas.NameIn, request: Request, response: Response, caller: Root
) -> dict[str, object]:
    """Create a namespace (root token). 201 when created, 200 when it existed."""
    created = node_of(request).engine.create_namespace(body.name)
    response.status_code = 201 if created else 200
    return {"name": body.name, "created": created}


@router.get("", response_model=schemas.NamespaceList, operation_id="list_namespaces")
def list_namespaces(request: Request, caller: Root) -> dict[str, object]:
    """Every namespace (root token)."""
    return {"namespaces": node_of(request).engine.list_namespaces()}


@router.post("/{ns}/tokens", response_model=wire(model.MintedToken), operation_id="mint_token")
def mint_token(
    ns: NsPath, body: schemas.TokenIn, request: Request, caller: NamespaceAdmin
) -> dict[str, object]:
    """Mint a token: a namespace token (root only; omit ``profile``) or a profile token
    (root or the namespace's token), optionally locked to a branch and to scopes."""
    minted = node_of(request).tokens.mint(
        caller,
        ns,
        profile=body.profile,
        branch=body.branch,
        scopes=list(body.scopes) if body.scopes is not None else None,
        ttl_s=body.ttl_s,
    )
    return minted.to_dict()


@router.post(
    "/{ns}/profiles",
    response_model=schemas.ProfileOut,
    status_code=201,
    operation_id="create_profile",
)
def create_profile(
    ns: NsPath,
    body: schemas.NameIn,
    request: Request,
    response: Response,
    caller: NamespaceAdmin,
) -> dict[str, object]:
    """Provision a profile (namespace or root token). 201 when created, 200 when it existed.
    Provisioning is metadata only: no database exists until the first write."""
    created = node_of(request).engine.create_profile(ns, body.name)
    response.status_code = 201 if created else 200
    return {"namespace": ns, "name": body.name, "created": created}


@router.post(
    "/{ns}/profiles/batch",
    response_model=wire(model.ProfilesCreated),
    operation_id="create_profiles",
)
def create_profiles(
    ns: NsPath, body: schemas.NamesIn, request: Request, caller: NamespaceAdmin
) -> dict[str, object]:
    """Provision up to 10,000 profiles in one metadata write (namespace or root token):
    the names created and those that existed already. A bad or repeated name is a 400 and
    provisions none."""
    return node_of(request).engine.create_profiles(ns, body.names).to_dict()


@router.get("/{ns}/profiles", response_model=schemas.ProfileList, operation_id="list_profiles")
def list_profiles(
    ns: NsPath,
    request: Request,
    caller: NamespaceAdmin,
    limit: Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": 10_000})] = 1000,
    cursor: Annotated[str | None, Query(description="the next_cursor of the previous page")] = None,
) -> dict[str, object]:
    """The profiles of a namespace in name order (namespace or root token); page on with
    ``cursor``."""
    return node_of(request).engine.list_profiles(ns, limit=limit, cursor=cursor).to_dict()


@router.delete(P, response_model=schemas.Deleted, operation_id="delete_profile")
def delete_profile(
    ns: NsPath,
    profile: ProfilePath,
    request: Request,
    caller: NamespaceAdmin,
    branch: BranchQuery = MAIN,
) -> dict[str, object]:
    """Delete a profile with all its branches, checkpoints and tokens (namespace or root
    token). ``branch`` must be ``main``: delete other branches with ``DELETE P/branches/B``."""
    node = node_of(request)
    if branch != MAIN:
        raise InvalidInput(
            "DELETE on a profile deletes the whole profile",
            hint=f"to delete branch {branch!r} use DELETE .../branches/{branch}",
        )
    log_profile(request, ns, profile)
    node.engine.delete_profile(ns, profile)
    return {"deleted": True}


@router.post(P + "/revoke-tokens", response_model=schemas.RevokedOut, operation_id="revoke_tokens")
def revoke_tokens(
    ns: NsPath,
    profile: ProfilePath,
    request: Request,
    caller: NamespaceAdmin,
    branch: BranchQuery = MAIN,
) -> dict[str, object]:
    """Revoke every profile token of this profile minted so far (namespace or root token).
    Namespace and root tokens are not affected. ``branch`` is ignored: tokens are per
    profile."""
    node = node_of(request)
    log_profile(request, ns, profile)
    return {"epoch": node.engine.revoke_tokens(ns, profile)}
