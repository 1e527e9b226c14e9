"""The two backends of the tool layer: the engine in this process, or a node over HTTP.

Both hand the tools a handle with the engine's operations. In process, every call is
authorised here exactly as the REST API authorises a request (the same
:class:`~memoturn.engine.tokens.TokenAuthority` checks, from the token's claims and the
names in the call alone). Remotely, the node does it and its errors come back through the
SDK as the same error classes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TypeVar

from memoturn.client import Client
from memoturn.core.api import NodeAPI, ProfileAPI
from memoturn.core.errors import InvalidInput
from memoturn.core.limits import FORWARD_TIMEOUT_S
from memoturn.engine import Engine
from memoturn.engine.tokens import NAMESPACE, PROFILE, ROOT, SCOPES, Grant, TokenAuthority
from memoturn.mcp.tools import Target
from memoturn.storage.lease import HeldElsewhere

R = TypeVar("R")


class EngineBackend:
    """The engine in this process. ``credentials`` returns the caller's verified grant; it
    is called on every tool call, so an expired or revoked token stops working at once.

    With ``forward_token`` (the caller's own bearer token, as a node's ``/mcp`` has it), a
    profile write refused because another node holds the writer lease is made on that
    node through its REST API, as that caller: the same forwarding REST writes get.
    """

    def __init__(
        self,
        engine: Engine,
        authority: TokenAuthority,
        credentials: Callable[[], Grant],
        *,
        forward_token: str | None = None,
    ) -> None:
        self._engine = engine
        self._authority = authority
        self._credentials = credentials
        self._forward_token = forward_token

    def _authorise(self, target: Target, scope: str, branch: str | None) -> None:
        self._authority.require_profile(
            self._credentials(), target.namespace, target.profile, branch=branch, scope=scope
        )

    def profile(self, target: Target, scope: str, run: Callable[[ProfileAPI], R]) -> R:
        self._authorise(target, scope, target.branch)
        handle = self._engine.profile(target.namespace, target.profile, target.branch)
        try:
            return run(handle)
        except HeldElsewhere as e:
            # Refused before anything changed (the lease is checked before a write starts);
            # a tool call is one operation, so it is made once more, on the writer.
            if self._forward_token is None or not e.writer:
                raise
            with Client(e.writer, self._forward_token, timeout=FORWARD_TIMEOUT_S) as client:
                return run(client.profile(target.namespace, target.profile, target.branch))

    def history(
        self, target: Target, scope: str, run: Callable[[NodeAPI], R], *, spans_branches: bool
    ) -> R:
        self._authorise(target, scope, None if spans_branches else target.branch)
        return run(self._engine)


class NodeBackend:
    """A Memoturn node over HTTP, through the SDK; the node authorises every call."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def profile(self, target: Target, scope: str, run: Callable[[ProfileAPI], R]) -> R:
        return run(self._client.profile(target.namespace, target.profile, target.branch))

    def history(
        self, target: Target, scope: str, run: Callable[[NodeAPI], R], *, spans_branches: bool
    ) -> R:
        return run(self._client)


def unverified_claims(token: str) -> Grant:
    """What a token says about itself, *without* checking its signature: only to shape the
    tool list of a remote session (which profile, which branch, which scopes). The node
    verifies the token on every call; nothing is authorised from this."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        kind = claims["kind"]
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInput(
            "the token is not a Memoturn token", hint="mint one with `memoturn token`"
        ) from None
    if kind == ROOT:
        return Grant(ROOT)
    if kind == NAMESPACE:
        return Grant(NAMESPACE, str(claims.get("ns")))
    if kind == PROFILE:
        scopes = claims.get("scopes") or SCOPES
        return Grant(
            PROFILE,
            str(claims.get("ns")),
            str(claims.get("profile")),
            claims.get("branch"),
            frozenset(str(s) for s in scopes),
        )
    raise InvalidInput(f"unknown token kind {kind!r}", hint="mint a new token")
