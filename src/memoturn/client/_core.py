"""The SDK's pure core, shared by the sync and async clients: every operation is a
:class:`Call` (method, path, query, body, and how to parse the answer). The clients only move
calls over their transport; no request is built or parsed twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from memoturn.core.errors import ERROR_KINDS, MemoturnError, Unavailable
from memoturn.core.model import (
    Branch,
    Checkpoint,
    Document,
    DocumentChunk,
    ImportResult,
    IngestResult,
    KVItem,
    Memory,
    RecallHit,
    RecallResult,
    RewindResult,
    Scope,
    Session,
    Turn,
    VectorHit,
    Why,
    Written,
)
from memoturn.engine.tokens import ROOT_TOKEN_FILE, MintedToken

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


def import_result(data: Mapping[str, Any]) -> ImportResult:
    return ImportResult(data["txid"], dict(data["counts"]))


def finish(call: Call[T], status: int, body: Any, retry_after: str | None) -> T:
    if status >= 400:
        raise error_from(status, body, retry_after)
    return call.parse(body)


# -- parsing ----------------------------------------------------------------------------------

_TIME_FIELDS = frozenset(
    {"created_at", "valid_from", "valid_to", "expires_at", "ended_at", "updated_at"}
)


def epoch(value: str | None) -> float | None:
    """An ISO-8601 time from the wire as epoch seconds."""
    if value is None:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def record(cls: type[R], data: Mapping[str, Any], **nested: Any) -> R:
    """A core.model record from its ``to_dict`` form (times back to epoch seconds)."""
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in nested:
            values[f.name] = nested[f.name]
        elif f.name in data:
            value = data[f.name]
            values[f.name] = epoch(value) if f.name in _TIME_FIELDS else value
    return cls(**values)


def memory(data: Mapping[str, Any]) -> Memory:
    return record(Memory, data)


def memories(key: str) -> Callable[[Mapping[str, Any]], list[Memory]]:
    return lambda data: [memory(m) for m in data[key]]


def ingest_result(data: Mapping[str, Any]) -> IngestResult:
    return record(IngestResult, data, memory=memory(data["memory"]))


_HIT_RECORDS: dict[str, type[Memory | Turn | DocumentChunk]] = {
    Scope.MEMORIES: Memory,
    Scope.TRANSCRIPT: Turn,
    Scope.DOCUMENTS: DocumentChunk,
}


def recall_result(data: Mapping[str, Any]) -> RecallResult:
    hits = [
        record(
            RecallHit,
            h,
            memory=record(_HIT_RECORDS[h["scope"]], h["memory"]),
            why=record(Why, h["why"]),
        )
        for h in data["results"]
    ]
    return RecallResult(hits, data["txid"])


def written(data: Mapping[str, Any]) -> Written:
    return Written(data["txid"], data.get("count", 1))


def with_txid(cls: type[R], key: str | None = None) -> Callable[[Mapping[str, Any]], tuple[R, int]]:
    """``(record, txid)`` from ``{key: record, txid}`` (or a flat ``{...record, txid}``)."""
    return lambda data: (record(cls, data[key] if key else data), data["txid"])


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
    """Calls on the node: namespaces, profiles, tokens, checkpoints, rewind, branches.
    Names and signatures mirror :class:`memoturn.Engine`."""

    @staticmethod
    def _p(ns: str, name: str) -> str:
        return f"/v1/namespaces/{_seg(ns)}/profiles/{_seg(name)}"

    def health(self) -> Call[bool]:
        """True when the node answers ``/healthz``."""
        return Call("GET", "/healthz", lambda d: d.get("status") == "ok")

    def create_namespace(self, name: str) -> Call[bool]:
        """Create a namespace (root token); False if it existed."""
        return Call("POST", "/v1/namespaces", lambda d: d["created"], json={"name": name})

    def list_namespaces(self) -> Call[list[str]]:
        return Call("GET", "/v1/namespaces", lambda d: d["namespaces"])

    def create_profile(self, ns: str, name: str) -> Call[bool]:
        """Provision a profile; False if it existed."""
        return Call(
            "POST", f"/v1/namespaces/{_seg(ns)}/profiles", lambda d: d["created"], {"name": name}
        )

    def list_profiles(self, ns: str) -> Call[list[str]]:
        return Call("GET", f"/v1/namespaces/{_seg(ns)}/profiles", lambda d: d["profiles"])

    def delete_profile(self, ns: str, name: str) -> Call[None]:
        """Delete a profile and all its branches."""
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
        """Mint a namespace token (root; no ``profile``) or a profile token."""
        body = _body(
            profile=profile,
            branch=branch,
            scopes=list(scopes) if scopes is not None else None,
            ttl_s=ttl_s,
        )
        return Call(
            "POST",
            f"/v1/namespaces/{_seg(ns)}/tokens",
            lambda d: MintedToken(d["token"], epoch(d["expires_at"])),
            json=body,
        )

    def revoke_tokens(self, ns: str, name: str) -> Call[int]:
        """Revoke every profile token of a profile; returns the new token epoch."""
        return Call("POST", self._p(ns, name) + "/revoke-tokens", lambda d: d["epoch"])

    def create_checkpoint(
        self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> Call[Checkpoint]:
        return Call(
            "POST",
            self._p(ns, name) + "/checkpoints",
            lambda d: record(Checkpoint, d),
            json={"name": checkpoint},
            params={"branch": branch},
        )

    def list_checkpoints(self, ns: str, name: str, *, branch: str = MAIN) -> Call[list[Checkpoint]]:
        return Call(
            "GET",
            self._p(ns, name) + "/checkpoints",
            lambda d: [record(Checkpoint, c) for c in d["checkpoints"]],
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
        """Atomically return a branch to a checkpoint or a txid."""
        return Call(
            "POST",
            self._p(ns, name) + "/rewind",
            lambda d: record(RewindResult, d),
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
            lambda d: record(Branch, d),
            json=_body(
                name=branch, from_checkpoint=from_checkpoint, from_txid=from_txid, ttl_s=ttl_s
            ),
            params={"branch": from_branch},
        )

    def list_branches(self, ns: str, name: str) -> Call[list[Branch]]:
        return Call(
            "GET",
            self._p(ns, name) + "/branches",
            lambda d: [record(Branch, b) for b in d["branches"]],
        )

    def delete_branch(self, ns: str, name: str, branch: str) -> Call[None]:
        return Call("DELETE", self._p(ns, name) + f"/branches/{_seg(branch)}", nothing)


class ProfileCalls:
    """Calls on one profile-branch. Names, arguments and results mirror the in-process
    profile handle (``engine.profile(ns, name)``)."""

    def __init__(
        self,
        ns: str,
        name: str,
        branch: str = MAIN,
        min_txid: int | None = None,
        *,
        read_your_writes: bool = False,
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
            txids = [data.get("txid")] if isinstance(data, Mapping) else []
            if isinstance(data, Mapping) and isinstance(data.get("results"), list):
                txids += [r.get("txid") for r in data["results"] if isinstance(r, Mapping)]
            seen = max((t for t in txids if isinstance(t, int)), default=None)
            if seen is not None and (self.min_txid is None or seen > self.min_txid):
                self.min_txid = seen
            return parse(data)

        return parse_and_note

    # memories

    def ingest(self, type: str, content: str, **fields: Any) -> Call[IngestResult]:
        """Store one memory (``topic``, ``session_id``, ``source``, ``ttl_s``, ``metadata``,
        ``idempotency_key``)."""
        return self._write(
            "POST", "/memories", ingest_result, {"type": type, "content": content, **fields}
        )

    def ingest_many(self, items: Sequence[Mapping[str, Any]]) -> Call[list[IngestResult]]:
        """Ingest a batch in one transaction; one bad item rejects all."""
        return self._write(
            "POST",
            "/memories/batch",
            lambda d: [ingest_result(r) for r in d["results"]],
            {"items": [dict(i) for i in items]},
        )

    def get_memory(self, memory_id: str) -> Call[Memory]:
        return self._read("GET", f"/memories/{_seg(memory_id)}", memory)

    def list_memories(
        self,
        *,
        type: str | None = None,
        topic: str | None = None,
        session_id: str | None = None,
        source: str | None = None,
        include_history: bool = False,
        limit: int = 100,
        after: str | None = None,
    ) -> Call[list[Memory]]:
        return self._read(
            "GET",
            "/memories",
            memories("memories"),
            type=type,
            topic=topic,
            session_id=session_id,
            source=source,
            include_history=str(include_history).lower(),
            limit=limit,
            after=after,
        )

    def topic_history(self, topic: str) -> Call[list[Memory]]:
        """Every version of a topic, oldest first."""
        return self._read("GET", f"/topics/{_seg(topic)}/history", memories("versions"))

    def forget(self, memory_id: str, reason: str | None = None) -> Call[Written]:
        return self._write("DELETE", f"/memories/{_seg(memory_id)}", written, reason=reason)

    def recall(self, query: str, **options: Any) -> Call[RecallResult]:
        """Hybrid recall (``k``, ``types``, ``topic``, ``session_id``, ``source``,
        ``scopes``, ``include_history``, ``as_of``, ``metadata``, ``mode`` ...)."""
        return self._read("POST", "/recall", recall_result, {"query": query, **options})

    # sessions

    def open_session(
        self,
        session_id: str | None = None,
        *,
        task_ttl_s: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Call[tuple[Session, int]]:
        body = _body(session_id=session_id, task_ttl_s=task_ttl_s, metadata=metadata)
        return self._write("POST", "/sessions", with_txid(Session, "session"), body)

    def get_session(self, session_id: str) -> Call[Session]:
        return self._read("GET", f"/sessions/{_seg(session_id)}", lambda d: record(Session, d))

    def append_turn(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Call[tuple[Turn, int]]:
        body = _body(role=role, content=content, name=name, metadata=metadata)
        return self._write(
            "POST", f"/sessions/{_seg(session_id)}/turns", with_txid(Turn, "turn"), body
        )

    def read_turns(self, session_id: str, *, after: int = 0, limit: int = 1000) -> Call[list[Turn]]:
        return self._read(
            "GET",
            f"/sessions/{_seg(session_id)}/turns",
            lambda d: [record(Turn, t) for t in d["turns"]],
            after=after,
            limit=limit,
        )

    def end_session(self, session_id: str) -> Call[Written]:
        """End a session; ``count`` is the number of task memories deleted."""
        return self._write(
            "POST",
            f"/sessions/{_seg(session_id)}/end",
            lambda d: Written(d["txid"], d["deleted_tasks"]),
        )

    # KV

    def kv_set(
        self, space: str, key: str, value: Any, *, ttl_s: int | None = None
    ) -> Call[tuple[KVItem, int]]:
        return self._write(
            "PUT",
            f"/kv/{_seg(space)}/{_seg(key)}",
            with_txid(KVItem),
            _body(ttl_s=ttl_s) | {"value": value},
        )

    def kv_get(self, space: str, key: str) -> Call[KVItem]:
        return self._read("GET", f"/kv/{_seg(space)}/{_seg(key)}", lambda d: record(KVItem, d))

    def kv_delete(self, space: str, key: str) -> Call[Written]:
        return self._write("DELETE", f"/kv/{_seg(space)}/{_seg(key)}", written)

    def kv_list(
        self, space: str, *, prefix: str = "", limit: int = 1000, after: str | None = None
    ) -> Call[list[KVItem]]:
        return self._read(
            "GET",
            f"/kv/{_seg(space)}",
            lambda d: [record(KVItem, i) for i in d["items"]],
            prefix=prefix,
            limit=limit,
            after=after,
        )

    # documents

    def add_document(
        self, content: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Call[tuple[Document, int]]:
        body = _body(content=content, title=title, metadata=metadata)
        return self._write("POST", "/documents", with_txid(Document, "document"), body)

    def get_document(self, document_id: str) -> Call[Document]:
        return self._read("GET", f"/documents/{_seg(document_id)}", lambda d: record(Document, d))

    def delete_document(self, document_id: str) -> Call[Written]:
        return self._write("DELETE", f"/documents/{_seg(document_id)}", written)

    # vectors

    def vector_upsert(
        self,
        collection: str,
        vector_id: str,
        vector: Sequence[float],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Call[Written]:
        body = _body(vector=[float(x) for x in vector], metadata=metadata)
        return self._write("PUT", f"/vectors/{_seg(collection)}/{_seg(vector_id)}", written, body)

    def vector_delete(self, collection: str, vector_id: str) -> Call[Written]:
        return self._write("DELETE", f"/vectors/{_seg(collection)}/{_seg(vector_id)}", written)

    def vector_query(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        k: int = 10,
        metadata: dict[str, Any] | None = None,
    ) -> Call[list[VectorHit]]:
        body = _body(vector=[float(x) for x in vector], k=k, metadata=metadata)
        return self._read(
            "POST",
            f"/vectors/{_seg(collection)}/query",
            lambda d: [record(VectorHit, h) for h in d["results"]],
            body,
        )

    # export and import

    def export_profile(self) -> Call[str]:
        """The whole profile-branch as JSON Lines (format version 1, docs/cli.md): memories
        with their history, sessions and turns, KV keys, documents, vector collections."""
        return dataclasses.replace(self._read("GET", "/export", str), text=True)

    def import_profile(self, data: str | bytes) -> Call[ImportResult]:
        """Load an export into this profile-branch, which must be empty, as one transaction
        (one txid). A bad line is an InvalidInput naming it and changes nothing."""
        content = data.encode() if isinstance(data, str) else bytes(data)
        return dataclasses.replace(self._write("POST", "/import", import_result), content=content)


def operations(cls: type) -> list[str]:
    """The public call builders of a calls class, in definition order."""
    return [n for n, v in vars(cls).items() if not n.startswith("_") and callable(v)]
