"""Memories, recall, topic history, transcripts and sessions, documents."""

from __future__ import annotations

from typing import Any

from memoturn.core import ranking
from memoturn.core.api import ProfileAPI
from memoturn.core.model import MemoryType, Scope
from memoturn.mcp.tools.base import (
    WRITE,
    Answer,
    Tool,
    boolean,
    integer,
    json_object,
    one_of,
    string,
)

MEMORY_TYPES = [t.value for t in MemoryType]
SCOPES = [s.value for s in Scope]
ROLES = ["user", "assistant", "system", "tool"]
MODES = ["hybrid", "keyword", "vector"]
TIMESTAMP = {
    "type": ["string", "number"],
    "description": 'An ISO-8601 time (e.g. "2025-03-01T12:00:00Z") or epoch seconds.',
}


def _timestamp(description: str) -> dict[str, Any]:
    return {**TIMESTAMP, "description": f"{description} {TIMESTAMP['description']}"}


# -- memories -------------------------------------------------------------------------------


def _ingest(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.ingest(args.pop("type"), args.pop("content"), **args)


def _recall(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.recall(args.pop("query"), **args)


def _forget(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.forget(args["memory_id"], args.get("reason"))


def _history(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return {"topic": args["topic"], **profile.topic_history(args["topic"]).to_dict()}


def _get(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.get_memory(args["memory_id"])


def _list(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.list_memories(**args)


MEMORY_INGEST = Tool(
    name="memory_ingest",
    operation="ingest",
    title="Remember something",
    description=(
        "Store one memory about the user, the team or the world so later conversations can "
        "recall it. Use it for durable facts, preferences, instructions and events worth "
        "keeping; for short-lived work items use type 'task' with a session_id (they are "
        "deleted by session_end). Give a 'topic' (a stable key such as 'diet' or 'home-city') "
        "when a newer memory should replace an older one: the old version stays in "
        "memory_history. Storing the same content again is a no-op (duplicate: true).\n"
        'Example: {"type": "preference", "content": "Alice prefers window seats", '
        '"topic": "seat"}\n'
        "Returns {memory, txid, duplicate, superseded} (superseded: ids it replaced)."
    ),
    params={
        "type": one_of(
            MEMORY_TYPES,
            "fact (true about the world or user), preference (likes/dislikes), task (a "
            "to-do for this session), event (something that happened), instruction (how "
            "the agent should behave).",
        ),
        "content": string("The memory as one self-contained sentence."),
        "topic": string("Optional stable key; a new memory on a topic replaces the current one."),
        "session_id": string("Optional conversation id (required for session tasks)."),
        "source": string("Optional name of the agent or tool that learned this."),
        "ttl_s": integer("Optional lifetime in seconds; the memory expires after it.", minimum=1),
        "metadata": json_object("Optional JSON object stored with the memory."),
        "idempotency_key": string(
            "Optional key; retrying with the same key returns the first answer."
        ),
        "turn_ids": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "description": "Optional numbers of the transcript turns (of session_id) this "
            "memory was taken from, kept as its provenance.",
        },
        "valid_from": _timestamp(
            "Optional: since when this has been true, if earlier than now (e.g. the user said "
            "it in a conversation last month). Default: now."
        ),
    },
    required=("type", "content"),
    scope=WRITE,
    on_profile=_ingest,
)

MEMORY_RECALL = Tool(
    name="memory_recall",
    operation="recall",
    title="Recall memories",
    description=(
        "Search this profile's memory by meaning and keywords (hybrid search). Call it "
        "before answering whenever past context could matter: the user's preferences, "
        "earlier decisions, facts they told you. Add scopes 'transcript' and 'documents' to "
        "also search past conversation turns and stored documents. Each hit has the item "
        "under 'memory', a 'score' (rank among this query's hits), a 'relevance' (0-1, how "
        "likely the hit is what was asked for) and 'why' it matched. Set min_score (e.g. "
        f"{ranking.RECOMMENDED_MIN_SCORE}) to get only relevant hits: an empty result then "
        "means nothing relevant is stored.\n"
        'Example: {"query": "what does Alice eat?", "k": 5}\n'
        "Returns {results: [{scope, memory, score, relevance, why}], txid}."
    ),
    params={
        "query": string("What to look for, in natural language or keywords."),
        "k": integer("How many hits to return (default 10).", minimum=1, maximum=200),
        "types": {
            "type": "array",
            "items": {"type": "string", "enum": MEMORY_TYPES},
            "description": "Only memories of these types.",
        },
        "topic": string("Only memories on this topic."),
        "session_id": string("Only items of this session."),
        "source": string("Only memories from this source."),
        "scopes": {
            "type": "array",
            "items": {"type": "string", "enum": SCOPES},
            "description": "What to search: memories (default), transcript, documents.",
        },
        "include_history": boolean("Also return superseded and forgotten memories."),
        "as_of": _timestamp("Recall the memories that were current at this time."),
        "created_after": _timestamp("Only items created after this time."),
        "created_before": _timestamp("Only items created before this time."),
        "metadata": json_object(
            "Only items whose metadata has each of these keys equal to the given value."
        ),
        "recency_half_life_s": {
            "type": "number",
            "description": "Favour recent items: a hit this many seconds old counts less.",
        },
        "mode": one_of(MODES, "hybrid (default), keyword (BM25 only) or vector only."),
        "min_score": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Only hits with at least this relevance (0-1; recommended "
            f"{ranking.RECOMMENDED_MIN_SCORE}). Default: every hit.",
        },
    },
    required=("query",),
    on_profile=_recall,
)

MEMORY_FORGET = Tool(
    name="memory_forget",
    operation="forget",
    title="Forget a memory",
    description=(
        "Retire a memory so recall no longer returns it, e.g. when the user says it is wrong "
        "or asks you to forget it. History keeps a tombstone with the reason. To replace a "
        "memory with a newer version, prefer memory_ingest with the same topic.\n"
        'Example: {"memory_id": "01J...", "reason": "user moved to Berlin"}\n'
        "Returns {txid, count} (count 0: it was already retired)."
    ),
    params={
        "memory_id": string("The memory's id (from memory_recall or memory_ingest)."),
        "reason": string("Optional reason, kept with the tombstone."),
    },
    required=("memory_id",),
    scope=WRITE,
    destructive=True,
    idempotent=True,
    on_profile=_forget,
)

MEMORY_HISTORY = Tool(
    name="memory_history",
    operation="topic_history",
    title="Topic history",
    description=(
        "Every version of the memories on one topic, oldest first, including superseded "
        "and forgotten ones (valid_from, valid_to, superseded_by, forgotten_reason). Use it "
        "to answer 'what did the user say before?' or to explain how a fact changed.\n"
        'Example: {"topic": "home-city"}\n'
        "Returns {topic, versions: [memory...]}."
    ),
    params={"topic": string("The topic key used when the memories were stored.")},
    required=("topic",),
    on_profile=_history,
)

MEMORY_GET = Tool(
    name="memory_get",
    operation="get_memory",
    title="Read a memory",
    description=(
        "Read one memory by its id, current or historical (with valid_to, superseded_by "
        "and forgotten_reason when it was replaced or forgotten).\n"
        'Example: {"memory_id": "01J..."}\n'
        "Returns {memory, txid}."
    ),
    params={"memory_id": string("The memory's id (from memory_recall or memory_list).")},
    required=("memory_id",),
    on_profile=_get,
)

MEMORY_LIST = Tool(
    name="memory_list",
    operation="list_memories",
    title="List memories",
    description=(
        "List what this profile remembers, oldest first, optionally only one type, topic, "
        "session or source: the answer to 'what do you know about me?'. Page with 'cursor' "
        "(the next_cursor of the previous answer; null when there is no more).\n"
        'Example: {"type": "preference", "limit": 20}\n'
        "Returns {memories: [memory...], txid, next_cursor}."
    ),
    params={
        "type": one_of(MEMORY_TYPES, "Only memories of this type."),
        "topic": string("Only memories on this topic."),
        "session_id": string("Only memories of this session."),
        "source": string("Only memories from this source."),
        "include_history": boolean("Also list superseded and forgotten memories."),
        "limit": integer("At most this many (default 100).", minimum=1, maximum=1000),
        "cursor": string("The next_cursor of the previous page."),
    },
    on_profile=_list,
)

# -- transcripts and sessions ---------------------------------------------------------------


def _append(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    sid = args.pop("session_id")
    return profile.append_turn(sid, args.pop("role"), args.pop("content"), **args)


def _append_many(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.append_turns(args["session_id"], args["turns"])


def _read(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.read_turns(args.pop("session_id"), **args)


def _end(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.end_session(args["session_id"])


TRANSCRIPT_APPEND = Tool(
    name="transcript_append",
    operation="append_turn",
    title="Append to the transcript",
    description=(
        "Record one conversation turn verbatim in a session's transcript (the session is "
        "opened on first use). Transcripts are searchable with memory_recall "
        "(scopes: ['transcript']) and readable in order with transcript_read.\n"
        'Example: {"session_id": "chat-42", "role": "user", "content": "Book me a table"}\n'
        "Returns {turn: {session_id, turn, role, name, content, metadata, created_at}, txid}."
    ),
    params={
        "session_id": string("The conversation's id; pick one and reuse it for the session."),
        "role": one_of(ROLES, "Who spoke."),
        "content": string("The turn's text, verbatim."),
        "name": string("Optional speaker or tool name."),
        "metadata": json_object("Optional JSON object stored with the turn."),
    },
    required=("session_id", "role", "content"),
    scope=WRITE,
    on_profile=_append,
)

TRANSCRIPT_READ = Tool(
    name="transcript_read",
    operation="read_turns",
    title="Read the transcript",
    description=(
        "Read a session's transcript in order, e.g. to catch up on an earlier conversation. "
        "Page with 'after' (the last turn number you have).\n"
        'Example: {"session_id": "chat-42", "after": 0, "limit": 50}\n'
        "Returns {turns: [{session_id, turn, role, name, content, metadata, created_at}], "
        "txid, next_cursor}."
    ),
    params={
        "session_id": string("The conversation's id."),
        "after": integer("Return turns after this turn number (default 0).", minimum=0),
        "limit": integer("At most this many turns (default 1000).", minimum=1, maximum=10_000),
    },
    required=("session_id",),
    on_profile=_read,
)

TRANSCRIPT_APPEND_MANY = Tool(
    name="transcript_append_many",
    operation="append_turns",
    title="Append several turns",
    description=(
        "Record several conversation turns verbatim, in order, in one step (e.g. a whole "
        "exchange at the end of a turn of the agent loop).\n"
        'Example: {"session_id": "chat-42", "turns": [{"role": "user", "content": "Hi"}, '
        '{"role": "assistant", "content": "Hello!"}]}\n'
        "Returns {turns: [turn...], txid}."
    ),
    params={
        "session_id": string("The conversation's id."),
        "turns": {
            "type": "array",
            "items": {"type": "object"},
            "description": "The turns, each {role, content, name?, metadata?}; role is one "
            "of " + ", ".join(ROLES) + ".",
        },
    },
    required=("session_id", "turns"),
    scope=WRITE,
    on_profile=_append_many,
)

SESSION_END = Tool(
    name="session_end",
    operation="end_session",
    title="End a session",
    description=(
        "End a conversation: its task memories (type 'task' with this session_id) are "
        "deleted in one step; the transcript and all other memories stay. Call it when the "
        "work of a session is done. Ending an ended session changes nothing.\n"
        'Example: {"session_id": "chat-42"}\n'
        "Returns {deleted_tasks, txid}."
    ),
    params={"session_id": string("The conversation's id.")},
    required=("session_id",),
    scope=WRITE,
    destructive=True,
    idempotent=True,
    on_profile=_end,
)

# -- documents --------------------------------------------------------------------------------


def _add_document(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    out = profile.add_document(args.pop("content"), **args).to_dict()
    del out["document"]["content"]  # the caller has it; echoing a long one wastes context
    return out


def _get_document(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.get_document(args["document_id"])


def _delete_document(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.delete_document(args["document_id"])


DOCUMENT_ADD = Tool(
    name="document_add",
    operation="add_document",
    title="Store a document",
    description=(
        "Store a longer text (notes, a page, a file's contents). It is split into chunks "
        "that memory_recall finds with scopes: ['documents']. Use memory_ingest instead for "
        "short facts.\n"
        'Example: {"title": "Travel policy", "content": "Economy class for flights under..."}\n'
        "Returns {document: {id, title, metadata, created_at, chunks}, txid}."
    ),
    params={
        "content": string("The document's full text (up to 1 MiB)."),
        "title": string("Optional title; it also helps recall."),
        "metadata": json_object("Optional JSON object stored with the document."),
    },
    required=("content",),
    scope=WRITE,
    on_profile=_add_document,
)

DOCUMENT_GET = Tool(
    name="document_get",
    operation="get_document",
    title="Read a document",
    description=(
        "Read a stored document in full by its id (recall hits over documents carry it as "
        "memory.document_id).\n"
        'Example: {"document_id": "01J..."}\n'
        "Returns {document: {id, title, content, metadata, created_at, chunks}, txid}."
    ),
    params={"document_id": string("The document's id.")},
    required=("document_id",),
    on_profile=_get_document,
)

DOCUMENT_DELETE = Tool(
    name="document_delete",
    operation="delete_document",
    title="Delete a document",
    description=(
        "Delete a stored document and its chunks.\n"
        'Example: {"document_id": "01J..."}\n'
        "Returns {txid, count}."
    ),
    params={"document_id": string("The document's id.")},
    required=("document_id",),
    scope=WRITE,
    destructive=True,
    on_profile=_delete_document,
)

TOOLS = (
    MEMORY_INGEST,
    MEMORY_RECALL,
    MEMORY_FORGET,
    MEMORY_HISTORY,
    MEMORY_GET,
    MEMORY_LIST,
    TRANSCRIPT_APPEND,
    TRANSCRIPT_APPEND_MANY,
    TRANSCRIPT_READ,
    SESSION_END,
    DOCUMENT_ADD,
    DOCUMENT_GET,
    DOCUMENT_DELETE,
)
