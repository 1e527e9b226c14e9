"""KV spaces, documents and raw vector collections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from memoturn.core import model
from memoturn.http import schemas
from memoturn.http.auth import MinTxid, Reader, Writer
from memoturn.http.schemas import READ_RESPONSES, wire

router = APIRouter(prefix="/v1/namespaces/{ns}/profiles/{profile}")

Limit = Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": 1000})]
Cursor = Annotated[str | None, Query(description="the next_cursor of the previous page")]


# -- KV -------------------------------------------------------------------------------------


@router.get(
    "/kv",
    response_model=wire(model.KVSpacePage),
    responses=READ_RESPONSES,
    tags=["kv"],
    operation_id="kv_spaces",
)
def kv_spaces(
    target: Reader, limit: Limit = 100, cursor: Cursor = None, min_txid: MinTxid = None
) -> dict[str, Any]:
    """The KV spaces holding live keys, in name order, with their key counts."""
    return target.handle(min_txid).kv_spaces(limit=limit, cursor=cursor).to_dict()


@router.put(
    "/kv/{space}/{key:path}",
    response_model=wire(model.KVResult),
    tags=["kv"],
    operation_id="kv_set",
)
def kv_set(space: str, key: str, body: schemas.KVIn, target: Writer) -> dict[str, Any]:
    """Set a key to any JSON value, optionally with a TTL (keys may contain '/')."""
    return target.handle().kv_set(space, key, body.value, ttl_s=body.ttl_s).to_dict()


@router.get(
    "/kv/{space}/{key:path}",
    response_model=wire(model.KVResult),
    responses=READ_RESPONSES,
    tags=["kv"],
    operation_id="kv_get",
)
def kv_get(space: str, key: str, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """A key's value; 404 once it has expired."""
    return target.handle(min_txid).kv_get(space, key).to_dict()


@router.delete(
    "/kv/{space}/{key:path}",
    response_model=wire(model.Written),
    tags=["kv"],
    operation_id="kv_delete",
)
def kv_delete(space: str, key: str, target: Writer) -> dict[str, Any]:
    """Delete a key (``count`` 0 if it did not exist)."""
    return target.handle().kv_delete(space, key).to_dict()


@router.get(
    "/kv/{space}",
    response_model=wire(model.KVPage),
    responses=READ_RESPONSES,
    tags=["kv"],
    operation_id="kv_list",
)
def kv_list(
    space: str,
    target: Reader,
    prefix: str = "",
    limit: Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": 10_000})] = 1000,
    cursor: Cursor = None,
    min_txid: MinTxid = None,
) -> dict[str, Any]:
    """Live keys of a space in key order, optionally under a prefix; page with ``cursor``."""
    return (
        target.handle(min_txid).kv_list(space, prefix=prefix, limit=limit, cursor=cursor).to_dict()
    )


# -- documents ------------------------------------------------------------------------------


@router.post(
    "/documents",
    response_model=wire(model.DocumentResult),
    tags=["documents"],
    operation_id="add_document",
)
def add_document(body: schemas.DocumentIn, target: Writer) -> dict[str, Any]:
    """Store a document; it is chunked and each chunk is recallable (scope ``documents``)."""
    return (
        target.handle()
        .add_document(body.content, title=body.title, metadata=body.metadata)
        .to_dict()
    )


@router.get(
    "/documents",
    response_model=wire(model.DocumentPage),
    responses=READ_RESPONSES,
    tags=["documents"],
    operation_id="list_documents",
)
def list_documents(
    target: Reader, limit: Limit = 100, cursor: Cursor = None, min_txid: MinTxid = None
) -> dict[str, Any]:
    """Documents oldest first, without their content (``bytes`` is its size)."""
    return target.handle(min_txid).list_documents(limit=limit, cursor=cursor).to_dict()


@router.get(
    "/documents/{document_id}",
    response_model=wire(model.DocumentResult),
    responses=READ_RESPONSES,
    tags=["documents"],
    operation_id="get_document",
)
def get_document(document_id: str, target: Reader, min_txid: MinTxid = None) -> dict[str, Any]:
    """One document with its whole content."""
    return target.handle(min_txid).get_document(document_id).to_dict()


@router.delete(
    "/documents/{document_id}",
    response_model=wire(model.Written),
    tags=["documents"],
    operation_id="delete_document",
)
def delete_document(document_id: str, target: Writer) -> dict[str, Any]:
    """Delete a document and its chunks."""
    return target.handle().delete_document(document_id).to_dict()


# -- vectors --------------------------------------------------------------------------------


@router.get(
    "/vectors",
    response_model=wire(model.CollectionPage),
    responses=READ_RESPONSES,
    tags=["vectors"],
    operation_id="list_collections",
)
def list_collections(
    target: Reader, limit: Limit = 100, cursor: Cursor = None, min_txid: MinTxid = None
) -> dict[str, Any]:
    """Vector collections in name order, with their dimension and size."""
    return target.handle(min_txid).list_collections(limit=limit, cursor=cursor).to_dict()


@router.put(
    "/vectors/{collection}/{vector_id}",
    response_model=wire(model.Written),
    tags=["vectors"],
    operation_id="vector_upsert",
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
    "/vectors/{collection}/{vector_id}",
    response_model=wire(model.Written),
    tags=["vectors"],
    operation_id="vector_delete",
)
def vector_delete(collection: str, vector_id: str, target: Writer) -> dict[str, Any]:
    """Delete a vector."""
    return target.handle().vector_delete(collection, vector_id).to_dict()


@router.post(
    "/vectors/{collection}/query",
    response_model=wire(model.VectorQueryResult),
    responses=READ_RESPONSES,
    tags=["vectors"],
    operation_id="vector_query",
)
def vector_query(
    collection: str, body: schemas.VectorQueryIn, target: Reader, min_txid: MinTxid = None
) -> dict[str, Any]:
    """The ``k`` nearest vectors by cosine similarity, optionally filtered by metadata."""
    return (
        target.handle(min_txid)
        .vector_query(collection, body.vector, k=body.k, metadata=body.metadata)
        .to_dict()
    )


@router.post(
    "/kv/{space}/{key:path}",
    response_model=wire(model.KVResult),
    tags=["kv"],
    operation_id="kv_compare_set",
)
def kv_compare_set(
    space: str, key: str, body: schemas.KVCompareSetIn, target: Writer
) -> dict[str, Any]:
    """Compare-and-set: set the key only if its live value is ``expected`` now (as JSON;
    null or omitted: only if the key does not exist), atomically; else 409, nothing changed."""
    return (
        target.handle()
        .kv_compare_set(space, key, body.value, expected=body.expected, ttl_s=body.ttl_s)
        .to_dict()
    )
