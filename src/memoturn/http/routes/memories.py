"""Memories, recall and topic history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from memoturn.core.model import MemoryType
from memoturn.http import schemas
from memoturn.http.auth import MinTxid, Reader, Writer
from memoturn.http.schemas import READ_RESPONSES

router = APIRouter(prefix="/v1/namespaces/{ns}/profiles/{profile}", tags=["memories"])


@router.post("/memories", response_model=schemas.IngestOut)
def ingest(body: schemas.MemoryIn, target: Writer) -> dict[str, Any]:
    """Store one memory. The same (type, topic, content) already current returns the
    existing memory with ``duplicate: true`` and writes nothing; a ``topic`` supersedes the
    current memory on that topic in the same transaction."""
    return target.handle().ingest(**body.model_dump(mode="json")).to_dict()


@router.post("/memories/batch", response_model=schemas.BatchOut)
def ingest_batch(body: schemas.BatchIn, target: Writer) -> dict[str, Any]:
    """Ingest up to 1000 memories in one transaction (one txid), results in input order.
    One invalid item rejects the whole batch."""
    items = [item.model_dump(mode="json") for item in body.items]
    results = target.handle().ingest_many(items)
    return {
        "results": [r.to_dict() for r in results],
        "txid": max(r.txid for r in results),
    }


@router.get("/memories/{memory_id}", response_model=schemas.MemoryOut, responses=READ_RESPONSES)
def get_memory(memory_id: str, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """One memory by id, current or historical (expired memories are not found)."""
    return target.handle(min_txid).get_memory(memory_id).to_dict()


@router.get("/memories", response_model=schemas.MemoryList, responses=READ_RESPONSES)
def list_memories(
    target: Reader,
    type: MemoryType | None = None,
    topic: str | None = None,
    session_id: str | None = None,
    source: str | None = None,
    include_history: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="last id of the previous page")] = None,
    min_txid: MinTxid = None,
) -> dict[str, Any]:
    """Memories oldest first, current only unless ``include_history``; page with ``after``."""
    handle = target.handle(min_txid)
    txid = handle.txid
    found = handle.list_memories(
        type=type.value if type else None,
        topic=topic,
        session_id=session_id,
        source=source,
        include_history=include_history,
        limit=limit,
        after=after,
    )
    return {"memories": [m.to_dict() for m in found], "txid": txid}


@router.delete("/memories/{memory_id}", response_model=schemas.WrittenOut)
def forget(
    memory_id: str,
    target: Writer,
    reason: Annotated[str | None, Query(description="kept with the tombstone")] = None,
) -> dict[str, Any]:
    """Forget: retire a memory from recall; history keeps a tombstone (``count`` 0 when it
    was already retired)."""
    return target.handle().forget(memory_id, reason).to_dict()


@router.post("/recall", response_model=schemas.RecallOut, responses=READ_RESPONSES)
def recall(body: schemas.RecallIn, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """Hybrid recall (BM25 + embeddings, fused by normalised score) over memories, and over
    transcript turns and document chunks when ``scopes`` says so. Each hit says ``why``."""
    options = body.model_dump(mode="json", exclude_unset=True)
    query = options.pop("query")
    return target.handle(min_txid).recall(query, **options).to_dict()


@router.get(
    "/topics/{topic}/history", response_model=schemas.TopicHistory, responses=READ_RESPONSES
)
def topic_history(topic: str, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """Every version of a topic, oldest first (superseded and forgotten ones included)."""
    handle = target.handle(min_txid)
    txid = handle.txid
    versions = handle.topic_history(topic)
    return {"versions": [m.to_dict() for m in versions], "txid": txid}
