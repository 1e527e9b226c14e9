"""MemoturnSession against the OpenAI Agents SDK's Session protocol (the cases of the SDK's
own session tests: order, limit, pop, clear, isolation, settings), on the engine and a live
node (sync and async SDK), plus checkpoint / rewind / branch and a real ``Runner`` run.

The Runner run needs a chat model; none can run here, so ``ScriptedModel`` below is a fake
that answers from a script and records what it was sent (the only fake in this suite)."""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent, RunConfig, Runner
from agents.items import ModelResponse
from agents.memory import Session, SessionSettings
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseOutputMessage, ResponseOutputText
from tests.integrations.conftest import NS, Target, fresh

from memoturn.integrations.openai_agents import MemoturnSession

ITEMS: list[Any] = [
    {"role": "user", "content": "Hello, I am planning a trip to Lisbon"},
    {"role": "assistant", "content": "Lovely! When are you going?"},
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "weather",
        "arguments": '{"city": "Lisbon"}',
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 24°C"},
    {
        "role": "assistant",
        "content": [{"type": "output_text", "text": "It will be sunny.", "annotations": []}],
        "type": "message",
        "id": "msg_7",
        "status": "completed",
    },
    {"role": "developer", "content": "be brief"},
    {"role": "user", "content": "x" * 9000, "type": "message"},  # too big for metadata
]


def run(target: Target, scenario) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        async with target.connect() as client:
            await scenario(client)

    asyncio.run(body())


def test_it_is_a_session_and_items_round_trip_exactly(target: Target) -> None:
    async def scenario(client: Any) -> None:
        s = MemoturnSession("trip", client, NS, fresh())
        assert isinstance(s, Session)
        assert await s.get_items() == []  # the profile does not even exist yet
        await s.add_items(ITEMS[:3])
        await s.add_items(ITEMS[3:])
        await s.add_items([])
        assert await s.get_items() == ITEMS
        # a second session object on the same transcript sees the same
        again = MemoturnSession("trip", client, NS, s.profile)
        assert await again.get_items() == ITEMS

    run(target, scenario)


def test_get_items_limit_and_session_settings(target: Target) -> None:
    async def scenario(client: Any) -> None:
        s = MemoturnSession("lim", client, NS, fresh())
        msgs = [{"role": "user", "content": f"Message {n}"} for n in range(6)]
        await s.add_items(msgs)
        assert await s.get_items(limit=2) == msgs[-2:]
        assert await s.get_items(limit=10) == msgs
        assert await s.get_items(limit=0) == []
        settled = MemoturnSession(
            "lim", client, NS, s.profile, session_settings=SessionSettings(limit=3)
        )
        assert await settled.get_items() == msgs[-3:]
        assert await settled.get_items(limit=1) == msgs[-1:]  # explicit wins

    run(target, scenario)


def test_pop_item_and_clear_session(target: Target) -> None:
    async def scenario(client: Any) -> None:
        s = MemoturnSession("pop", client, NS, fresh())
        assert await s.pop_item() is None
        await s.add_items(ITEMS[:4])
        assert await s.pop_item() == ITEMS[3]
        assert await s.pop_item() == ITEMS[2]
        assert await s.get_items() == ITEMS[:2]
        await s.add_items([ITEMS[4]])
        assert await s.get_items() == [*ITEMS[:2], ITEMS[4]]
        await s.clear_session()
        assert await s.get_items() == [] and await s.pop_item() is None
        await s.clear_session()  # clearing an empty session is fine
        await MemoturnSession("never-used", client, NS, s.profile).clear_session()
        await s.add_items([ITEMS[0]])
        assert await s.get_items() == [ITEMS[0]]

    run(target, scenario)


