"""The sync client: every call of ``_core`` sent over an httpx ``Client``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from memoturn.client import _core
from memoturn.client._base import _BaseClient
from memoturn.client._core import MAIN, Call, ProfileCalls
from memoturn.core.api import ProfileAPI
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


class Client(_BaseClient):
    """A Memoturn node over HTTP: ``Client(url, token)``; methods mirror :class:`Engine`.

    ``url`` defaults to ``MEMOTURN_URL`` (else http://127.0.0.1:8765); ``token`` to
    ``MEMOTURN_TOKEN``, else the root token file of ``data_dir`` (``./.memoturn``). Errors
    raise the :mod:`memoturn.core.errors` class named by the answer's ``error.code``.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        data_dir: str | Path | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, data_dir=data_dir, timeout=timeout)
        self._http = httpx.Client(
            base_url=self.url,
            headers=_core.headers(self.token),
            timeout=timeout,
            transport=transport,
        )

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(**self._args(call))
        except httpx.TransportError as e:
            raise _core.transport_error(self.url, e) from e
        return self._finish(call, response)

    # -- the node (memoturn.core.api.NodeAPI, and tokens) ---------------------------------

    def health(self) -> bool:
        """True when the node answers ``/healthz``."""
        return self._send(self._calls.health())

    def create_namespace(self, name: str) -> bool:
        """Create a namespace; ``False`` if it existed."""
        return self._send(self._calls.create_namespace(name))

    def list_namespaces(self) -> list[str]:
        """Every namespace, in name order."""
        return self._send(self._calls.list_namespaces())

    def create_profile(self, ns: str, name: str) -> bool:
        """Provision a profile (a metadata write); ``False`` if it existed."""
        return self._send(self._calls.create_profile(ns, name))

    def create_profiles(self, ns: str, names: list[str]) -> ProfilesCreated:
        """Provision up to 10,000 profiles in one metadata write (SaaS sign-ups)."""
        return self._send(self._calls.create_profiles(ns, names))

    def list_profiles(
        self, ns: str, *, limit: int = 1000, cursor: str | None = None
    ) -> ProfilePage:
        """Profiles of a namespace in name order."""
        return self._send(self._calls.list_profiles(ns, limit=limit, cursor=cursor))

    def delete_profile(self, ns: str, name: str) -> None:
        """Delete a profile, all its branches and all its data."""
        return self._send(self._calls.delete_profile(ns, name))

    def mint_token(
        self,
        ns: str,
        profile: str | None = None,
        *,
        branch: str | None = None,
        scopes: Sequence[str] | None = None,
        ttl_s: int | None = None,
    ) -> MintedToken:
        """Mint a namespace token (root; no ``profile``) or a profile token."""
        return self._send(
            self._calls.mint_token(ns, profile, branch=branch, scopes=scopes, ttl_s=ttl_s)
        )

    def revoke_tokens(self, ns: str, name: str) -> int:
        """Revoke every profile token of a profile; returns the new token epoch."""
        return self._send(self._calls.revoke_tokens(ns, name))

    def gc(self) -> list[GcReport]:
        """Run one garbage collection on the node now (root token): per profile, the
        expired burner branches removed and the unreachable objects deleted."""
        return self._send(self._calls.gc())

    def get_policy(self, ns: str) -> Policy:
        """The namespace's governance policy."""
        return self._send(self._calls.get_policy(ns))

    def set_policy(self, ns: str, policy: Mapping[str, Any]) -> Policy:
        """Replace the namespace's policy (root); the fields it omits take their defaults."""
        return self._send(self._calls.set_policy(ns, policy))

    def get_profile_policy(self, ns: str, name: str) -> ProfilePolicy:
        """The namespace's policy, the profile's override and the effective policy."""
        return self._send(self._calls.get_profile_policy(ns, name))

    def set_profile_policy(self, ns: str, name: str, policy: Mapping[str, Any]) -> ProfilePolicy:
        """Replace the profile's override; it may only tighten (``policy_loosens``)."""
        return self._send(self._calls.set_profile_policy(ns, name, policy))

    def audit_events(
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
        return self._send(
            self._calls.audit_events(
                ns, since=since, until=until, profile=profile, op=op, cursor=cursor, limit=limit
            )
        )

    def create_checkpoint(
        self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> Checkpoint:
        """Pin the branch's current txid under a name (metadata only)."""
        return self._send(self._calls.create_checkpoint(ns, name, checkpoint, branch=branch))

    def list_checkpoints(self, ns: str, name: str, *, branch: str = MAIN) -> list[Checkpoint]:
        """The branch's checkpoints, oldest first."""
        return self._send(self._calls.list_checkpoints(ns, name, branch=branch))

    def delete_checkpoint(self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN) -> None:
        """Remove a checkpoint."""
        return self._send(self._calls.delete_checkpoint(ns, name, checkpoint, branch=branch))

    def rewind(
        self,
        ns: str,
        name: str,
        *,
        branch: str = MAIN,
        checkpoint: str | None = None,
        txid: int | None = None,
    ) -> RewindResult:
        """Atomically return a branch to a checkpoint or txid (undoable)."""
        return self._send(
            self._calls.rewind(ns, name, branch=branch, checkpoint=checkpoint, txid=txid)
        )

    def create_branch(
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
        return self._send(
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

    def list_branches(self, ns: str, name: str) -> list[Branch]:
        """The profile's branches."""
        return self._send(self._calls.list_branches(ns, name))

    def delete_branch(self, ns: str, name: str, branch: str) -> None:
        """Delete a branch (not ``main``)."""
        return self._send(self._calls.delete_branch(ns, name, branch))

    def profile(
        self,
        ns: str,
        name: str,
        branch: str = MAIN,
        *,
        min_txid: int | None = None,
        read_your_writes: bool = True,
    ) -> Profile:
        """One profile-branch; with ``min_txid`` its reads wait until that txid is visible.
        With ``read_your_writes`` (the default) the handle raises its ``min_txid`` to every
        txid it is answered with, so its reads see its own writes on any node of the
        deployment; ``read_your_writes=False`` sends only the ``min_txid`` given."""
        calls = ProfileCalls(ns, name, branch, min_txid, read_your_writes=read_your_writes)
        return Profile(self, calls)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Profile(ProfileAPI):
    """One profile-branch through a :class:`Client`: the operations of the in-process
    handle (:class:`~memoturn.core.api.ProfileAPI`), over HTTP."""

    def __init__(self, client: Client, calls: ProfileCalls) -> None:
        self._client = client
        self._calls = calls

    def _send(self, call: Call[T]) -> T:
        return self._client._send(call)

    # -- memoturn.core.api.ProfileAPI ---------------------------------------------------

    def ingest(
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
        return self._send(
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

    def ingest_many(
        self, items: Sequence[Mapping[str, Any]], *, defer_embedding: bool = False
    ) -> IngestBatchResult:
        """Ingest a batch in one transaction (one txid); one bad item rejects all."""
        return self._send(self._calls.ingest_many(items, defer_embedding=defer_embedding))

    def get_memory(self, memory_id: str) -> MemoryResult:
        """One memory by id, current or historical (expired ones are not found)."""
        return self._send(self._calls.get_memory(memory_id))

    def list_memories(
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
        return self._send(
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

    def topic_history(self, topic: str) -> TopicHistory:
        """Every version of a topic, oldest first."""
        return self._send(self._calls.topic_history(topic))

    def forget(self, memory_id: str, reason: str | None = None) -> Written:
        """Retire a memory from recall; history keeps a tombstone (``count`` 0 if it was
        retired already)."""
        return self._send(self._calls.forget(memory_id, reason))

    def recall(
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
        return self._send(
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

    def open_session(
        self,
        session_id: str | None = None,
        *,
        task_ttl_s: int | None = None,
        metadata: dict[str, Any] | None = None,
        auto_extract: dict[str, Any] | None = None,
    ) -> SessionResult:
        """Open a session (a new id when none is given); ``auto_extract`` has the node
        extract memories from its turns in the background (off by default)."""
        return self._send(
            self._calls.open_session(
                session_id, task_ttl_s=task_ttl_s, metadata=metadata, auto_extract=auto_extract
            )
        )

    def get_session(self, session_id: str) -> SessionResult:
        """A session's settings and whether it has ended."""
        return self._send(self._calls.get_session(session_id))

    def list_sessions(self, *, limit: int = 100, cursor: str | None = None) -> SessionPage:
        """Sessions in id order."""
        return self._send(self._calls.list_sessions(limit=limit, cursor=cursor))

    def append_turn(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> TurnResult:
        """Append a verbatim turn (the session is opened with defaults if need be)."""
        return self._send(
            self._calls.append_turn(session_id, role, content, name=name, metadata=metadata)
        )

    def append_turns(self, session_id: str, turns: list[dict[str, Any]]) -> TurnsResult:
        """Append several turns (``role``, ``content``, ``name``, ``metadata``) in one
        transaction."""
        return self._send(self._calls.append_turns(session_id, turns))

    def read_turns(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> TurnPage:
        """The transcript in order, after turn number ``after`` (or from ``cursor``)."""
        return self._send(
            self._calls.read_turns(session_id, after=after, limit=limit, cursor=cursor)
        )

    def end_session(self, session_id: str) -> SessionEnded:
        """End a session; its task memories are deleted in the same transaction."""
        return self._send(self._calls.end_session(session_id))

    def kv_set(self, space: str, key: str, value: Any, *, ttl_s: int | None = None) -> KVResult:
        """Set a key to any JSON value, optionally with a TTL."""
        return self._send(self._calls.kv_set(space, key, value, ttl_s=ttl_s))

    def kv_get(self, space: str, key: str) -> KVResult:
        """A key's value (expired keys are not found)."""
        return self._send(self._calls.kv_get(space, key))

    def kv_delete(self, space: str, key: str) -> Written:
        """Delete a key (``count`` 0 if it did not exist)."""
        return self._send(self._calls.kv_delete(space, key))

    def kv_list(
        self, space: str, *, prefix: str = "", limit: int = 1000, cursor: str | None = None
    ) -> KVPage:
        """Live keys of a space in key order, optionally under a prefix."""
        return self._send(self._calls.kv_list(space, prefix=prefix, limit=limit, cursor=cursor))

    def kv_spaces(self, *, limit: int = 100, cursor: str | None = None) -> KVSpacePage:
        """The KV spaces holding live keys, in name order."""
        return self._send(self._calls.kv_spaces(limit=limit, cursor=cursor))

    def add_document(
        self, content: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> DocumentResult:
        """Store a document, chunked for recall (``scopes=["documents"]``)."""
        return self._send(self._calls.add_document(content, title=title, metadata=metadata))

    def get_document(self, document_id: str) -> DocumentResult:
        """One document with its whole content."""
        return self._send(self._calls.get_document(document_id))

    def list_documents(self, *, limit: int = 100, cursor: str | None = None) -> DocumentPage:
        """Documents oldest first, without their content."""
        return self._send(self._calls.list_documents(limit=limit, cursor=cursor))

    def delete_document(self, document_id: str) -> Written:
        """Delete a document and its chunks."""
        return self._send(self._calls.delete_document(document_id))

    def vector_upsert(
        self,
        collection: str,
        vector_id: str,
        vector: Sequence[float],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Written:
        """Insert or replace a raw vector (a collection's dimension is set by its first)."""
        return self._send(
            self._calls.vector_upsert(collection, vector_id, vector, metadata=metadata)
        )

    def vector_delete(self, collection: str, vector_id: str) -> Written:
        """Delete a raw vector."""
        return self._send(self._calls.vector_delete(collection, vector_id))

    def vector_query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        k: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> VectorQueryResult:
        """The ``k`` nearest vectors by cosine similarity."""
        return self._send(self._calls.vector_query(collection, vector, k=k, metadata=metadata))

    def list_collections(self, *, limit: int = 100, cursor: str | None = None) -> CollectionPage:
        """Vector collections in name order, with dimension and size."""
        return self._send(self._calls.list_collections(limit=limit, cursor=cursor))

    def export_profile(self) -> str:
        """The whole profile-branch as JSON Lines (format version 1, docs/cli.md): memories
        with their history, sessions and turns, KV keys, documents, vector collections."""
        return self._send(self._calls.export_profile())

    def import_profile(self, data: str | bytes) -> ImportResult:
        """Load an export into this profile-branch, which must be empty, as one transaction
        (one txid). A bad line is an InvalidInput naming it and changes nothing. Pass a
        longer ``timeout`` to the client for a large profile: the node embeds every text."""
        return self._send(self._calls.import_profile(data))

    def erase(
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
        return self._send(
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

    def list_erasures(self) -> ErasurePage:
        """The branch's erasures, oldest first."""
        return self._send(self._calls.list_erasures())

    def get_erasure(self, erasure_id: str) -> ErasureResult:
        """One erasure; a complete one carries its signed ``receipt``."""
        return self._send(self._calls.get_erasure(erasure_id))

    def diff(self, from_: str, to: str) -> MemoryDiff:
        """The current memories at point ``to`` compared with those at ``from_``: added,
        removed and changed. A point is ``branch:NAME`` (its head), ``checkpoint:NAME`` or
        ``txid:N`` of this branch, or ``checkpoint:BRANCH/NAME``, ``txid:BRANCH/N``."""
        return self._send(self._calls.diff(from_, to))

    def extract(
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
        return self._send(
            self._calls.extract(
                session_id, preview=preview, extractor=extractor, max_turns=max_turns
            )
        )

    def extract_apply(self, session_id: str, branch: str) -> ExtractResult:
        """Apply a preview's memories from its burner ``branch`` to this branch (no model
        call), then delete the burner branch."""
        return self._send(self._calls.extract_apply(session_id, branch))

    def pop_turn(self, session_id: str) -> TurnResult:
        """Delete the session's last turn and return it, in one transaction (NotFound when
        it has none). Turn numbers are never reused."""
        return self._send(self._calls.pop_turn(session_id))

    def delete_turns(self, session_id: str, *, after: int = 0) -> Written:
        """Delete the session's turns numbered after ``after`` (all by default) in one
        transaction; ``count`` says how many. The session and its tasks stay."""
        return self._send(self._calls.delete_turns(session_id, after=after))

    def kv_compare_set(
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
        return self._send(
            self._calls.kv_compare_set(space, key, value, expected=expected, ttl_s=ttl_s)
        )

    def __repr__(self) -> str:
        return f"<Profile {self._calls.base}@{self._calls.branch}>"
