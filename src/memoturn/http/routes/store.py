"""KV spaces, documents and raw vector collections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from memoturn.http import schemas
from memoturn.http.auth import MinTxid, Reader, Writer
from memoturn.http.schemas import READ_RESPONSES

router = APIRouter(prefix="/v1/namespaces/{ns}/profiles/{profile}")


# -- KV -------------------------------------------------------------------------------------


@router.put("/kv/{space}/{key:path}", response_model=schemas.KVWritten, tags=["kv"])
def kv_set(space: str, key: str, body: schemas.KVIn, target: Writer) -> dict[str, Any]:
    """Set a key to any JSON value, optionally with a TTL (keys may contain '/')."""
    item, txid = target.handle().kv_set(space, key, body.value, ttl_s=body.ttl_s)
    return {**item.to_dict(), "txid": txid}


@router.get(
    "/kv/{space}/{key:path}",
    response_model=schemas.KVOut,
    responses=READ_RESPONSES,
    tags=["kv"],
)
def kv_get(space: str, key: str, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """A key's value; 404 once it has expired."""
    return target.handle(min_txid).kv_get(space, key).to_dict()


@router.delete("/kv/{space}/{key:path}", response_model=schemas.WrittenOut, tags=["kv"])
def kv_delete(space: str, key: str, target: Writer) -> dict[str, Any]:
    """Delete a key (``count`` 0 if it did not exist)."""
    return target.handle().kv_delete(space, key).to_dict()


@router.get("/kv/{space}", response_model=schemas.KVList, responses=READ_RESPONSES, tags=["kv"])
def kv_list(
    space: str,
    target: Reader,
    prefix: str = "",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    after: Annotated[str | None, Query(description="last key of the previous page")] = None,
    min_txid: MinTxid = None,
) -> dict[str, Any]:
    """Live keys of a space in key order, optionally under a prefix."""
    handle = target.handle(min_txid)
    txid = handle.txid
    items = handle.kv_list(space, prefix=prefix, limit=limit, after=after)
    return {"items": [i.to_dict() for i in items], "txid": txid}


# -- documents ------------------------------------------------------------------------------


@router.post("/documents", response_model=schemas.DocumentWritten, tags=["documents"])
def add_document(body: schemas.DocumentIn, target: Writer) -> dict[str, Any]:
    """Store a document; it is chunked and each chunk is recallable (scope ``documents``)."""
    doc, txid = target.handle().add_document(body.content, title=body.title, metadata=body.metadata)
    return {"document": doc.to_dict(), "txid": txid}


@router.get(
    "/documents/{document_id}",
    response_model=schemas.DocumentOut,
    responses=READ_RESPONSES,
    tags=["documents"],
)
def get_document(document_id: str, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    return target.handle(min_txid).get_document(document_id).to_dict()


@router.delete("/documents/{document_id}", response_model=schemas.WrittenOut, tags=["documents"])
def delete_document(document_id: str, target: Writer) -> dict[str, Any]:
    """Delete a document and its chunks."""
    return target.handle().delete_document(document_id).to_dict()


# -- vectors --------------------------------------------------------------------------------


@router.put(
    "/vectors/{collection}/{vector_id}", response_model=schemas.WrittenOut, tags=["vectors"]
)
def vector_upsert(
    collection: str, vector_id: str, body: schemas.VectorIn, target: Writer
) -> dict[str, Any]:
    """Insert or replace a vector. A collection's dimension is fixed by its first vector."""
    return (
        target.handle()
        .vector_upsert(collection, vector_id, body.vector, metadata=body.metadata)
        .to_dict()
    )


@router.delete(
    "/vectors/{collection}/{vector_id}", response_model=schemas.WrittenOut, tags=["vectors"]
)
def vector_delete(collection: str, vector_id: str, target: Writer) -> dict[str, Any]:
    return target.handle().vector_delete(collection, vector_id).to_dict()


@router.post(
    "/vectors/{collection}/query",
    response_model=schemas.VectorQueryOut,
    responses=READ_RESPONSES,
    tags=["vectors"],
)
def vector_query(
    collection: str, body: schemas.VectorQueryIn, target: Reader, min_txid: MinTxid = None
) -> dict[str, Any]:
    """The ``k`` nearest vectors by cosine similarity, optionally filtered by metadata."""
    handle = target.handle(min_txid)
    txid = handle.txid
    hits = handle.vector_query(collection, body.vector, k=body.k, metadata=body.metadata)
    return {"results": [h.to_dict() for h in hits], "txid": txid}
