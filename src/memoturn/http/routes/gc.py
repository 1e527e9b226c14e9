"""Garbage collection on demand (root): what the node otherwise runs every ``gc_interval``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from memoturn.http import schemas
from memoturn.http.auth import Root, node_of

router = APIRouter(prefix="/v1", tags=["node"])


@router.post("/gc", response_model=schemas.GcOut)
def collect_garbage(request: Request, caller: Root) -> dict[str, object]:
    """Run one garbage collection now (root token): expired burner branches are removed, and
    objects no manifest, checkpoint or branch can reach are deleted once older than an hour
    (the guard for writes still in flight on other nodes). Safe on any node at any time."""
    reports = node_of(request).engine.gc()
    return {
        "profiles": [
            {
                "profile": r.db,
                "expired_branches": r.expired_branches,
                "deleted": r.deleted,
                "kept": r.kept,
            }
            for r in reports
        ]
    }
