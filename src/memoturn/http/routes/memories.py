"""Memories, recall and topic history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from memoturn.core import model
from memoturn.core.model import MemoryType
from memoturn.http import schemas
from memoturn.http.auth import MinTxid, Reader, Writer
from memoturn.http.schemas import READ_RESPONSES, wire

router = APIRouter(prefix="/v1/namespaces/{ns}/profiles/{profile}", tags=["memories"])

Limit = Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": 1000})]
Cursor = Annotated[str | None, Query(description="the next_cursor of the previous page")]


@router.post("/memories", response_model=wire(model.IngestResult), operation_id="ingest")
def ingest(body: schemas.MemoryIn, target: Writer) -> JSONResponse:
    """Store one memory. The same (type, topic, content) already current returns the
    existing memory with ``duplicate: true`` and writes nothing, unless the request brings
    new ``metadata`` or a ``ttl_s``: those update the existing memory in place (``updated``
    names the fields). A ``topic`` supersedes the current memory on that topic in the same
    transaction. Concurrent ingests to one profile may commit together and then share one
    txid (docs/storage.md, group commit)."""
    fields = body.model_dump(mode="json", exclude_none=True)
    result = target.handle().ingest(fields.pop("type"), fields.pop("content"), **fields)
    # ``to_dict`` is the wire form (``wire`` builds the response model from the same
    # fields): answered as is, without validating it against that model again, which cost
    # more on the hot path than the JSON itself.
    return JSONResponse(result.to_dict())


@router.post(
    "/memories/batch", response_model=wire(model.IngestBatchResult), operation_id="ingest_many"
)
def ingest_many(body: schemas.BatchIn, target: Writer) -> dict[str, Any]:
    """Ingest up to 1000 memories in one transaction (one txid), results in input order.
    One invalid item rejects the whole batch."""
    items = [item.model_dump(mode="json", exclude_none=True) for item in body.items]
    return target.handle().ingest_many(items, defer_embedding=body.defer_embedding).to_dict()


@router.get(
    "/memories/{memory_id}",
    response_model=wire(model.MemoryResult),
    responses=READ_RESPONSES,
    operation_id="get_memory",
)
def get_memory(memory_id: str, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """One memory by id, current or historical (expired memories are not found)."""
    return target.handle(min_txid).get_memory(memory_id).to_dict()


@router.get(
    "/memories",
    response_model=wire(model.MemoryPage),
    responses=READ_RESPONSES,
    operation_id="list_memories",
)
def list_memories(
    target: Reader,
    type: MemoryType | None = None,
    topic: str | None = None,
    session_id: str | None = None,
    source: str | None = None,
    include_history: bool = False,
    limit: Limit = 100,
    cursor: Cursor = None,
    min_txid: MinTxid = None,
) -> dict[str, Any]:
    """Memories oldest first, current only unless ``include_history``; page on with
    ``cursor`` (the answer's ``next_cursor``; ``null`` when there is no more)."""
    return (
        target.handle(min_txid)
        .list_memories(
            type=type.value if type else None,
            topic=topic,
            session_id=session_id,
            source=source,
            include_history=include_history,
            limit=limit,
            cursor=cursor,
        )
        .to_dict()
    )


@router.delete("/memories/{memory_id}", response_model=wire(model.Written), operation_id="forget")
def forget(
    memory_id: str,
    target: Writer,
    reason: Annotated[str | None, Query(description="kept with the tombstone")] = None,
) -> dict[str, Any]:
    """Forget: retire a memory from recall; history keeps a tombstone (``count`` 0 when it
    was already retired)."""
    return target.handle().forget(memory_id, reason).to_dict()


@router.post(
    "/recall",
    response_model=wire(model.RecallResult),
    responses=READ_RESPONSES,
    operation_id="recall",
)
def recall(body: schemas.RecallIn, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """Hybrid recall (BM25 + embeddings, fused by normalised score) over memories, and over
    transcript turns and document chunks when ``scopes`` says so. Each hit says ``why``."""
    options = body.model_dump(mode="json", exclude_unset=True)
    query = options.pop("query")
    return target.handle(min_txid).recall(query, **options).to_dict()


@router.get(
    "/topics/{topic}/history",
    response_model=wire(model.TopicHistory),
    responses=READ_RESPONSES,
    operation_id="topic_history",
)
def topic_history(topic: str, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """Every version of a topic, oldest first (superseded and forgotten ones included)."""
    return target.handle(min_txid).topic_history(topic).to_dict()
