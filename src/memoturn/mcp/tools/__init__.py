"""Every MCP tool of API.md, in the order they are listed (the names are fixed)."""

from __future__ import annotations

from memoturn.mcp.tools import history, memories, store
from memoturn.mcp.tools.base import Backend, Binding, Target, Tool, bind, call

TOOLS: tuple[Tool, ...] = memories.TOOLS + store.TOOLS + history.TOOLS
BY_NAME: dict[str, Tool] = {t.name: t for t in TOOLS}
NAMES: tuple[str, ...] = tuple(BY_NAME)

__all__ = ["BY_NAME", "NAMES", "TOOLS", "Backend", "Binding", "Target", "Tool", "bind", "call"]
