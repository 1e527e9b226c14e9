"""An OpenAI Agents SDK ``Session`` over a Memoturn session's verbatim transcript.

``pip install 'memoturn[openai-agents]'``::

    from agents import Agent, Runner
    from memoturn.integrations.openai_agents import MemoturnSession

    session = MemoturnSession("chat-1", memoturn.Client(url, token), "acme", "alice")
    await Runner.run(agent, "hi", session=session)
    await session.checkpoint("before-refund")      # pin the whole profile
    await session.rewind("before-refund")          # and go back to it

Each item the SDK stores becomes one transcript turn of session ``session_id`` in the
profile ``namespace/profile``, so it is searchable with ``recall(scopes=["transcript"])``
and visible to every other Memoturn edge. A message whose ``content`` is text keeps that
text as the turn's content and the rest of the item in the turn's metadata; any other item
(tool calls, tool output, reasoning, content parts) is kept whole as canonical JSON. Either
way :meth:`get_items` returns exactly the dicts that were added.

Beyond the protocol: :meth:`checkpoint`, :meth:`rewind` and :meth:`branch` act on the
session's profile-branch as a whole (its memories, KV and documents too), which no other
session backend can do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agents.memory.session_settings import SessionSettings, resolve_session_limit

from memoturn.core import limits
from memoturn.core.api import MAIN
from memoturn.core.errors import NotFound
from memoturn.core.model import Branch, Checkpoint, RewindResult
from memoturn.integrations._bridge import Node, awrite

if TYPE_CHECKING:
    from agents.items import TResponseInputItem

KEY = "openai_agents"
"""The metadata key under which a turn keeps what it needs to give the item back."""

_PAGE = 1000


def item_to_turn(item: TResponseInputItem) -> dict[str, Any]:
    """The turn that keeps ``item``: its role, readable content and metadata."""
    data: dict[str, Any] = dict(item)  # type: ignore[arg-type]
    role = _role(data)
    content = data.get("content")
    if isinstance(content, str) and content.strip() and "\x00" not in content:
        rest = {k: v for k, v in data.items() if k != "content"}
        meta = {KEY: {"item": rest}}
        if len(json.dumps(meta, ensure_ascii=False).encode()) <= limits.MAX_METADATA_BYTES:
            return {"role": role, "content": content, "metadata": meta}
    whole = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return {"role": role, "content": whole, "metadata": {KEY: {"json": True}}}


def turn_to_item(content: str, metadata: dict[str, Any]) -> TResponseInputItem:
    """The item a turn written by :func:`item_to_turn` keeps. A turn some other program
    appended (no adapter metadata) reads as a plain message."""
    kept = metadata.get(KEY)
    if not isinstance(kept, dict):
        return {"role": "user", "content": content}  # type: ignore[return-value]
    if kept.get("json"):
        return json.loads(content)
    return {**kept["item"], "content": content}


def _role(item: dict[str, Any]) -> str:
    role = item.get("role")
    if role in ("user", "assistant", "system"):
        return role
    if role == "developer":
        return "system"
    kind = str(item.get("type", ""))
    return "tool" if kind.endswith("_output") else "assistant"


class MemoturnSession:
    """The OpenAI Agents SDK ``Session`` protocol over a Memoturn transcript.

    ``client`` is a :class:`memoturn.Client`, :class:`memoturn.AsyncClient` or the engine
    of :func:`memoturn.open`; ``namespace``/``profile`` name the profile (created on first
    write if the client may), ``branch`` the profile-branch (default ``main``).
    ``session_settings.limit`` is the default of :meth:`get_items`' ``limit``.
    """

    session_settings: SessionSettings | None = None

    def __init__(
        self,
        session_id: str,
        client: Any,
        namespace: str,
        profile: str,
        *,
        branch: str = MAIN,
        session_settings: SessionSettings | None = None,
    ) -> None:
        self.session_id = session_id
        self.namespace = namespace
        self.profile = profile
        self.branch_name = branch
        self.session_settings = session_settings or SessionSettings()
        self._node = client if isinstance(client, Node) else Node(client)

    @property
    def client(self) -> Any:
        return self._node.client

    async def _handle(self) -> Any:
        return await self._node.acall(
            self._node.handle, self.namespace, self.profile, self.branch_name
        )

    # -- the Session protocol ---------------------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The transcript's items in order; with ``limit``, the latest ``limit`` of them."""
        limit = resolve_session_limit(limit, self.session_settings)
        if limit is not None and limit <= 0:
            return []
        try:
            h = await self._handle()
            turns, cursor = [], None
            while True:
                page = await self._node.acall(
                    h.read_turns, self.session_id, limit=_PAGE, cursor=cursor
                )
                turns.extend(page.turns)
                if limit is not None:
                    turns = turns[-limit:]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        except NotFound:
            return []  # no such profile or session yet: an empty history
        return [turn_to_item(t.content, t.metadata) for t in turns]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append the items as turns, up to 1000 per transaction, in order."""
        turns = [item_to_turn(i) for i in items]
        for start in range(0, len(turns), limits.MAX_BATCH):
            batch = turns[start : start + limits.MAX_BATCH]

            async def append(h: Any, batch: list[dict[str, Any]] = batch) -> Any:
                return await self._node.acall(h.append_turns, self.session_id, batch)

            await awrite(self._node, self.namespace, self.profile, self.branch_name, append)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove the latest item (one transaction) and return it; ``None`` if empty."""
        try:
            h = await self._handle()
            popped = await self._node.acall(h.pop_turn, self.session_id)
        except NotFound:
            return None
        return turn_to_item(popped.turn.content, popped.turn.metadata)

    async def clear_session(self) -> None:
        """Delete every item of the session (one transaction). Checkpoints taken before
        still hold them: :meth:`rewind` brings them back."""
        try:
            h = await self._handle()
            await self._node.acall(h.delete_turns, self.session_id)
        except NotFound:
            return

    # -- what only Memoturn has: the profile's history --------------------------------------

    async def checkpoint(self, name: str) -> Checkpoint:
        """Pin the profile-branch's current state (this transcript, and everything else the
        profile holds) under ``name``."""
        return await self._node.acall(
            self._node.client.create_checkpoint,
            self.namespace,
            self.profile,
            name,
            branch=self.branch_name,
        )

    async def rewind(
        self, checkpoint: str | None = None, *, txid: int | None = None
    ) -> RewindResult:
        """Return the profile-branch atomically to a checkpoint (or txid); the state just
        before is kept as ``undo_checkpoint``, so a rewind can be undone."""
        done: RewindResult = await self._node.acall(
            self._node.client.rewind,
            self.namespace,
            self.profile,
            branch=self.branch_name,
            checkpoint=checkpoint,
            txid=txid,
        )
        self._node.forget_handle(self.namespace, self.profile, self.branch_name, min_txid=done.txid)
        return done

    async def branch(
        self,
        name: str,
        *,
        from_checkpoint: str | None = None,
        from_txid: int | None = None,
        ttl_s: int | None = None,
    ) -> MemoturnSession:
        """Fork the profile-branch (copy-on-write, from now or a checkpoint/txid; a burner
        with ``ttl_s``) and return this session on the new branch: what either side adds
        later never reaches the other."""
        made: Branch = await self._node.acall(
            self._node.client.create_branch,
            self.namespace,
            self.profile,
            name,
            from_branch=self.branch_name,
            from_checkpoint=from_checkpoint,
            from_txid=from_txid,
            ttl_s=ttl_s,
        )
        return MemoturnSession(
            self.session_id,
            self._node,
            self.namespace,
            self.profile,
            branch=made.name,
            session_settings=self.session_settings,
        )

    def __repr__(self) -> str:
        return (
            f"<MemoturnSession {self.session_id!r} of {self.namespace}/{self.profile}"
            f"@{self.branch_name}>"
        )


__all__ = ["MemoturnSession", "item_to_turn", "turn_to_item"]
