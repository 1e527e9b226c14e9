"""Export and import of a whole profile-branch as JSON Lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from memoturn.core import limits
from memoturn.http.auth import MinTxid, Reader, Writer
from memoturn.http.schemas import ERROR_RESPONSES, READ_RESPONSES

router = APIRouter(prefix="/v1/namespaces/{ns}/profiles/{profile}", tags=["transfer"])

MEDIA_TYPE = "application/x-ndjson"
_CHUNK_CHARS = 64 * 1024


class ImportOut(BaseModel):
    txid: int
    counts: dict[str, int]


def _chunks(text: str) -> Iterator[bytes]:
    for start in range(0, len(text), _CHUNK_CHARS):
        yield text[start : start + _CHUNK_CHARS].encode()


@router.get(
    "/export",
    operation_id="export_profile",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "the export, one JSON object per line (docs/cli.md)",
        },
        **READ_RESPONSES,
    },
)
def export_profile(target: Reader, min_txid: MinTxid = None) -> StreamingResponse:
    """The whole profile-branch as JSON Lines: memories with their history, sessions and
    turns, KV keys, documents, vector collections. Read at one txid; embeddings are not
    included (an import recomputes them)."""
    text = target.handle(min_txid).export_profile()
    filename = f"{target.ns}--{target.profile}@{target.branch}.jsonl"
    return StreamingResponse(
        _chunks(text),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/import",
    operation_id="import_profile",
    response_model=ImportOut,
    responses={
        409: {**ERROR_RESPONSES[400], "description": "the profile-branch is not empty"},
        413: {
            **ERROR_RESPONSES[413],
            "description": f"the export is over {limits.MAX_IMPORT_BYTES} bytes",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "an export (GET .../export), one JSON object per line",
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def import_profile(request: Request, target: Writer) -> dict[str, Any]:
    """Load an export into this profile-branch, which must be empty (else 409), as one
    transaction (one txid). The whole export is checked first: a bad line is a 400 naming
    it, and changes nothing. Embeddings are recomputed by this node's embedder."""
    body = await request.body()
    # Off the event loop: finding the profile may read the store, the import embeds.
    result = await run_in_threadpool(lambda: target.handle().import_profile(body))
    return result.to_dict()