def test_sessions_are_isolated(target: Target) -> None:
    async def scenario(client: Any) -> None:
        profile = fresh()
        one = MemoturnSession("one", client, NS, profile)
        two = MemoturnSession("two", client, NS, profile)
        other_user = MemoturnSession("one", client, NS, fresh())
        await one.add_items([ITEMS[0]])
        await two.add_items(ITEMS[1:3])
        await other_user.add_items([ITEMS[3]])
        assert await two.pop_item() == ITEMS[2]
        assert await one.get_items() == [ITEMS[0]]
        assert await two.get_items() == [ITEMS[1]]
        assert await other_user.get_items() == [ITEMS[3]]
        await one.clear_session()
        assert await two.get_items() == [ITEMS[1]]

    run(target, scenario)


def test_the_transcript_is_memoturns_own(target: Target) -> None:
    """The items are turns every other edge reads and recall finds."""

    async def scenario(client: Any) -> None:
        s = MemoturnSession("trip", client, NS, fresh())
        await s.add_items(ITEMS[:4])
        h = client.profile(NS, s.profile)
        page = h.read_turns("trip")
        page = await page if asyncio.iscoroutine(page) else page
        assert [(t.role, t.content) for t in page.turns[:2]] == [
            ("user", ITEMS[0]["content"]),
            ("assistant", ITEMS[1]["content"]),
        ]
        assert page.turns[3].role == "tool"
        found = h.recall("trip to Lisbon", scopes=["transcript"], session_id="trip")
        found = await found if asyncio.iscoroutine(found) else found
        assert found.results[0].memory.content == ITEMS[0]["content"]

    run(target, scenario)


def test_checkpoint_rewind_and_branch(target: Target) -> None:
    async def scenario(client: Any) -> None:
        s = MemoturnSession("chat", client, NS, fresh())
        await s.add_items(ITEMS[:2])
        cp = await s.checkpoint("before-tools")
        assert cp.name == "before-tools" and cp.branch == "main"
        await s.add_items(ITEMS[2:4])
        await s.clear_session()
        done = await s.rewind("before-tools")
        assert await s.get_items() == ITEMS[:2]
        # a what-if branch from the checkpoint, isolated both ways
        alt = await s.branch("what-if", from_checkpoint="before-tools")
        assert alt.branch_name == "what-if" and alt.session_id == "chat"
        assert await alt.get_items() == ITEMS[:2]
        await alt.add_items([ITEMS[5]])
        await s.add_items([ITEMS[4]])
        assert await alt.get_items() == [*ITEMS[:2], ITEMS[5]]
        assert await s.get_items() == [*ITEMS[:2], ITEMS[4]]
        # the rewind itself can be undone
        await s.rewind(done.undo_checkpoint)
        assert await s.get_items() == []

    run(target, scenario)


class ScriptedModel(Model):
    """A fake chat model (nothing real can run here): answers from a script, keeps inputs."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.inputs: list[Any] = []

    async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kw: Any):  # type: ignore[no-untyped-def, override]
        self.inputs.append(input)
        text = ResponseOutputText(type="output_text", text=self.answers.pop(0), annotations=[])
        message = ResponseOutputMessage(
            id=f"msg_{len(self.inputs)}",
            type="message",
            role="assistant",
            status="completed",
            content=[text],
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kw: Any):  # type: ignore[no-untyped-def, override]
        raise NotImplementedError("the suite runs Runner.run only")


def test_a_runner_carries_the_conversation_through_the_session(target: Target) -> None:
    async def scenario(client: Any) -> None:
        model = ScriptedModel(["San Francisco", "California"])
        agent = Agent(name="guide", model=model)
        config = RunConfig(tracing_disabled=True)
        s = MemoturnSession("run", client, NS, fresh())
        first = await Runner.run(agent, "Where is the Golden Gate?", session=s, run_config=config)
        assert first.final_output == "San Francisco"
        second = await Runner.run(agent, "Which state?", session=s, run_config=config)
        assert second.final_output == "California"
        sent = model.inputs[1]
        assert [i.get("content") for i in sent if i.get("role") == "user"] == [
            "Where is the Golden Gate?",
            "Which state?",
        ]
        stored = await s.get_items()
        assert len(stored) == 4 and stored[1]["role"] == "assistant"
        assert stored[1]["content"][0]["text"] == "San Francisco"

    run(target, scenario)
