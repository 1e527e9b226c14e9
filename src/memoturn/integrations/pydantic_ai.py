"""A Pydantic AI ``ConversationStore`` in a Memoturn profile.

``pip install 'memoturn[pydantic-ai]'``::

    from memoturn.integrations.pydantic_ai import MemoturnConversationStore

    store = MemoturnConversationStore(memoturn.Client(url, token), "acme", "alice")
    conversation = await store.load("chat-1") or Conversation(conversation_id="chat-1")
    result = await agent.run("hi", conversation=conversation)
    await store.save(result)

Pydantic AI keeps a conversation as a log of immutable entries (one message each, pointing
at the one before) plus a record naming the newest entry; forks and branches share entries.
That is a key/value shape, so both live in the profile's KV space ``pydantic-ai``:
``entry/<id>`` (written once) and ``record/<conversation_id>``. Saving a record is a
compare-and-set on the revision it was loaded with (``kv_compare_set``), so two writers
can never both save over one revision: the second gets ``ConversationConflict``, as the
protocol demands. Everything is inside one profile, so Memoturn's checkpoint, rewind and
branch of the profile (:meth:`checkpoint_profile`, :meth:`rewind_profile`,
:meth:`branch_profile`; Pydantic AI's own ``branch`` and ``fork`` act on one conversation)
take every conversation of the user back, or fork them all, at once.

What it does not do: the entries and the record are two writes, so a conflicting save
leaves its new entries behind, unreachable (harmless; nothing reads them). ``delete``
removes the record only: entries stay, since another conversation's fork may share them
(and checkpoints hold them anyway); use Memoturn's erasure to remove content for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic
from pydantic_ai.conversation_store import (
    ConversationConflict,
    ConversationEntry,
    ConversationRecord,
    ConversationStore,
)

from memoturn.core.api import MAIN
from memoturn.core.errors import Conflict, NotFound
from memoturn.core.model import Branch, Checkpoint, RewindResult
from memoturn.integrations._bridge import Node

SPACE = "pydantic-ai"
"""The KV space of the profile that holds the conversations."""
_RECORDS = pydantic.TypeAdapter(ConversationRecord)
_ENTRIES = pydantic.TypeAdapter(ConversationEntry)
_DELETED = {"deleted": True}
"""What a deleted record's key holds: a save over it must still compare against it."""


def _record_key(conversation_id: str) -> str:
    return f"record/{conversation_id}"


def _entry_key(entry_id: str) -> str:
    return f"entry/{entry_id}"


