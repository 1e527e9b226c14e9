"""Extraction: turn a session's transcript into memories."""

from __future__ import annotations

from typing import Any

from memoturn.core.api import ProfileAPI
from memoturn.mcp.tools.base import WRITE, Answer, Tool, integer, one_of, string


def _extract(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    out = profile.extract(args.pop("session_id"), **args).to_dict()
    del out["memories"]  # the report names each memory; their rows would double the answer
    return out


MEMORY_EXTRACT = Tool(
    name="memory_extract",
    operation="extract",
    title="Extract memories from a transcript",
    description=(
        "Turn the turns of a session's transcript (recorded with transcript_append) that "
        "were not extracted yet into typed memories, stored with the usual rules: the same "
        "memory again is a duplicate, a memory on a topic replaces the older one. Call it "
        "when a conversation has said something worth keeping, or at its end. Calling it "
        "again extracts only newer turns. The answer's report says for every turn what came "
        "of it: ADD, SUPERSEDE (with the replaced memory's id), DUPLICATE, or SKIP with a "
        "reason.\n"
        'Example: {"session_id": "chat-42"}\n'
        "Returns {session_id, report: [{turn, action, memory_id, superseded, reason, type, "
        "topic}], txid, extractor, extracted_through, pending}."
    ),
    params={
        "session_id": string("The conversation's id."),
        "extractor": one_of(
            ["node", "rules"],
            "node: the node's configured extractor (default); rules: the basic in-process one.",
        ),
        "max_turns": integer("Extract at most this many turns now.", minimum=1),
    },
    required=("session_id",),
    scope=WRITE,
    idempotent=True,
    on_profile=_extract,
)

TOOLS = (MEMORY_EXTRACT,)
