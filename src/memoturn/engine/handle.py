"""The in-process profile handle: every profile operation, written out once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from memoturn.core.api import ProfileAPI
from memoturn.core.model import (
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
    RecallResult,
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
from memoturn.engine.diff import memory_diff

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine, Key
    from memoturn.profile.profile import Profile

T = TypeVar("T")


def _given(**options: Any) -> dict[str, Any]:
    """The options a caller set (``None`` means "not given")."""
    return {k: v for k, v in options.items() if v is not None}


class ProfileHandle(ProfileAPI):
    """One profile-branch in process: every :class:`~memoturn.core.api.ProfileAPI`
    operation, each made on the live profile-branch, waking it as needed, so a handle stays
    valid while the engine hibernates, reloads or rewinds the database behind it.
    Maintenance (closing, sweeping, embedding) is the engine's, never the handle's."""

    def __init__(self, engine: Engine, key: Key) -> None:
        self._engine = engine
        self.key = key

    @property
    def txid(self) -> int:
        """The branch's head txid on this node (every answer also carries its own)."""
        return self._run(lambda p: p.txid)

    def _run(self, fn: Callable[[Profile], T]) -> T:
        return self._engine._run(self.key, fn)

    def __repr__(self) -> str:
        return f"<ProfileHandle {self.key[0]}@{self.key[1]}>"

    # memories

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
        fields = _given(
            topic=topic, session_id=session_id, source=source, ttl_s=ttl_s, metadata=metadata,
            idempotency_key=idempotency_key, turn_ids=turn_ids, valid_from=valid_from,
        )  # fmt: skip
        return self._run(lambda p: p.ingest(type, content, **fields))

    def ingest_many(
        self, items: Sequence[Mapping[str, Any]], *, defer_embedding: bool = False
    ) -> IngestBatchResult:
        return self._run(lambda p: p.ingest_many(items, defer_embedding=defer_embedding))

    def get_memory(self, memory_id: str) -> MemoryResult:
        return self._run(lambda p: p.get_memory(memory_id))

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
        return self._run(
            lambda p: p.list_memories(
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
        return self._run(lambda p: p.topic_history(topic))

    def forget(self, memory_id: str, reason: str | None = None) -> Written:
        return self._run(lambda p: p.forget(memory_id, reason))

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
        options = _given(
            k=k, types=types, topic=topic, session_id=session_id, source=source, scopes=scopes,
            include_history=include_history, as_of=as_of, created_after=created_after,
            created_before=created_before, metadata=metadata,
            recency_half_life_s=recency_half_life_s, recency_weight=recency_weight, mode=mode,
            min_score=min_score,
        )  # fmt: skip
        return self._run(lambda p: p.recall(query, **options))

    # sessions

    def open_session(
        self,
        session_id: str | None = None,
        *,
        task_ttl_s: int | None = None,
        metadata: dict[str, Any] | None = None,
        auto_extract: dict[str, Any] | None = None,
    ) -> SessionResult:
        return self._run(
            lambda p: p.open_session(
                session_id, task_ttl_s=task_ttl_s, metadata=metadata, auto_extract=auto_extract
            )
        )

    def get_session(self, session_id: str) -> SessionResult:
        return self._run(lambda p: p.get_session(session_id))

    def list_sessions(self, *, limit: int = 100, cursor: str | None = None) -> SessionPage:
        return self._run(lambda p: p.list_sessions(limit=limit, cursor=cursor))

    def append_turn(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> TurnResult:
        return self._run(
            lambda p: p.append_turn(session_id, role, content, name=name, metadata=metadata)
        )

    def append_turns(self, session_id: str, turns: list[dict[str, Any]]) -> TurnsResult:
        return self._run(lambda p: p.append_turns(session_id, turns))

    def read_turns(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> TurnPage:
        return self._run(
            lambda p: p.read_turns(session_id, after=after, limit=limit, cursor=cursor)
        )

    def end_session(self, session_id: str) -> SessionEnded:
        return self._run(lambda p: p.end_session(session_id))

    # KV

    def kv_set(self, space: str, key: str, value: Any, *, ttl_s: int | None = None) -> KVResult:
        return self._run(lambda p: p.kv_set(space, key, value, ttl_s=ttl_s))

    def kv_get(self, space: str, key: str) -> KVResult:
        return self._run(lambda p: p.kv_get(space, key))

    def kv_delete(self, space: str, key: str) -> Written:
        return self._run(lambda p: p.kv_delete(space, key))

    def kv_list(
        self, space: str, *, prefix: str = "", limit: int = 1000, cursor: str | None = None
    ) -> KVPage:
        return self._run(lambda p: p.kv_list(space, prefix=prefix, limit=limit, cursor=cursor))

    def kv_spaces(self, *, limit: int = 100, cursor: str | None = None) -> KVSpacePage:
        return self._run(lambda p: p.kv_spaces(limit=limit, cursor=cursor))

    # documents

    def add_document(
        self, content: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> DocumentResult:
        return self._run(lambda p: p.add_document(content, title=title, metadata=metadata))

    def get_document(self, document_id: str) -> DocumentResult:
        return self._run(lambda p: p.get_document(document_id))

    def list_documents(self, *, limit: int = 100, cursor: str | None = None) -> DocumentPage:
        return self._run(lambda p: p.list_documents(limit=limit, cursor=cursor))

    def delete_document(self, document_id: str) -> Written:
        return self._run(lambda p: p.delete_document(document_id))

    # vectors

    def vector_upsert(
        self,
        collection: str,
        vector_id: str,
        vector: Sequence[float],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Written:
        return self._run(
            lambda p: p.vector_upsert(collection, vector_id, list(vector), metadata=metadata)
        )

    def vector_delete(self, collection: str, vector_id: str) -> Written:
        return self._run(lambda p: p.vector_delete(collection, vector_id))

    def vector_query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        k: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> VectorQueryResult:
        return self._run(lambda p: p.vector_query(collection, list(vector), k=k, metadata=metadata))

    def list_collections(self, *, limit: int = 100, cursor: str | None = None) -> CollectionPage:
        return self._run(lambda p: p.list_collections(limit=limit, cursor=cursor))

    # the whole profile

    def export_profile(self) -> str:
        return self._run(lambda p: p.export_profile())

    def import_profile(self, data: str | bytes | Iterable[str | bytes]) -> ImportResult:
        """Also takes the export's lines, e.g. an open file."""
        if not isinstance(data, str | bytes | bytearray | memoryview):
            data = list(data)  # read once: the call is retried if the branch reloads
        return self._run(lambda p: p.import_profile(data))

    # governance: verifiable erasure

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
        request = _given(
            memory_ids=memory_ids, topic=topic, session_id=session_id,
            document_ids=document_ids, kv=kv, all=all or None, force=force or None,
            reason=reason,
        )  # fmt: skip
        return self._engine.erase(self.key, request)

    def list_erasures(self) -> ErasurePage:
        return self._engine.list_erasures(self.key)

    def get_erasure(self, erasure_id: str) -> ErasureResult:
        return self._engine.get_erasure(self.key, erasure_id)

    # history

    def diff(self, from_: str, to: str) -> MemoryDiff:
        return memory_diff(self._engine, self.key, from_, to)

    # extraction (the engine's: it calls a model between reading and writing the branch)

    def extract(
        self,
        session_id: str,
        *,
        preview: bool = False,
        extractor: str | None = None,
        max_turns: int | None = None,
    ) -> ExtractResult:
        return self._engine._extract(
            self.key, session_id, preview=preview, extractor=extractor, max_turns=max_turns
        )

    def extract_apply(self, session_id: str, branch: str) -> ExtractResult:
        return self._engine._extract_apply(self.key, session_id, branch)

    # transcript edits

    def pop_turn(self, session_id: str) -> TurnResult:
        return self._run(lambda p: p.pop_turn(session_id))

    def delete_turns(self, session_id: str, *, after: int = 0) -> Written:
        return self._run(lambda p: p.delete_turns(session_id, after=after))

    def kv_compare_set(
        self,
        space: str,
        key: str,
        value: Any,
        *,
        expected: Any = None,
        ttl_s: int | None = None,
    ) -> KVResult:
        return self._run(
            lambda p: p.kv_compare_set(space, key, value, expected=expected, ttl_s=ttl_s)
        )
