"""The async client: every call of ``_core`` sent over an httpx ``AsyncClient``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from memoturn.client import _core
from memoturn.client._base import _BaseClient
from memoturn.client._core import MAIN, Call, ProfileCalls
from memoturn.core.model import (
    AuditPage,
    Branch,
    Checkpoint,
    CollectionPage,
    DocumentPage,
    DocumentResult,
    ErasurePage,
    ErasureResult,
    ExtractResult,
    GcReport,
    ImportResult,
    IngestBatchResult,
    IngestResult,
    KVPage,
    KVResult,
    KVSpacePage,
    MemoryDiff,
    MemoryPage,
    MemoryResult,
    MintedToken,
    ProfilePage,
    ProfilesCreated,
    RecallResult,
    RewindResult,
    SessionEnded,
    SessionPage,
    SessionResult,
    TopicHistory,
    TurnPage,
    TurnResult,
    TurnsResult,
    VectorQueryResult,
    Written,
)
from memoturn.core.policy import Policy, ProfilePolicy

T = TypeVar("T")


class AsyncClient(_BaseClient):
    """The async twin of :class:`Client` (same methods, awaited)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        data_dir: str | Path | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, data_dir=data_dir, timeout=timeout)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=_core.headers(self.token),
            timeout=timeout,
            transport=transport,
        )

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(**self._args(call))
        except httpx.TransportError as e:
            raise _core.transport_error(self.url, e) from e
        return self._finish(call, response)

    # -- the node (memoturn.core.api.NodeAPI, and tokens) ---------------------------------

    async def health(self) -> bool:
        """True when the node answers ``/healthz``."""
        return await self._send(self._calls.health())

    async def create_namespace(self, name: str) -> bool:
        """Create a namespace; ``False`` if it existed."""
        return await self._send(self._calls.create_namespace(name))

    async def list_namespaces(self) -> list[str]:
        """Every namespace, in name order."""
        return await self._send(self._calls.list_namespaces())

    async def create_profile(self, ns: str, name: str) -> bool:
        """Provision a profile (a metadata write); ``False`` if it existed."""
        return await self._send(self._calls.create_profile(ns, name))

    async def create_profiles(self, ns: str, names: list[str]) -> ProfilesCreated:
        """Provision up to 10,000 profiles in one metadata write (SaaS sign-ups)."""
        return await self._send(self._calls.create_profiles(ns, names))

    async def list_profiles(
        self, ns: str, *, limit: int = 1000, cursor: str | None = None
    ) -> ProfilePage:
        """Profiles of a namespace in name order."""
        return await self._send(self._calls.list_profiles(ns, limit=limit, cursor=cursor))

    async def delete_profile(self, ns: str, name: str) -> None:
        """Delete a profile, all its branches and all its data."""
        return await self._send(self._calls.delete_profile(ns, name))

    async def mint_token(
        self,
        ns: str,
        profile: str | None = None,
        *,
        branch: str | None = None,
        scopes: Sequence[str] | None = None,
        ttl_s: int | None = None,
    ) -> MintedToken:
        """Mint a namespace token (root; no ``profile``) or a profile token."""
        return await self._send(
            self._calls.mint_token(ns, profile, branch=branch, scopes=scopes, ttl_s=ttl_s)
        )

    async def revoke_tokens(self, ns: str, name: str) -> int:
        """Revoke every profile token of a profile; returns the new token epoch."""
        return await self._send(self._calls.revoke_tokens(ns, name))

    async def gc(self) -> list[GcReport]:
        """Run one garbage collection on the node now (root token): per profile, the
        expired burner branches removed and the unreachable objects deleted."""
        return await self._send(self._calls.gc())

    async def get_policy(self, ns: str) -> Policy:
        """The namespace's governance policy."""
        return await self._send(self._calls.get_policy(ns))

    async def set_policy(self, ns: str, policy: Mapping[str, Any]) -> Policy:
        """Replace the namespace's policy (root); the fields it omits take their defaults."""
        return await self._send(self._calls.set_policy(ns, policy))

    async def get_profile_policy(self, ns: str, name: str) -> ProfilePolicy:
        """The namespace's policy, the profile's override and the effective policy."""
        return await self._send(self._calls.get_profile_policy(ns, name))

    async def set_profile_policy(
        self, ns: str, name: str, policy: Mapping[str, Any]
    ) -> ProfilePolicy:
        """Replace the profile's override; it may only tighten (``policy_loosens``)."""
        return await self._send(self._calls.set_profile_policy(ns, name, policy))

    async def audit_events(
        self,
        ns: str,
        *,
        since: float | str | None = None,
        until: float | str | None = None,
        profile: str | None = None,
        op: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """One page of the namespace's audit events, oldest first, and the cursor of the
        next page (``None``: no more)."""
        return await self._send(
            self._calls.audit_events(
                ns, since=since, until=until, profile=profile, op=op, cursor=cursor, limit=limit
            )
        )

    async def create_checkpoint(
        self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> Checkpoint:
        """Pin the branch's current txid under a name (metadata only)."""
        return await self._send(self._calls.create_checkpoint(ns, name, checkpoint, branch=branch))

    async def list_checkpoints(self, ns: str, name: str, *, branch: str = MAIN) -> list[Checkpoint]:
        """The branch's checkpoints, oldest first."""
        return await self._send(self._calls.list_checkpoints(ns, name, branch=branch))

    async def delete_checkpoint(
        self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> None:
        """Remove a checkpoint."""
        return await self._send(self._calls.delete_checkpoint(ns, name, checkpoint, branch=branch))

    async def rewind(
        self,
        ns: str,
        name: str,
        *,
        branch: str = MAIN,
        checkpoint: str | None = None,
        txid: int | None = None,
    ) -> RewindResult:
        """Atomically return a branch to a checkpoint or txid (undoable)."""
        return await self._send(
            self._calls.rewind(ns, name, branch=branch, checkpoint=checkpoint, txid=txid)
        )

    async def create_branch(
        self,
        ns: str,
        name: str,
        branch: str,
        *,
        from_branch: str = MAIN,
        from_checkpoint: str | None = None,
        from_txid: int | None = None,
        ttl_s: int | None = None,
    ) -> Branch:
        """A copy-on-write branch (optionally a burner with a TTL)."""
        return await self._send(
            self._calls.create_branch(
                ns,
                name,
                branch,
                from_branch=from_branch,
                from_checkpoint=from_checkpoint,
                from_txid=from_txid,
                ttl_s=ttl_s,
            )
        )

    async def list_branches(self, ns: str, name: str) -> list[Branch]:
        """The profile's branches."""
        return await self._send(self._calls.list_branches(ns, name))

    async def delete_branch(self, ns: str, name: str, branch: str) -> None:
        """Delete a branch (not ``main``)."""
        return await self._send(self._calls.delete_branch(ns, name, branch))

    def profile(
        self,
        ns: str,
        name: str,
        branch: str = MAIN,
        *,
        min_txid: int | None = None,
        read_your_writes: bool = True,
    ) -> AsyncProfile:
        """One profile-branch; with ``min_txid`` its reads wait until that txid is visible.
        With ``read_your_writes`` (the default) the handle raises its ``min_txid`` to every
        txid it is answered with, so its reads see its own writes on any node of the
        deployment; ``read_your_writes=False`` sends only the ``min_txid`` given."""
        calls = ProfileCalls(ns, name, branch, min_txid, read_your_writes=read_your_writes)
        return AsyncProfile(self, calls)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncProfile:
    """One profile-branch through an :class:`AsyncClient`."""

    def __init__(self, client: AsyncClient, calls: ProfileCalls) -> None:
        self._client = client
        self._calls = calls

    async def _send(self, call: Call[T]) -> T:
        return await self._client._send(call)

    # -- memoturn.core.api.ProfileAPI, awaited -------------------------------------------

    async def ingest(
        self,
        type: str,
        content: str,
        *,
        topic: str | None = None,
        session_id: str | None = None,
        source: str | None = None,
        ttl_s: int | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        turn_ids: list[int] | None = None,
        valid_from: float | str | None = None,
    ) -> IngestResult:
        """Store one memory. The same (type, topic, content) already current is a
        ``duplicate`` (nothing written, unless new ``metadata`` or ``ttl_s`` update it:
        ``updated`` names the fields); a ``topic`` supersedes the current memory on it.
        ``valid_from``: since when it has been true, if before now."""
        return await self._send(
            self._calls.ingest(
                type,
                content,
                topic=topic,
                session_id=session_id,
                source=source,
                ttl_s=ttl_s,
                metadata=metadata,
                idempotency_key=idempotency_key,
                turn_ids=turn_ids,
                valid_from=valid_from,
            )
        )

    async def ingest_many(
        self, items: Sequence[Mapping[str, Any]], *, defer_embedding: bool = False
    ) -> IngestBatchResult:
        """Ingest a batch in one transaction (one txid); one bad item rejects all."""
        return await self._send(self._calls.ingest_many(items, defer_embedding=defer_embedding))

    async def get_memory(self, memory_id: str) -> MemoryResult:
        """One memory by id, current or historical (expired ones are not found)."""
        return await self._send(self._calls.get_memory(memory_id))

    async def list_memories(
        self,
        *,
        type: str | None = None,
        topic: str | None = None,
        session_id: str | None = None,
        source: str | None = None,
        include_history: bool = False,
        limit: int = 100,
        cursor: str | None = None,
    ) -> MemoryPage:
        """Memories oldest first; page on with ``cursor=page.next_cursor``."""
        return await self._send(
            self._calls.list_memories(
                type=type,
                topic=topic,
                session_id=session_id,
                source=source,
                include_history=include_history,
                limit=limit,
                cursor=cursor,
            )
        )

    async def topic_history(self, topic: str) -> TopicHistory:
        """Every version of a topic, oldest first."""
        return await self._send(self._calls.topic_history(topic))

    async def forget(self, memory_id: str, reason: str | None = None) -> Written:
        """Retire a memory from recall; history keeps a tombstone (``count`` 0 if it was
        retired already)."""
        return await self._send(self._calls.forget(memory_id, reason))

    async def recall(
        self,
        query: str,
        *,
        k: int = 10,
        types: list[str] | None = None,
        topic: str | None = None,
        session_id: str | None = None,
        source: str | None = None,
        scopes: list[str] | None = None,
        include_history: bool = False,
        as_of: float | str | None = None,
        created_after: float | str | None = None,
        created_before: float | str | None = None,
        metadata: dict[str, Any] | None = None,
        recency_half_life_s: float | None = None,
        recency_weight: float | None = None,
        mode: str | None = None,
        min_score: float | None = None,
    ) -> RecallResult:
        """Hybrid recall (BM25 + embeddings) over memories, transcript turns and document
        chunks (``scopes``); each hit says ``why`` it matched."""
        return await self._send(
            self._calls.recall(
                query,
                k=k,
                types=types,
                topic=topic,
                session_id=session_id,
                source=source,
                scopes=scopes,
                include_history=include_history,
                as_of=as_of,
                created_after=created_after,
                created_before=created_before,
                metadata=metadata,
                recency_half_life_s=recency_half_life_s,
                recency_weight=recency_weight,
                mode=mode,
                min_score=min_score,
            )
        )

    async def open_session(
        self,
        session_id: str | None = None,
        *,
        task_ttl_s: int | None = None,
        metadata: dict[str, Any] | None = None,
        auto_extract: dict[str, Any] | None = None,
    ) -> SessionResult:
        """Open a session (a new id when none is given); ``auto_extract`` has the node
        extract memories from its turns in the background (off by default)."""
        return await self._send(
            self._calls.open_session(
                session_id, task_ttl_s=task_ttl_s, metadata=metadata, auto_extract=auto_extract
            )
        )

    async def get_session(self, session_id: str) -> SessionResult:
        """A session's settings and whether it has ended."""
        return await self._send(self._calls.get_session(session_id))

    async def list_sessions(self, *, limit: int = 100, cursor: str | None = None) -> SessionPage:
        """Sessions in id order."""
        return await self._send(self._calls.list_sessions(limit=limit, cursor=cursor))

    async def append_turn(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> TurnResult:
        """Append a verbatim turn (the session is opened with defaults if need be)."""
        return await self._send(
            self._calls.append_turn(session_id, role, content, name=name, metadata=metadata)
        )

    async def append_turns(self, session_id: str, turns: list[dict[str, Any]]) -> TurnsResult:
        """Append several turns (``role``, ``content``, ``name``, ``metadata``) in one
        transaction."""
        return await self._send(self._calls.append_turns(session_id, turns))

    async def read_turns(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> TurnPage:
        """The transcript in order, after turn number ``after`` (or from ``cursor``)."""
        return await self._send(
            self._calls.read_turns(session_id, after=after, limit=limit, cursor=cursor)
        )

    async def end_session(self, session_id: str) -> SessionEnded:
        """End a session; its task memories are deleted in the same transaction."""
        return await self._send(self._calls.end_session(session_id))

    async def kv_set(
        self, space: str, key: str, value: Any, *, ttl_s: int | None = None
    ) -> KVResult:
        """Set a key to any JSON value, optionally with a TTL."""
        return await self._send(self._calls.kv_set(space, key, value, ttl_s=ttl_s))

    async def kv_get(self, space: str, key: str) -> KVResult:
        """A key's value (expired keys are not found)."""
        return await self._send(self._calls.kv_get(space, key))

    async def kv_delete(self, space: str, key: str) -> Written:
        """Delete a key (``count`` 0 if it did not exist)."""
        return await self._send(self._calls.kv_delete(space, key))

    async def kv_list(
        self, space: str, *, prefix: str = "", limit: int = 1000, cursor: str | None = None
    ) -> KVPage:
        """Live keys of a space in key order, optionally under a prefix."""
        return await self._send(
            self._calls.kv_list(space, prefix=prefix, limit=limit, cursor=cursor)
        )

    async def kv_spaces(self, *, limit: int = 100, cursor: str | None = None) -> KVSpacePage:
        """The KV spaces holding live keys, in name order."""
        return await self._send(self._calls.kv_spaces(limit=limit, cursor=cursor))

    async def add_document(
        self, content: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> DocumentResult:
        """Store a document, chunked for recall (``scopes=["documents"]``)."""
        return await self._send(self._calls.add_document(content, title=title, metadata=metadata))

    async def get_document(self, document_id: str) -> DocumentResult:
        """One document with its whole content."""
        return await self._send(self._calls.get_document(document_id))

    async def list_documents(self, *, limit: int = 100, cursor: str | None = None) -> DocumentPage:
        """Documents oldest first, without their content."""
        return await self._send(self._calls.list_documents(limit=limit, cursor=cursor))

    async def delete_document(self, document_id: str) -> Written:
        """Delete a document and its chunks."""
        return await self._send(self._calls.delete_document(document_id))

    async def vector_upsert(
        self,
        collection: str,
        vector_id: str,
        vector: Sequence[float],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Written:
        """Insert or replace a raw vector (a collection's dimension is set by its first)."""
        return await self._send(
            self._calls.vector_upsert(collection, vector_id, vector, metadata=metadata)
        )

    async def vector_delete(self, collection: str, vector_id: str) -> Written:
        """Delete a raw vector."""
        return await self._send(self._calls.vector_delete(collection, vector_id))

    async def vector_query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        k: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> VectorQueryResult:
        """The ``k`` nearest vectors by cosine similarity."""
        return await self._send(
            self._calls.vector_query(collection, vector, k=k, metadata=metadata)
        )

    async def list_collections(
        self, *, limit: int = 100, cursor: str | None = None
    ) -> CollectionPage:
        """Vector collections in name order, with dimension and size."""
        return await self._send(self._calls.list_collections(limit=limit, cursor=cursor))

    async def export_profile(self) -> str:
        """The whole profile-branch as JSON Lines (format version 1, docs/cli.md): memories
        with their history, sessions and turns, KV keys, documents, vector collections."""
        return await self._send(self._calls.export_profile())

    async def import_profile(self, data: str | bytes) -> ImportResult:
        """Load an export into this profile-branch, which must be empty, as one transaction
        (one txid). A bad line is an InvalidInput naming it and changes nothing. Pass a
        longer ``timeout`` to the client for a large profile: the node embeds every text."""
        return await self._send(self._calls.import_profile(data))

    async def erase(
        self,
        *,
        memory_ids: list[str] | None = None,
        topic: str | None = None,
        session_id: str | None = None,
        document_ids: list[str] | None = None,
        kv: list[dict[str, str]] | None = None,
        all: bool = False,
        force: bool = False,
        reason: str | None = None,
    ) -> ErasureResult:
        """Hard-delete items now (memories with their topic chains, a topic, a session's
        turns and tasks, documents, KV keys ``{space, key}``, or ``all``); history is
        rewritten after the policy's ``erasure_grace_s``, then a signed receipt is issued.
        Checkpoints and branches still holding the content block it (``blocked_by``)
        until deleted; ``force`` rewrites them instead."""
        return await self._send(
            self._calls.erase(
                memory_ids=memory_ids,
                topic=topic,
                session_id=session_id,
                document_ids=document_ids,
                kv=kv,
                all=all,
                force=force,
                reason=reason,
            )
        )

    async def list_erasures(self) -> ErasurePage:
        """The branch's erasures, oldest first."""
        return await self._send(self._calls.list_erasures())

    async def get_erasure(self, erasure_id: str) -> ErasureResult:
        """One erasure; a complete one carries its signed ``receipt``."""
        return await self._send(self._calls.get_erasure(erasure_id))

    async def diff(self, from_: str, to: str) -> MemoryDiff:
        """The current memories at point ``to`` compared with those at ``from_``: added,
        removed and changed. A point is ``branch:NAME`` (its head), ``checkpoint:NAME`` or
        ``txid:N`` of this branch, or ``checkpoint:BRANCH/NAME``, ``txid:BRANCH/N``."""
        return await self._send(self._calls.diff(from_, to))

    async def extract(
        self,
        session_id: str,
        *,
        preview: bool = False,
        extractor: str | None = None,
        max_turns: int | None = None,
    ) -> ExtractResult:
        """Turn the session's turns not yet extracted into typed memories; answers a
        per-turn ``report``. ``preview``: on a burner branch (``branch`` in the answer),
        to apply with :meth:`extract_apply` or delete. A slow model may need a longer
        client ``timeout``."""
        return await self._send(
            self._calls.extract(
                session_id, preview=preview, extractor=extractor, max_turns=max_turns
            )
        )

    async def extract_apply(self, session_id: str, branch: str) -> ExtractResult:
        """Apply a preview's memories from its burner ``branch`` to this branch (no model
        call), then delete the burner branch."""
        return await self._send(self._calls.extract_apply(session_id, branch))

    async def pop_turn(self, session_id: str) -> TurnResult:
        """Delete the session's last turn and return it, in one transaction (NotFound when
        it has none). Turn numbers are never reused."""
        return await self._send(self._calls.pop_turn(session_id))

    async def delete_turns(self, session_id: str, *, after: int = 0) -> Written:
        """Delete the session's turns numbered after ``after`` (all by default) in one
        transaction; ``count`` says how many. The session and its tasks stay."""
        return await self._send(self._calls.delete_turns(session_id, after=after))

    async def kv_compare_set(
        self,
        space: str,
        key: str,
        value: Any,
        *,
        expected: Any = None,
        ttl_s: int | None = None,
    ) -> KVResult:
        """Set a key only if its live value is ``expected`` (as JSON; ``None``: only if the
        key does not exist), atomically; else a Conflict that changes nothing."""
        return await self._send(
            self._calls.kv_compare_set(space, key, value, expected=expected, ttl_s=ttl_s)
        )

    def __repr__(self) -> str:
        return f"<AsyncProfile {self._calls.base}@{self._calls.branch}>"
