"""Pydantic AI conversations stored in Memoturn: load, run, save; Pydantic AI's own
branches and forks; and a checkpoint and rewind of everything the user has.

    .venv/bin/python examples/integrations/pydantic_ai_conversations.py

Uses Pydantic AI's TestModel so that it runs without a model or an API key: put your own
model in ``Agent(...)``. Runs on an in-process engine in a temporary folder, or against the
node at MEMOTURN_URL (with MEMOTURN_TOKEN, a root or namespace token) when it is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.conversation import Conversation
from pydantic_ai.models.test import TestModel

import memoturn
from memoturn.integrations.pydantic_ai import MemoturnConversationStore


async def main(client: Any) -> None:
    client.create_namespace("acme")
    with contextlib.suppress(memoturn.NotFound):  # a fresh start on every run
        client.delete_profile("acme", "lee")
    agent = Agent(TestModel(custom_output_text="Noted."))
    store = MemoturnConversationStore(client, "acme", "lee")

    conversation = await store.load("trip") or Conversation(conversation_id="trip")
    await store.save(await agent.run("I fly to Oslo on Friday", conversation=conversation))
    await store.checkpoint_profile("after-first-turn")

    conversation = await store.load("trip")
    assert conversation is not None
    await store.save(await agent.run("Book me a hotel too", conversation=conversation))
    print("messages:", len((await store.load("trip")).messages))

    # Pydantic AI's own branch: regenerate from the first exchange, the old tail kept
    conversation = await store.load("trip")
    again = await store.branch("trip", at=2, expected_revision=conversation.revision)
    await store.save(await agent.run("Actually, no hotel", conversation=again))
    print("branches left:", len((await store.read_record("trip")).branches))

    # Memoturn's: the whole profile back to the checkpoint
    await store.rewind_profile("after-first-turn")
    print("after the rewind:", len((await store.load("trip")).messages))
    assert len((await store.load("trip")).messages) == 2


if __name__ == "__main__":
    if os.environ.get("MEMOTURN_URL"):
        with memoturn.Client() as node:  # MEMOTURN_URL, MEMOTURN_TOKEN
            asyncio.run(main(node))
    else:
        with tempfile.TemporaryDirectory() as folder, memoturn.open(folder) as engine:
            asyncio.run(main(engine))
