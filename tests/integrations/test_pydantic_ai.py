"""MemoturnConversationStore against Pydantic AI's ConversationStore contract, on the engine
and a live node (sync and async SDK). Each scenario also runs on Pydantic AI's own
InMemoryConversationStore, the reference: both must give the same answers.

The agent run uses Pydantic AI's own ``FunctionModel`` test helper, a scripted stand-in
for a chat model (none can run here)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import (
    ConversationConflict,
    ConversationStore,
    InMemoryConversationStore,
)
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from tests.integrations.conftest import NS, Target, fresh

from memoturn.integrations.pydantic_ai import SPACE, MemoturnConversationStore

Scenario = Callable[[ConversationStore], Awaitable[Any]]


def both(target: Target, scenario: Scenario) -> None:
    """Run ``scenario`` on Memoturn and on the reference store; their answers must agree."""

    async def body() -> None:
        async with target.connect() as client:
            ours = await scenario(MemoturnConversationStore(client, NS, fresh()))
        theirs = await scenario(InMemoryConversationStore())
        assert ours == theirs

    asyncio.run(body())


def ask(text: str) -> ModelRequest:
    return ModelRequest(parts=[UserPromptPart(content=text)])


def answer(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(content=text)])


def texts(messages: list[ModelMessage]) -> list[str]:
    return [str(m.parts[0].content) for m in messages]  # type: ignore[union-attr]


def test_save_load_and_append(target: Target) -> None:
    async def scenario(store: ConversationStore) -> Any:
        assert await store.load("c1") is None
        c = Conversation(conversation_id="c1", messages=[ask("hi"), answer("hello")])
        first = await store.save(c, scope="alice")
        c.messages.extend([ask("how are you?"), answer("fine")])
        second = await store.save(c)
        assert await store.save(c) == []  # nothing new
        loaded = await store.load("c1")
        assert loaded is not None and loaded.revision == c.revision
        last_two = await store.load("c1", limit=2)
        entries = await store.load_entries("c1")
        assert [e.id for e in entries] == [e.id for e in first + second]
        assert entries[1].parent_id == entries[0].id
        return [len(first), len(second), texts(loaded.messages), texts(last_two.messages)]

    both(target, scenario)


def test_concurrent_saves_conflict(target: Target) -> None:
    async def scenario(store: ConversationStore) -> Any:
        await store.save(Conversation(conversation_id="c", messages=[ask("a")]))
        one, two = await store.load("c"), await store.load("c")
        one.messages.append(answer("from one"))
        two.messages.append(answer("from two"))
        await store.save(one)
        with pytest.raises(ConversationConflict):
            await store.save(two)  # loaded at the revision one replaced
        with pytest.raises(ConversationConflict):
            await store.save(Conversation(conversation_id="c", messages=[ask("new")]))
        return texts((await store.load("c")).messages)

    both(target, scenario)


def test_branch_fork_list_and_delete(target: Target) -> None:
    async def scenario(store: ConversationStore) -> Any:
        c = Conversation(
            conversation_id="main-chat",
            messages=[ask("q1"), answer("a1"), ask("q2"), answer("a2")],
        )
        await store.save(c, scope="alice")
        entries = await store.load_entries("main-chat")
        redo = await store.branch("main-chat", at=2, expected_revision=c.revision)
        redo.messages.extend([ask("q2 again"), answer("a2 again")])
        await store.save(redo)
        record = await store.read_record("main-chat")
        assert record is not None and record.branches == [entries[-1].id]
        back = await store.branch(
            "main-chat", from_entry=entries[-1].id, expected_revision=redo.revision
        )
        fork = await store.fork("main-chat", at=1, new_conversation_id="what-if", scope="bob")
        fork.messages.extend([ask("other"), answer("path")])
        await store.save(fork)
        with pytest.raises(UserError):
            await store.branch("main-chat", at=99, expected_revision=back.revision)
        listed = [r.conversation_id for r in await store.list_conversations()]
        alices = [r.conversation_id for r in await store.list_conversations(scope="alice")]
        assert await store.load("main-chat", scope="bob") is None
        await store.delete("main-chat", scope="bob")  # not bob's: left as it is
        assert await store.load("main-chat") is not None
        await store.delete("main-chat")
        after = [r.conversation_id for r in await store.list_conversations()]
        forked = texts((await store.load("what-if")).messages)  # shares deleted entries
        again = Conversation(conversation_id="main-chat", messages=[ask("fresh start")])
        await store.save(again)  # a deleted id can be used anew
        return [
            texts(back.messages),
            sorted(listed),
            alices,
            after,
            forked,
            texts((await store.load("main-chat")).messages),
        ]

    both(target, scenario)


def test_compare_and_set_is_what_stops_a_lost_update(target: Target) -> None:
    """The protocol's revision check holds even when another writer saves between our
    check and our write: the record's compare-and-set refuses it."""

    async def body() -> None:
        async with target.connect() as client:
            store = MemoturnConversationStore(client, NS, fresh())
            c = Conversation(conversation_id="c", messages=[ask("a")])
            await store.save(c)
            rival = await store.load("c")
            rival.messages.append(answer("rival"))
            real_stored = store._stored
            calls = 0

            async def stale_read(conversation_id: str) -> Any:
                nonlocal calls
                raw = await real_stored(conversation_id)
                calls += 1
                if calls == 2:  # write_record's read (the first is save's read_record)
                    await store.save(rival)  # lands after our check, before our write
                return raw

            store._stored = stale_read  # type: ignore[method-assign]
            c.messages.append(answer("ours"))
            with pytest.raises(ConversationConflict):
                await store.save(c)
            store._stored = real_stored  # type: ignore[method-assign]
            h = client.profile(NS, store.profile)
            page = h.kv_list(SPACE, prefix="entry/")
            page = await page if asyncio.iscoroutine(page) else page
            assert len(page.items) == 3  # ours got past the check: the CAS refused it
            assert texts((await store.load("c")).messages) == ["a", "rival"]

    asyncio.run(body())