class MemoturnConversationStore(ConversationStore):
    """Pydantic AI's ``ConversationStore`` in one Memoturn profile (``namespace/profile``,
    on ``branch``), through a :class:`memoturn.Client`, :class:`memoturn.AsyncClient` or
    the engine of :func:`memoturn.open`. The profile is created on first save if the client
    may."""

    def __init__(self, client: Any, namespace: str, profile: str, *, branch: str = MAIN) -> None:
        self.namespace = namespace
        self.profile = profile
        self.branch_name = branch
        self._node = client if isinstance(client, Node) else Node(client)

    async def _kv(self, method: str, *args: Any, **kwargs: Any) -> Any:
        node = self._node
        h = await node.acall(node.handle, self.namespace, self.profile, self.branch_name)
        return await node.acall(getattr(h, method), *args, **kwargs)

    async def _stored(self, conversation_id: str) -> Any:
        """The record key's raw value (a record, the deleted marker) or None."""
        try:
            return (await self._kv("kv_get", SPACE, _record_key(conversation_id))).value
        except NotFound:
            return None

    # -- the five storage primitives --------------------------------------------------------

    async def read_record(self, conversation_id: str) -> ConversationRecord | None:
        raw = await self._stored(conversation_id)
        return None if raw is None or raw == _DELETED else _RECORDS.validate_python(raw)

    async def read_records(
        self, *, scope: str | None = None, limit: int | None = None
    ) -> Sequence[ConversationRecord]:
        records, cursor = [], None
        try:
            while True:
                page = await self._kv("kv_list", SPACE, prefix="record/", cursor=cursor)
                records.extend(
                    _RECORDS.validate_python(i.value) for i in page.items if i.value != _DELETED
                )
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        except NotFound:
            return []  # no profile yet
        records = [r for r in records if scope is None or r.scope == scope]
        records.sort(key=lambda r: r.updated_at, reverse=True)
        return records[:limit]

    async def write_record(
        self,
        record: ConversationRecord,
        *,
        new_entries: Sequence[ConversationEntry] = (),
        expected_revision: str | None,
    ) -> None:
        raw = await self._stored(record.conversation_id)
        live = None if raw is None or raw == _DELETED else raw
        if (live["revision"] if live is not None else None) != expected_revision:
            raise ConversationConflict(record.conversation_id)
        new_ids = {e.id for e in new_entries}
        if record.head_id is not None and record.head_id not in new_ids:
            try:
                await self._kv("kv_get", SPACE, _entry_key(record.head_id))
            except NotFound:
                raise ConversationConflict(record.conversation_id) from None
        for entry in new_entries:
            await self._write("kv_set", SPACE, _entry_key(entry.id), self._dump_entry(entry))
        try:
            await self._write(
                "kv_compare_set",
                SPACE,
                _record_key(record.conversation_id),
                _RECORDS.dump_python(record, mode="json"),
                expected=raw,  # exactly what was read: a concurrent save cannot slip in
            )
        except Conflict:
            raise ConversationConflict(record.conversation_id) from None

    async def delete_record(self, conversation_id: str, *, expected_revision: str) -> None:
        raw = await self._stored(conversation_id)
        if raw is None or raw == _DELETED or raw.get("revision") != expected_revision:
            raise ConversationConflict(conversation_id)
        try:
            await self._kv(
                "kv_compare_set", SPACE, _record_key(conversation_id), _DELETED, expected=raw
            )
        except Conflict:
            raise ConversationConflict(conversation_id) from None

    async def read_entry(self, entry_id: str) -> ConversationEntry:
        try:
            got = await self._kv("kv_get", SPACE, _entry_key(entry_id))
        except NotFound:
            raise LookupError(f"no conversation entry {entry_id!r}") from None
        return _ENTRIES.validate_python(got.value)

    # -- helpers ----------------------------------------------------------------------------

    def _dump_entry(self, entry: ConversationEntry) -> Any:
        return _ENTRIES.dump_python(entry, mode="json")

    async def _write(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A write that provisions the profile on first use (if the client may)."""
        try:
            return await self._kv(method, *args, **kwargs)
        except NotFound:
            await self._node.aprovision(self.namespace, self.profile)
        return await self._kv(method, *args, **kwargs)

    # -- the profile's history --------------------------------------------------------------

    async def checkpoint_profile(self, name: str) -> Checkpoint:
        """Pin the profile-branch now: every conversation in it, and all else it holds."""
        return await self._node.acall(
            self._node.client.create_checkpoint,
            self.namespace,
            self.profile,
            name,
            branch=self.branch_name,
        )

    async def rewind_profile(
        self, checkpoint: str | None = None, *, txid: int | None = None
    ) -> RewindResult:
        """Return the profile-branch to a checkpoint (or txid), undoably. A conversation
        loaded before it carries a revision the rewind replaced: load it again."""
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

    async def branch_profile(
        self,
        name: str,
        *,
        from_checkpoint: str | None = None,
        from_txid: int | None = None,
        ttl_s: int | None = None,
    ) -> MemoturnConversationStore:
        """Fork the whole profile-branch (copy-on-write) and return a store on the fork."""
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
        return MemoturnConversationStore(self._node, self.namespace, self.profile, branch=made.name)

    def __repr__(self) -> str:
        return f"<MemoturnConversationStore {self.namespace}/{self.profile}@{self.branch_name}>"


__all__ = ["SPACE", "MemoturnConversationStore"]
