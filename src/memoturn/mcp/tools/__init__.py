"""Every MCP tool of API.md, in the order they are listed (the names are fixed)."""

from __future__ import annotations

from memoturn.core.errors import InvalidInput
from memoturn.mcp.tools import extraction, history, memories, store
from memoturn.mcp.tools.base import Backend, Binding, Target, Tool, bind, call

TOOLS: tuple[Tool, ...] = memories.TOOLS + store.TOOLS + history.TOOLS + extraction.TOOLS
BY_NAME: dict[str, Tool] = {t.name: t for t in TOOLS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
TOOL_OPERATIONS: dict[str, str] = {t.name: t.operation for t in TOOLS}
"""Each tool's :mod:`memoturn.core.api` operation."""

NOT_TOOLS: dict[str, str] = {
    # Operations an agent has no tool for, and why (the API parity test reads this).
    "ingest_many": "bulk imports are for programs (REST, SDK, CLI); an agent stores one memory",
    "open_session": "transcript_append opens the session on first use",
    "get_session": "an agent knows its own session; transcript_read reads it",
    "list_sessions": "an inspector's view (REST, SDK, CLI)",
    "kv_spaces": "an agent names its own spaces; an inspector's view (REST, SDK, CLI)",
    "list_documents": "an inspector's view; recall finds documents by meaning",
    "list_collections": "an inspector's view (REST, SDK, CLI)",
    "vector_delete": "raw vectors are managed by the program that brings them",
    "export_profile": "a whole profile does not fit an agent's context (REST, SDK, CLI)",
    "import_profile": "loading a whole profile is an operator's job (REST, SDK, CLI)",
    "create_namespace": "administration, with the root token (REST, SDK, CLI)",
    "list_namespaces": "administration, with the root token",
    "create_profile": "administration: provisioning is the orchestrator's",
    "list_profiles": "administration: an agent acts on one profile",
    "delete_profile": "administration: destructive beyond one agent's remit",
    "revoke_tokens": "administration",
    "delete_checkpoint": "checkpoints are kept until a person removes them",
    "get_policy": "governance is the operator's (REST, SDK, CLI), not the agent's",
    "set_policy": "governance is the operator's, with the root token",
    "get_profile_policy": "governance is the operator's (REST, SDK, CLI)",
    "set_profile_policy": "governance is the operator's",
    "erase": "erasure is irreversible and spans branches and history: a person or the "
    "operator's program asks for it (REST, SDK); an agent retires a memory with forget",
    "list_erasures": "governance is the operator's (REST, SDK)",
    "get_erasure": "governance is the operator's (REST, SDK, CLI verifies receipts)",
    "diff": "an inspector's view of history (REST, SDK, CLI, /ui/); an agent recalls",
    "extract_apply": "applying a reviewed preview is a person's decision (REST, SDK, CLI)",
    "pop_turn": "a framework's session store edits the transcript (REST, SDK), not the agent",
    "delete_turns": "a framework's session store clears the transcript (REST, SDK)",
    "kv_compare_set": "coordination between programs (REST, SDK); an agent uses kv_set",
    "create_profiles": "administration: provisioning is the orchestrator's",
}


def allowed_tools(names: str | None) -> frozenset[str] | None:
    """The tool allow-list from ``--tools a,b`` or ``?tools=a,b``; ``None`` when not given.
    An unknown name is refused (a typo must not silently hide a tool)."""
    if names is None:
        return None
    chosen = frozenset(n.strip() for n in names.split(",") if n.strip())
    unknown = sorted(chosen - set(NAMES))
    if unknown or not chosen:
        raise InvalidInput(
            f"unknown tools: {', '.join(unknown)}" if unknown else "the tool list is empty",
            hint="the tools are: " + ", ".join(NAMES),
        )
    return chosen


__all__ = [
    "BY_NAME",
    "NAMES",
    "NOT_TOOLS",
    "TOOLS",
    "TOOL_OPERATIONS",
    "Backend",
    "Binding",
    "Target",
    "Tool",
    "allowed_tools",
    "bind",
    "call",
]
