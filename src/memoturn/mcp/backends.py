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
from typing import Any

from memoturn.client import Client
from memoturn.core.errors import InvalidInput
from memoturn.core.limits import FORWARD_TIMEOUT_S
from memoturn.engine import Engine
from memoturn.engine.tokens import NAMESPACE, PROFILE, ROOT, SCOPES, Grant, TokenAuthority
from memoturn.mcp.tools import Target
from memoturn.storage.lease import HeldElsewhere


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

    def profile(self, target: Target, scope: str) -> Any:
        self._authorise(target, scope, target.branch)
        handle = self._engine.profile(target.namespace, target.profile, target.branch)
        if self._forward_token is None:
            return handle
        return _ForwardingHandle(handle, target, self._forward_token)

    def history(self, target: Target, scope: str, *, spans_branches: bool) -> Any:
        self._authorise(target, scope, None if spans_branches else target.branch)
        return self._engine


class _ForwardingHandle:
    """An engine profile handle whose calls, when another node holds the branch's writer
    lease (:class:`HeldElsewhere` naming its address), are made on that node instead over
    the SDK, whose profile handle has the same methods, arguments and results."""

    def __init__(self, handle: Any, target: Target, token: str) -> None:
        self._handle = handle
        self._target = target
        self._token = token

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._handle, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except HeldElsewhere as e:
                if not e.writer:
                    raise
                t = self._target
                with Client(e.writer, self._token, timeout=FORWARD_TIMEOUT_S) as client:
                    remote = client.profile(t.namespace, t.profile, t.branch)
                    return getattr(remote, name)(*args, **kwargs)

        return call


class NodeBackend:
    """A Memoturn node over HTTP, through the SDK; the node authorises every call."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def profile(self, target: Target, scope: str) -> Any:
        return self._client.profile(target.namespace, target.profile, target.branch)

    def history(self, target: Target, scope: str, *, spans_branches: bool) -> Any:
        return self._client


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
