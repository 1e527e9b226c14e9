"""The operations of Memoturn, written out once.

:class:`ProfileAPI` is every operation on one profile-branch and :class:`NodeAPI` every
operation on the node (namespaces, profiles, history). Each edge implements them one to one:

- in process: :class:`memoturn.engine.ProfileHandle` and :class:`memoturn.Engine`;
- over HTTP: :class:`memoturn.Client` / :class:`memoturn.AsyncClient` and their profile
  handles (the async ones awaited), through the REST routes whose OpenAPI ``operationId`` is
  the operation's name;
- the MCP tools (:data:`memoturn.mcp.tools.TOOL_OPERATIONS` says which tool is which
  operation) and the CLI commands map onto the same names.

A test (``tests/test_api_parity.py``) fails when an edge lacks an operation or names one
differently. Every write answers with the profile's new ``txid`` beside its result; every
read answers with the txid it read at. Pure: no I/O, only the types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from memoturn.core.model import (
    Branch,
    Checkpoint,
    CollectionPage,
    DocumentPage,
    DocumentResult,
    ErasurePage,
    ErasureResult,
    ExtractResult,
    ImportResult,
    IngestBatchResult,
    IngestResult,
    KVPage,
    KVResult,
    KVSpacePage,
    MemoryDiff,
    MemoryPage,
    MemoryResult,
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

MAIN = "main"


class ProfileAPI(Protocol):
    """Every operation on one profile-branch."""

    # -- memories ---------------------------------------------------------------------------

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
        ...

    def ingest_many(
        self, items: Sequence[Mapping[str, Any]], *, defer_embedding: bool = False
    ) -> IngestBatchResult:
        """Ingest a batch in one transaction (one txid); one bad item rejects all."""
        ...

    def get_memory(self, memory_id: str) -> MemoryResult:
        """One memory by id, current or historical (expired ones are not found)."""
        ...

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
        ...

    def topic_history(self, topic: str) -> TopicHistory:
        """Every version of a topic, oldest first."""
        ...

    def forget(self, memory_id: str, reason: str | None = None) -> Written:
        """Retire a memory from recall; history keeps a tombstone (``count`` 0 if it was
        retired already)."""
        ...

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
        ...

    # -- sessions ---------------------------------------------------------------------------

    def open_session(
        self,
        session_id: str | None = None,
        *,
        task_ttl_s: int | None = None,
        metadata: dict[str, Any] | None = None,
        auto_extract: dict[str, Any] | None = None,
    ) -> SessionResult:
        """Open a session (a new id when none is given). ``auto_extract``
        (``{"every_turns": N, "at_end": true}``, off by default) has the node extract
        memories from its turns in the background (docs/extraction.md)."""
        ...

    def get_session(self, session_id: str) -> SessionResult:
        """A session's settings and whether it has ended."""
        ...

    def list_sessions(self, *, limit: int = 100, cursor: str | None = None) -> SessionPage:
        """Sessions in id order."""
        ...

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
        ...

    def append_turns(self, session_id: str, turns: list[dict[str, Any]]) -> TurnsResult:
        """Append several turns (``role``, ``content``, ``name``, ``metadata``) in one
        transaction."""
        ...

    def read_turns(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> TurnPage:
        """The transcript in order, after turn number ``after`` (or from ``cursor``)."""
        ...

    def end_session(self, session_id: str) -> SessionEnded:
        """End a session; its task memories are deleted in the same transaction."""
        ...

    # -- KV ---------------------------------------------------------------------------------

    def kv_set(self, space: str, key: str, value: Any, *, ttl_s: int | None = None) -> KVResult:
        """Set a key to any JSON value, optionally with a TTL."""
        ...

    def kv_get(self, space: str, key: str) -> KVResult:
        """A key's value (expired keys are not found)."""
        ...

    def kv_delete(self, space: str, key: str) -> Written:
        """Delete a key (``count`` 0 if it did not exist)."""
        ...

    def kv_list(
        self, space: str, *, prefix: str = "", limit: int = 1000, cursor: str | None = None
    ) -> KVPage:
        """Live keys of a space in key order, optionally under a prefix."""
        ...

    def kv_spaces(self, *, limit: int = 100, cursor: str | None = None) -> KVSpacePage:
        """The KV spaces holding live keys, in name order."""
        ...

    # -- documents --------------------------------------------------------------------------

    def add_document(
        self, content: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> DocumentResult:
        """Store a document, chunked for recall (``scopes=["documents"]``)."""
        ...

    def get_document(self, document_id: str) -> DocumentResult:
        """One document with its whole content."""
        ...

    def list_documents(self, *, limit: int = 100, cursor: str | None = None) -> DocumentPage:
        """Documents oldest first, without their content."""
        ...

    def delete_document(self, document_id: str) -> Written:
        """Delete a document and its chunks."""
        ...

    # -- vectors ----------------------------------------------------------------------------

    def vector_upsert(
        self,
        collection: str,
        vector_id: str,
        vector: Sequence[float],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Written:
        """Insert or replace a raw vector (a collection's dimension is set by its first)."""
        ...

    def vector_delete(self, collection: str, vector_id: str) -> Written:
        """Delete a raw vector."""
        ...

    def vector_query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        k: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> VectorQueryResult:
        """The ``k`` nearest vectors by cosine similarity."""
        ...

    def list_collections(self, *, limit: int = 100, cursor: str | None = None) -> CollectionPage:
        """Vector collections in name order, with dimension and size."""
        ...

    # -- the whole profile ------------------------------------------------------------------

    def export_profile(self) -> str:
        """The whole profile-branch as JSON Lines (format version 1, docs/cli.md): memories
        with their history, sessions and turns, KV keys, documents, vector collections."""
        ...

    def import_profile(self, data: str | bytes) -> ImportResult:
        """Load an export into this profile-branch, which must be empty, as one transaction
        (one txid). A bad line is an InvalidInput naming it and changes nothing."""
        ...

    # -- governance: verifiable erasure -----------------------------------------------------

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
        turns and tasks, documents, KV keys ``{space, key}``, or ``all``); the object-store
        history is rewritten after the policy's ``erasure_grace_s``, then a signed receipt
        is issued. Checkpoints and branches that still hold the content block it by name
        (``blocked_by``) until deleted; ``force`` rewrites them instead."""
        ...

    def list_erasures(self) -> ErasurePage:
        """The branch's erasures, oldest first."""
        ...

    def get_erasure(self, erasure_id: str) -> ErasureResult:
        """One erasure; a complete one carries its signed ``receipt``."""
        ...

    # -- history ----------------------------------------------------------------------------

    def diff(self, from_: str, to: str) -> MemoryDiff:
        """The current memories at point ``to`` compared with those at ``from_``: added,
        removed and changed. A point is ``branch:NAME`` (its head), ``checkpoint:NAME`` or
        ``txid:N`` of this branch, or ``checkpoint:BRANCH/NAME``, ``txid:BRANCH/N``."""
        ...

    # -- extraction -------------------------------------------------------------------------

    def extract(
        self,
        session_id: str,
        *,
        preview: bool = False,
        extractor: str | None = None,
        max_turns: int | None = None,
    ) -> ExtractResult:
        """Turn the session's turns not yet extracted into typed memories, applied with the
        ingest rules; answers a per-turn ``report`` (ADD, SUPERSEDE, DUPLICATE, SKIP with a
        reason). Re-running changes nothing. ``preview``: on a new burner branch (named in
        the answer) instead; ``extractor``: ``"node"`` (the node's, default) or ``"rules"``
        (in process)."""
        ...

    def extract_apply(self, session_id: str, branch: str) -> ExtractResult:
        """Apply a preview's memories (from its burner ``branch``) to this branch, with the
        ingest rules and no model call, then delete the burner branch."""
        ...

    # -- transcript edits (appended: the framework adapters need them) ----------------------

    def pop_turn(self, session_id: str) -> TurnResult:
        """Delete the session's last turn and return it, in one transaction (NotFound when
        it has none). Turn numbers are never reused."""
        ...

    def delete_turns(self, session_id: str, *, after: int = 0) -> Written:
        """Delete the session's turns numbered after ``after`` (all by default) in one
        transaction; ``count`` says how many. The session and its tasks stay."""
        ...

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
        ...


class NodeAPI(Protocol):
    """Every operation on the node that is not inside one profile-branch."""

    def create_namespace(self, name: str) -> bool:
        """Create a namespace; ``False`` if it existed."""
        ...

    def list_namespaces(self) -> list[str]:
        """Every namespace, in name order."""
        ...

    def create_profile(self, ns: str, name: str) -> bool:
        """Provision a profile (a metadata write); ``False`` if it existed."""
        ...

    def list_profiles(
        self, ns: str, *, limit: int = 1000, cursor: str | None = None
    ) -> ProfilePage:
        """Profiles of a namespace in name order."""
        ...

    def delete_profile(self, ns: str, name: str) -> None:
        """Delete a profile, all its branches and all its data."""
        ...

    def revoke_tokens(self, ns: str, name: str) -> int:
        """Revoke every profile token of a profile; returns the new token epoch."""
        ...

    def create_checkpoint(
        self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> Checkpoint:
        """Pin the branch's current txid under a name (metadata only)."""
        ...

    def list_checkpoints(self, ns: str, name: str, *, branch: str = MAIN) -> list[Checkpoint]:
        """The branch's checkpoints, oldest first."""
        ...

    def delete_checkpoint(self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN) -> None:
        """Remove a checkpoint."""
        ...

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
        ...

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
        ...

    def list_branches(self, ns: str, name: str) -> list[Branch]:
        """The profile's branches."""
        ...

    def delete_branch(self, ns: str, name: str, branch: str) -> None:
        """Delete a branch (not ``main``)."""
        ...

    # -- governance -------------------------------------------------------------------------

    def get_policy(self, ns: str) -> Policy:
        """The namespace's governance policy."""
        ...

    def set_policy(self, ns: str, policy: Mapping[str, Any]) -> Policy:
        """Replace the namespace's policy (root); the fields it omits take their defaults."""
        ...

    def get_profile_policy(self, ns: str, name: str) -> ProfilePolicy:
        """The namespace's policy, the profile's override and the effective policy."""
        ...

    def set_profile_policy(self, ns: str, name: str, policy: Mapping[str, Any]) -> ProfilePolicy:
        """Replace the profile's override; it may only tighten (``policy_loosens``)."""
        ...

    # -- provisioning in bulk -----------------------------------------------------------------

    def create_profiles(self, ns: str, names: list[str]) -> ProfilesCreated:
        """Provision up to 10,000 profiles in one metadata write (SaaS sign-ups)."""
        ...


def operations(api: type) -> list[str]:
    """The operation names of :class:`ProfileAPI` or :class:`NodeAPI`, in order."""
    return [n for n, v in vars(api).items() if not n.startswith("_") and callable(v)]


PROFILE_OPERATIONS = operations(ProfileAPI)
NODE_OPERATIONS = operations(NodeAPI)

__all__ = ["NODE_OPERATIONS", "PROFILE_OPERATIONS", "NodeAPI", "ProfileAPI", "operations"]
