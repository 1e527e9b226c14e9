"""The SDK's pure core, shared by the sync and async clients: every operation is a
:class:`Call` (method, path, query, body, and how to parse the answer). The clients only move
calls over their transport; no request is built or parsed twice.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from memoturn.core.errors import ERROR_KINDS, MemoturnError, Unavailable
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
from memoturn.core.names import ROOT_TOKEN_FILE
from memoturn.core.policy import Policy, ProfilePolicy

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_DATA_DIR = ".memoturn"
MAIN = "main"


@dataclasses.dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One REST request and the parser of its JSON answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: Mapping[str, Any] | None = None
    content: bytes | None = None
    """A raw request body (sent as :data:`NDJSON`) instead of ``json``."""
    text: bool = False
    """The answer is text (:data:`NDJSON`), handed to ``parse`` as a string."""


NDJSON = "application/x-ndjson"


# -- configuration ----------------------------------------------------------------------------


def resolve_url(url: str | None) -> str:
    """The argument, else ``MEMOTURN_URL``, else ``http://127.0.0.1:8765``."""
    return (url or os.environ.get("MEMOTURN_URL") or DEFAULT_URL).rstrip("/")


def resolve_token(token: str | None, data_dir: str | Path | None = None) -> str | None:
    """The argument, else ``MEMOTURN_TOKEN``, else the root token file in ``data_dir`` (or
    ``MEMOTURN_DATA``, or ``./.memoturn``); ``None`` if there is none."""
    if token:
        return token
    if os.environ.get("MEMOTURN_TOKEN"):
        return os.environ["MEMOTURN_TOKEN"]
    folder = Path(data_dir or os.environ.get("MEMOTURN_DATA") or DEFAULT_DATA_DIR)
    try:
        return (folder / ROOT_TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# -- answers --------------------------------------------------------------------------------


def error_from(status: int, body: Any, retry_after: str | None) -> MemoturnError:
    """The error-family instance for a non-2xx answer: the class named by ``error.code``,
    else the class of that HTTP status."""
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail = {"message": f"HTTP {status}", "hint": ""}
    cls = ERROR_KINDS.get(str(detail.get("code")))
    if cls is None:
        by_status = {kind.status: kind for kind in ERROR_KINDS.values()}
        cls = by_status.get(status, MemoturnError)
    wait = None
    if retry_after is not None:
        try:
            wait = float(retry_after)
        except ValueError:
            wait = None
    return cls(str(detail.get("message", "")), hint=str(detail.get("hint") or ""), retry_after=wait)


def transport_error(url: str, exc: Exception) -> Unavailable:
    return Unavailable(
        f"cannot reach the Memoturn node at {url}: {exc}",
        hint="is it running? start one with `memoturn serve`, or set MEMOTURN_URL",
        retry_after=1,
    )


def finish(call: Call[T], status: int, body: Any, retry_after: str | None) -> T:
    if status >= 400:
        raise error_from(status, body, retry_after)
    return call.parse(body)


def nothing(data: Any) -> None:
    return None


# -- the calls ------------------------------------------------------------------------------


def _seg(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return quote(value, safe="")


def _body(**fields: Any) -> dict[str, Any]:
    """A request body without the unset (None) optional fields."""
    return {k: v for k, v in fields.items() if v is not None}


class NodeCalls:
    """Calls on the node: namespaces, profiles, tokens, checkpoints, rewind, branches
    (:class:`~memoturn.core.api.NodeAPI`, plus the token calls of the REST API)."""

    @staticmethod
    def _p(ns: str, name: str) -> str:
        return f"/v1/namespaces/{_seg(ns)}/profiles/{_seg(name)}"

    def health(self) -> Call[bool]:
        return Call("GET", "/healthz", lambda d: d.get("status") == "ok")

    def create_namespace(self, name: str) -> Call[bool]:
        return Call("POST", "/v1/namespaces", lambda d: d["created"], json={"name": name})

    def list_namespaces(self) -> Call[list[str]]:
        return Call("GET", "/v1/namespaces", lambda d: d["namespaces"])

    def create_profile(self, ns: str, name: str) -> Call[bool]:
        return Call(
            "POST", f"/v1/namespaces/{_seg(ns)}/profiles", lambda d: d["created"], {"name": name}
        )

    def create_profiles(self, ns: str, names: list[str]) -> Call[ProfilesCreated]:
        return Call(
            "POST",
            f"/v1/namespaces/{_seg(ns)}/profiles/batch",
            ProfilesCreated.from_dict,
            {"names": names},
        )

    def list_profiles(
        self, ns: str, *, limit: int = 1000, cursor: str | None = None
    ) -> Call[ProfilePage]:
        return Call(
            "GET",
            f"/v1/namespaces/{_seg(ns)}/profiles",
            ProfilePage.from_dict,
            params={"limit": limit, "cursor": cursor},
        )

    def delete_profile(self, ns: str, name: str) -> Call[None]:
        return Call("DELETE", self._p(ns, name), nothing)

    def mint_token(
        self,
        ns: str,
        profile: str | None = None,
        *,
        branch: str | None = None,
        scopes: Sequence[str] | None = None,
        ttl_s: int | None = None,
    ) -> Call[MintedToken]:
        body = _body(
            profile=profile,
            branch=branch,
            scopes=list(scopes) if scopes is not None else None,
            ttl_s=ttl_s,
        )
        return Call("POST", f"/v1/namespaces/{_seg(ns)}/tokens", MintedToken.from_dict, json=body)

    def revoke_tokens(self, ns: str, name: str) -> Call[int]:
        return Call("POST", self._p(ns, name) + "/revoke-tokens", lambda d: d["epoch"])

    def gc(self) -> Call[list[GcReport]]:
        """Run one garbage collection on the node now (root token): per profile, the
        expired burner branches removed and the unreachable objects deleted."""
        return Call(
            "POST",
            "/v1/gc",
            lambda d: [
                GcReport(p["profile"], p["expired_branches"], p["deleted"], p["kept"])
                for p in d["profiles"]
            ],
        )

    def get_policy(self, ns: str) -> Call[Policy]:
        return Call("GET", f"/v1/namespaces/{_seg(ns)}/policy", Policy.from_dict)

    def set_policy(self, ns: str, policy: Mapping[str, Any]) -> Call[Policy]:
        return Call("PUT", f"/v1/namespaces/{_seg(ns)}/policy", Policy.from_dict, dict(policy))

    def get_profile_policy(self, ns: str, name: str) -> Call[ProfilePolicy]:
        return Call("GET", self._p(ns, name) + "/policy", ProfilePolicy.from_dict)

    def set_profile_policy(
        self, ns: str, name: str, policy: Mapping[str, Any]
    ) -> Call[ProfilePolicy]:
        return Call("PUT", self._p(ns, name) + "/policy", ProfilePolicy.from_dict, dict(policy))

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
    ) -> Call[AuditPage]:
        """One page of the namespace's audit events, oldest first, and the cursor of the
        next page (``None``: no more)."""
        params = _body(since=since, until=until, profile=profile, op=op, cursor=cursor)
        return Call(
            "GET",
            f"/v1/namespaces/{_seg(ns)}/audit",
            AuditPage.from_dict,
            params={**params, "limit": limit},
        )

    def create_checkpoint(
        self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> Call[Checkpoint]:
        return Call(
            "POST",
            self._p(ns, name) + "/checkpoints",
            Checkpoint.from_dict,
            json={"name": checkpoint},
            params={"branch": branch},
        )

    def list_checkpoints(self, ns: str, name: str, *, branch: str = MAIN) -> Call[list[Checkpoint]]:
        return Call(
            "GET",
            self._p(ns, name) + "/checkpoints",
            lambda d: [Checkpoint.from_dict(c) for c in d["checkpoints"]],
            params={"branch": branch},
        )

    def delete_checkpoint(
        self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> Call[None]:
        return Call(
            "DELETE",
            self._p(ns, name) + f"/checkpoints/{_seg(checkpoint)}",
            nothing,
            params={"branch": branch},
        )

    def rewind(
        self,
        ns: str,
        name: str,
        *,
        branch: str = MAIN,
        checkpoint: str | None = None,
        txid: int | None = None,
    ) -> Call[RewindResult]:
        return Call(
            "POST",
            self._p(ns, name) + "/rewind",
            RewindResult.from_dict,
            json=_body(checkpoint=checkpoint, txid=txid),
            params={"branch": branch},
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
    ) -> Call[Branch]:
        return Call(
            "POST",
            self._p(ns, name) + "/branches",
            Branch.from_dict,
            json=_body(
                name=branch, from_checkpoint=from_checkpoint, from_txid=from_txid, ttl_s=ttl_s
            ),
            params={"branch": from_branch},
        )

    def list_branches(self, ns: str, name: str) -> Call[list[Branch]]:
        return Call(
            "GET",
            self._p(ns, name) + "/branches",
            lambda d: [Branch.from_dict(b) for b in d["branches"]],
        )

    def delete_branch(self, ns: str, name: str, branch: str) -> Call[None]:
        return Call("DELETE", self._p(ns, name) + f"/branches/{_seg(branch)}", nothing)


class ProfileCalls:
    """Calls on one profile-branch (:class:`~memoturn.core.api.ProfileAPI`): the same
    names, arguments and results as the in-process handle."""

    def __init__(
        self,
        ns: str,
        name: str,
        branch: str = MAIN,
        min_txid: int | None = None,
        *,
        read_your_writes: bool = True,
    ):
        self.base = f"/v1/namespaces/{_seg(ns)}/profiles/{_seg(name)}"
        self.branch = branch
        self.min_txid = min_txid
        self.read_your_writes = read_your_writes
        """Raise ``min_txid`` to every txid an answer on this handle carries, so each read
        sees this handle's own writes (and never an older state than it saw), whichever
        node serves it."""

    def _write(self, method: str, path: str, parse: Callable[[Any], T], json: Any = None, **q: Any):
        params = {"branch": self.branch, **{k: v for k, v in q.items() if v is not None}}
        if self.read_your_writes:
            parse = self._noting_txid(parse)
        return Call(method, self.base + path, parse, json=json, params=params)

    def _read(self, method: str, path: str, parse: Callable[[Any], T], json: Any = None, **q: Any):
        return self._write(method, path, parse, json, min_txid=self.min_txid, **q)

    def _noting_txid(self, parse: Callable[[Any], T]) -> Callable[[Any], T]:
        def parse_and_note(data: Any) -> T:
            seen = data.get("txid") if isinstance(data, Mapping) else None
            if isinstance(seen, int) and (self.min_txid is None or seen > self.min_txid):
                self.min_txid = seen
            return parse(data)

        return parse_and_note

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
    ) -> Call[IngestResult]:
        body = {"type": type, "content": content} | _body(
            topic=topic, session_id=session_id, source=source, ttl_s=ttl_s, metadata=metadata,
            idempotency_key=idempotency_key, turn_ids=turn_ids, valid_from=valid_from,
        )  # fmt: skip
        return self._write("POST", "/memories", IngestResult.from_dict, body)

    def ingest_many(
        self, items: Sequence[Mapping[str, Any]], *, defer_embedding: bool = False
    ) -> Call[IngestBatchResult]:
        body: dict[str, Any] = {"items": [dict(i) for i in items]}
        if defer_embedding:
            body["defer_embedding"] = True
        return self._write("POST", "/memories/batch", IngestBatchResult.from_dict, body)

    def get_memory(self, memory_id: str) -> Call[MemoryResult]:
        return self._read("GET", f"/memories/{_seg(memory_id)}", MemoryResult.from_dict)

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
    ) -> Call[MemoryPage]:
        return self._read(
            "GET",
            "/memories",
            MemoryPage.from_dict,
            type=type,
            topic=topic,
            session_id=session_id,
            source=source,
            include_history=str(include_history).lower(),
            limit=limit,
            cursor=cursor,
        )

    def topic_history(self, topic: str) -> Call[TopicHistory]:
        return self._read("GET", f"/topics/{_seg(topic)}/history", TopicHistory.from_dict)

    def forget(self, memory_id: str, reason: str | None = None) -> Call[Written]:
        return self._write(
            "DELETE", f"/memories/{_seg(memory_id)}", Written.from_dict, reason=reason
        )

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
    ) -> Call[RecallResult]:
        body = {"query": query, "k": k} | _body(
            types=types, topic=topic, session_id=session_id, source=source, scopes=scopes,
            include_history=include_history or None, as_of=as_of, created_after=created_after,
            created_before=created_before, metadata=metadata,
            recency_half_life_s=recency_half_life_s, recency_weight=recency_weight, mode=mode,
            min_score=min_score,
        )  # fmt: skip
        return self._read("POST", "/recall", RecallResult.from_dict, body)

    # sessions

    def open_session(
        self,
        session_id: str | None = None,
        *,
        task_ttl_s: int | None = None,
        metadata: dict[str, Any] | None = None,
        auto_extract: dict[str, Any] | None = None,
    ) -> Call[SessionResult]:
        body = _body(
            session_id=session_id, task_ttl_s=task_ttl_s, metadata=metadata,
            auto_extract=auto_extract,
        )  # fmt: skip
        return self._write("POST", "/sessions", SessionResult.from_dict, body)

    def get_session(self, session_id: str) -> Call[SessionResult]:
        return self._read("GET", f"/sessions/{_seg(session_id)}", SessionResult.from_dict)

    def list_sessions(self, *, limit: int = 100, cursor: str | None = None) -> Call[SessionPage]:
        return self._read("GET", "/sessions", SessionPage.from_dict, limit=limit, cursor=cursor)

    def append_turn(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Call[TurnResult]:
        body = {"role": role, "content": content} | _body(name=name, metadata=metadata)
        return self._write(
            "POST", f"/sessions/{_seg(session_id)}/turns", TurnResult.from_dict, body
        )

    def append_turns(self, session_id: str, turns: list[dict[str, Any]]) -> Call[TurnsResult]:
        return self._write(
            "POST",
            f"/sessions/{_seg(session_id)}/turns/batch",
            TurnsResult.from_dict,
            {"turns": [_body(**t) for t in turns]},
        )

    def read_turns(
        self,
        session_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> Call[TurnPage]:
        return self._read(
            "GET",
            f"/sessions/{_seg(session_id)}/turns",
            TurnPage.from_dict,
            after=after or None,
            limit=limit,
            cursor=cursor,
        )

    def end_session(self, session_id: str) -> Call[SessionEnded]:
        return self._write("POST", f"/sessions/{_seg(session_id)}/end", SessionEnded.from_dict)

    # KV

    def kv_set(
        self, space: str, key: str, value: Any, *, ttl_s: int | None = None
    ) -> Call[KVResult]:
        return self._write(
            "PUT",
            f"/kv/{_seg(space)}/{_seg(key)}",
            KVResult.from_dict,
            _body(ttl_s=ttl_s) | {"value": value},
        )

    def kv_get(self, space: str, key: str) -> Call[KVResult]:
        return self._read("GET", f"/kv/{_seg(space)}/{_seg(key)}", KVResult.from_dict)

    def kv_delete(self, space: str, key: str) -> Call[Written]:
        return self._write("DELETE", f"/kv/{_seg(space)}/{_seg(key)}", Written.from_dict)

    def kv_list(
        self, space: str, *, prefix: str = "", limit: int = 1000, cursor: str | None = None
    ) -> Call[KVPage]:
        return self._read(
            "GET",
            f"/kv/{_seg(space)}",
            KVPage.from_dict,
            prefix=prefix or None,
            limit=limit,
            cursor=cursor,
        )

    def kv_spaces(self, *, limit: int = 100, cursor: str | None = None) -> Call[KVSpacePage]:
        return self._read("GET", "/kv", KVSpacePage.from_dict, limit=limit, cursor=cursor)

    # documents

    def add_document(
        self, content: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Call[DocumentResult]:
        body = {"content": content} | _body(title=title, metadata=metadata)
        return self._write("POST", "/documents", DocumentResult.from_dict, body)

    def get_document(self, document_id: str) -> Call[DocumentResult]:
        return self._read("GET", f"/documents/{_seg(document_id)}", DocumentResult.from_dict)

    def list_documents(self, *, limit: int = 100, cursor: str | None = None) -> Call[DocumentPage]:
        return self._read("GET", "/documents", DocumentPage.from_dict, limit=limit, cursor=cursor)

    def delete_document(self, document_id: str) -> Call[Written]:
        return self._write("DELETE", f"/documents/{_seg(document_id)}", Written.from_dict)

    # vectors

    def vector_upsert(
        self,
        collection: str,
        vector_id: str,
        vector: Sequence[float],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Call[Written]:
        body = {"vector": list(vector)} | _body(metadata=metadata)
        return self._write(
            "PUT", f"/vectors/{_seg(collection)}/{_seg(vector_id)}", Written.from_dict, body
        )

    def vector_delete(self, collection: str, vector_id: str) -> Call[Written]:
        return self._write(
            "DELETE", f"/vectors/{_seg(collection)}/{_seg(vector_id)}", Written.from_dict
        )

    def vector_query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        k: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> Call[VectorQueryResult]:
        body = {"vector": list(vector), "k": k} | _body(metadata=metadata)
        return self._read(
            "POST", f"/vectors/{_seg(collection)}/query", VectorQueryResult.from_dict, body
        )

    def list_collections(
        self, *, limit: int = 100, cursor: str | None = None
    ) -> Call[CollectionPage]:
        return self._read("GET", "/vectors", CollectionPage.from_dict, limit=limit, cursor=cursor)

    # export and import

    def export_profile(self) -> Call[str]:
        return dataclasses.replace(self._read("GET", "/export", str), text=True)

    def import_profile(self, data: str | bytes) -> Call[ImportResult]:
        content = data.encode() if isinstance(data, str) else bytes(data)
        return dataclasses.replace(
            self._write("POST", "/import", ImportResult.from_dict), content=content
        )

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
    ) -> Call[ErasureResult]:
        body = _body(
            memory_ids=memory_ids, topic=topic, session_id=session_id,
            document_ids=document_ids, kv=kv, all=all or None, force=force or None,
            reason=reason,
        )  # fmt: skip
        return self._write("POST", "/erasures", ErasureResult.from_dict, body)

    def list_erasures(self) -> Call[ErasurePage]:
        return self._write("GET", "/erasures", ErasurePage.from_dict)

    def get_erasure(self, erasure_id: str) -> Call[ErasureResult]:
        return self._write("GET", f"/erasures/{_seg(erasure_id)}", ErasureResult.from_dict)

    # history

    def diff(self, from_: str, to: str) -> Call[MemoryDiff]:
        return self._read("GET", "/diff", MemoryDiff.from_dict, **{"from": from_, "to": to})

    # extraction

    def extract(
        self,
        session_id: str,
        *,
        preview: bool = False,
        extractor: str | None = None,
        max_turns: int | None = None,
    ) -> Call[ExtractResult]:
        body = _body(preview=preview or None, extractor=extractor, max_turns=max_turns)
        return self._write(
            "POST", f"/sessions/{_seg(session_id)}/extract", ExtractResult.from_dict, body
        )

    def extract_apply(self, session_id: str, branch: str) -> Call[ExtractResult]:
        return self._write(
            "POST",
            f"/sessions/{_seg(session_id)}/extract/apply",
            ExtractResult.from_dict,
            {"branch": branch},
        )

    # transcript edits

    def pop_turn(self, session_id: str) -> Call[TurnResult]:
        return self._write("POST", f"/sessions/{_seg(session_id)}/turns/pop", TurnResult.from_dict)

    def delete_turns(self, session_id: str, *, after: int = 0) -> Call[Written]:
        return self._write(
            "DELETE", f"/sessions/{_seg(session_id)}/turns", Written.from_dict, after=after
        )

    def kv_compare_set(
        self,
        space: str,
        key: str,
        value: Any,
        *,
        expected: Any = None,
        ttl_s: int | None = None,
    ) -> Call[KVResult]:
        body = {"value": value, "expected": expected} | _body(ttl_s=ttl_s)
        return self._write("POST", f"/kv/{_seg(space)}/{_seg(key)}", KVResult.from_dict, body)