def test_checkpoint_rewind_and_branch_of_the_profile(target: Target) -> None:
    async def body() -> None:
        async with target.connect() as client:
            store = MemoturnConversationStore(client, NS, fresh())
            c = Conversation(conversation_id="c", messages=[ask("a"), answer("b")])
            await store.save(c)
            await store.checkpoint_profile("two-messages")
            c.messages.extend([ask("c"), answer("d")])
            await store.save(c)
            await store.save(Conversation(conversation_id="other", messages=[ask("x")]))
            alt = await store.branch_profile("alt", from_checkpoint="two-messages")
            await store.rewind_profile("two-messages")
            assert texts((await store.load("c")).messages) == ["a", "b"]
            assert await store.load("other") is None
            assert texts((await alt.load("c")).messages) == ["a", "b"]
            # the conversation is Memoturn's own data: KV keys of the profile
            h = client.profile(NS, store.profile)
            page = h.kv_list(SPACE, prefix="record/")
            page = await page if asyncio.iscoroutine(page) else page
            assert [i.key for i in page.items] == ["record/c"]

    asyncio.run(body())


def test_an_agent_continues_a_stored_conversation(target: Target) -> None:
    seen: list[list[str]] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts = [
            str(p.content) for m in messages for p in m.parts if isinstance(p, UserPromptPart)
        ]
        seen.append(prompts)
        return ModelResponse(parts=[TextPart(content=f"answer {len(prompts)}")])

    agent = Agent(FunctionModel(reply))

    async def body() -> None:
        async with target.connect() as client:
            store = MemoturnConversationStore(client, NS, fresh())
            conversation = Conversation(conversation_id="chat")
            result = await agent.run("my name is Ada", conversation=conversation)
            await store.save(result)
            loaded = await store.load("chat")
            assert loaded is not None
            again = await agent.run("what is my name?", conversation=loaded)
            await store.save(again)
            assert again.output == "answer 2"
            assert seen[-1] == ["my name is Ada", "what is my name?"]
            assert len((await store.load("chat")).messages) == 4

    asyncio.run(body())
