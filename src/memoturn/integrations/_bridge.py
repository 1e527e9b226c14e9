"""One way for an adapter to reach Memoturn, whichever handle it was given.

An adapter accepts the SDK's :class:`memoturn.Client` or :class:`memoturn.AsyncClient`, or the
in-process engine that :func:`memoturn.open` returns. All three offer the same operations
(:mod:`memoturn.core.api`) under the same names; only the sync ones block, so async callers
run them in a worker thread. The engine is recognised by what it offers, never imported: an
adapter over HTTP loads no server part.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from memoturn.core.api import MAIN
from memoturn.core.errors import NotFound

T = TypeVar("T")


class Node:
    """A client or engine, and the profile handles an adapter opened on it (cached, so an
    SDK handle keeps reading its own writes)."""

    def __init__(self, client: Any) -> None:
        for needed in ("profile", "create_profile", "create_checkpoint", "rewind"):
            if not callable(getattr(client, needed, None)):
                raise TypeError(
                    f"expected a memoturn.Client, memoturn.AsyncClient or the engine of "
                    f"memoturn.open(...), got {type(client).__name__} (it has no {needed}())"
                )
        self.client = client
        self.is_async = inspect.iscoroutinefunction(client.create_profile)
        self._handles: dict[tuple[str, str, str], Any] = {}
        self._provisioned: set[tuple[str, str]] = set()

    # -- calling ----------------------------------------------------------------------------

    async def acall(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a client, engine or handle method from async code."""
        if self.is_async:  # its methods return coroutines; opening a handle does no I/O
            result = fn(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- profiles ---------------------------------------------------------------------------

    def handle(self, ns: str, name: str, branch: str = MAIN) -> Any:
        """The profile-branch handle (raises NotFound for the engine's unknown profile)."""
        key = (ns, name, branch)
        if key not in self._handles:
            self._handles[key] = self.client.profile(ns, name, branch)
        return self._handles[key]

    def forget_handle(self, ns: str, name: str, branch: str, *, min_txid: int) -> None:
        """After a rewind: a new handle that reads at least the rewind's txid."""
        self._handles[(ns, name, branch)] = self.client.profile(ns, name, branch, min_txid=min_txid)

    async def aprovision(self, ns: str, name: str) -> None:
        """Create the profile if it does not exist yet (idempotent; once per adapter)."""
        if (ns, name) not in self._provisioned:
            await self.acall(self.client.create_profile, ns, name)
            self._provisioned.add((ns, name))


async def awrite(
    node: Node, ns: str, name: str, branch: str, op: Callable[[Any], Awaitable[T]]
) -> T:
    """Run a write on a profile, provisioning the profile on first use if it is missing."""
    try:
        return await op(await node.acall(node.handle, ns, name, branch))
    except NotFound:
        if (ns, name) in node._provisioned:
            raise
    await node.aprovision(ns, name)
    return await op(await node.acall(node.handle, ns, name, branch))
