"""The agent loop the assistant demos share, over MCP (the real ``mcp`` client, streamable
HTTP at ``/mcp`` on the node).

Each conversation turn is a :class:`Turn`: what the user says, the tool calls a careful
agent makes, and its reply. By default a :class:`ScriptedAgent` makes exactly those calls
(deterministic, offline). With ``MEMOTURN_LLM_URL`` (an OpenAI-compatible chat endpoint;
``MEMOTURN_LLM_MODEL``, ``MEMOTURN_LLM_KEY`` optional) a :class:`ModelAgent` lets the model
choose the calls from the same MCP tools. Either way the loop records every turn verbatim in
the session's transcript.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from story import Story, brief


class ToolError(RuntimeError):
    def __init__(self, tool: str, error: dict[str, str]) -> None:
        super().__init__(f"{tool}: {error.get('code')}: {error.get('message')}")
        self.error = error


class Mcp:
    """One MCP session: ``call`` returns a tool's JSON result, raising :class:`ToolError`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def tools(self) -> list[Any]:
        return list((await self._client.list_tools()).tools)

    async def call(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        result = await self._client.call_tool(tool, arguments)
        body = result.structured_content
        if body is None:  # a client that only kept the text
            body = json.loads(result.content[0].text)  # type: ignore[union-attr]
        if result.is_error:
            raise ToolError(tool, body.get("error", {}))
        return body  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def mcp_session(url: str, token: str, query: str = "") -> AsyncIterator[Mcp]:
    """An MCP session on the node at ``url`` as the holder of ``token``."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        transport = streamable_http_client(f"{url}/mcp{query}", http_client=http)
        async with Client(transport) as client:  # type: ignore[arg-type]
            yield Mcp(client)


@dataclasses.dataclass
class Turn:
    """One exchange: the user's words, the tool calls a careful agent makes for them, and
    its reply."""

    user: str
    calls: list[tuple[str, dict[str, Any]]]
    reply: str
    note: str = ""
    """Context for a model (e.g. when the conversation took place); not part of the
    transcript."""


@dataclasses.dataclass
class Done:
    """What an agent did in one turn: its reply and each tool call with its answer."""

    reply: str
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]]

    def answers(self, tool: str) -> list[dict[str, Any]]:
        return [answer for name, _, answer in self.calls if name == tool]


def narrate_call(story: Story, tool: str, args: dict[str, Any], answer: dict[str, Any]) -> None:
    story.agent(f"{tool} {brief(args)}")
    story.memory(summary(tool, answer))


def summary(tool: str, answer: dict[str, Any]) -> str:
    """What memory answered, in words."""
    if "error" in answer:
        return f"refused: {answer['error'].get('code')}: {answer['error'].get('message')}"
    if tool == "memory_ingest":
        m = answer["memory"]
        if answer["duplicate"]:
            return f"already known as {m['id']}: nothing written (still txid {answer['txid']})"
        replaced = f", replacing {', '.join(answer['superseded'])}" if answer["superseded"] else ""
        return f"stored {m['id']} at txid {answer['txid']}{replaced}"
    if tool == "memory_recall":
        hits = answer["results"]
        if not hits:
            return "nothing relevant"
        return "; ".join(f"{h['memory']['content']!r} (score {h['score']:.2f})" for h in hits[:3])
    if tool == "memory_history":
        versions = answer["versions"]
        until = [
            "current" if v["valid_to"] is None else f"until {v['valid_to'][:10]}" for v in versions
        ]
        return " -> ".join(f"{v['content']!r} ({u})" for v, u in zip(versions, until, strict=True))
    if tool == "checkpoint_create":
        return f"checkpoint {answer['name']!r} pins txid {answer['txid']}"
    if tool == "rewind":
        return f"rewound; now at txid {answer['txid']}, undo with {answer['undo_checkpoint']!r}"
    if tool == "branch_create":
        fork = f"{answer['parent']} at txid {answer['parent_txid']}"
        return f"branch {answer['name']!r} forked from {fork}"
    if tool == "session_end":
        return f"session ended; {answer['deleted_tasks']} task(s) deleted at txid {answer['txid']}"
    if "txid" in answer:
        return f"ok at txid {answer['txid']}"
    return brief(answer)


class ScriptedAgent:
    """Makes exactly the calls of each turn: the demo is deterministic."""

    driven_by_model = False

    async def respond(self, story: Story, mcp: Mcp, turn: Turn) -> Done:
        done = Done(turn.reply, [])
        for tool, args in turn.calls:
            try:
                answer = await mcp.call(tool, **args)
            except ToolError as e:
                answer = {"error": e.error}
            narrate_call(story, tool, args, answer)
            done.calls.append((tool, args, answer))
        return done


class ModelAgent:
    """A chat model (OpenAI-compatible ``/chat/completions`` with tools) chooses the calls
    from the MCP tools on offer, up to ``max_rounds`` rounds per turn."""

    driven_by_model = True

    def __init__(self, url: str, model: str, key: str | None, system: str) -> None:
        self._url = url.rstrip("/")
        self._model = model
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        self.max_rounds = 8

    def describe(self) -> str:
        return f"model {self._model!r} at {self._url}"

    @classmethod
    def from_env(cls, system: str) -> ModelAgent | None:
        url = os.environ.get("MEMOTURN_LLM_URL")
        if not url:
            return None
        model = os.environ.get("MEMOTURN_LLM_MODEL", "default")
        return cls(url, model, os.environ.get("MEMOTURN_LLM_KEY"), system)

    async def respond(self, story: Story, mcp: Mcp, turn: Turn) -> Done:
        tools = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description or "",
                    "parameters": t.input_schema,
                },
            }
            for t in await mcp.tools()
        ]
        if turn.note:
            self._messages.append({"role": "system", "content": turn.note})
        self._messages.append({"role": "user", "content": turn.user})
        done = Done("", [])
        async with httpx.AsyncClient(timeout=120, headers=self._headers) as http:
            for _ in range(self.max_rounds):
                body = {"model": self._model, "messages": self._messages, "tools": tools}
                r = await http.post(f"{self._url}/chat/completions", json=body)
                r.raise_for_status()
                message = r.json()["choices"][0]["message"]
                self._messages.append(message)
                calls = message.get("tool_calls") or []
                if not calls:
                    done.reply = message.get("content") or ""
                    return done
                for c in calls:
                    tool, args = (
                        c["function"]["name"],
                        json.loads(c["function"]["arguments"] or "{}"),
                    )
                    try:
                        answer = await mcp.call(tool, **args)
                    except ToolError as e:
                        answer = {"error": e.error}
                    narrate_call(story, tool, args, answer)
                    done.calls.append((tool, args, answer))
                    self._messages.append(
                        {"role": "tool", "tool_call_id": c["id"], "content": json.dumps(answer)}
                    )
        done.reply = "(the model did not finish within its rounds)"
        return done


async def converse(
    story: Story, agent: ScriptedAgent | ModelAgent, mcp: Mcp, session_id: str, turn: Turn
) -> Done:
    """One turn of the loop: the user's words and the agent's reply go into the session's
    transcript verbatim; in between the agent uses its tools."""
    story.user(turn.user)
    await mcp.call("transcript_append", session_id=session_id, role="user", content=turn.user)
    done = await agent.respond(story, mcp, turn)
    story.say(f"reply:  {done.reply}")
    await mcp.call("transcript_append", session_id=session_id, role="assistant", content=done.reply)
    return done
