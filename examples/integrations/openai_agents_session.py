"""An OpenAI Agents SDK session kept in Memoturn: the verbatim transcript, searchable, with
checkpoints, rewind and what-if branches of the whole profile.

    .venv/bin/python examples/integrations/openai_agents_session.py

The Runner calls get_items/add_items itself (``Runner.run(agent, text, session=session)``);
so that this example runs without a model or an API key, it adds the items a run would.
Runs on an in-process engine in a temporary folder, or against the node at MEMOTURN_URL
(with MEMOTURN_TOKEN, a root or namespace token) when it is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from typing import Any

import memoturn
from memoturn.integrations.openai_agents import MemoturnSession


async def main(client: Any) -> None:
    client.create_namespace("acme")
    with contextlib.suppress(memoturn.NotFound):  # a fresh start on every run
        client.delete_profile("acme", "sam")
    session = MemoturnSession("support-42", client, "acme", "sam")
    await session.add_items(
        [
            {"role": "user", "content": "My order 1182 arrived broken"},
            {"role": "assistant", "content": "Sorry! Do you want a refund or a new one?"},
        ]
    )
    await session.checkpoint("before-decision")

    # a what-if branch: the refund path, tried without touching main
    refund = await session.branch("refund-path", from_checkpoint="before-decision", ttl_s=3600)
    await refund.add_items([{"role": "user", "content": "A refund, please"}])

    await session.add_items([{"role": "user", "content": "A replacement, please"}])
    print("main:  ", [i["content"] for i in await session.get_items()])
    print("branch:", [i["content"] for i in await refund.get_items()])

    print("popped:", (await session.pop_item())["content"])
    await session.rewind("before-decision")  # undoable: the answer names an undo checkpoint
    assert len(await session.get_items()) == 2

    # the transcript is Memoturn's: every other edge reads it, recall finds it
    hits = client.profile("acme", "sam").recall("broken order", scopes=["transcript"]).results
    print("recall:", hits[0].memory.content)


if __name__ == "__main__":
    if os.environ.get("MEMOTURN_URL"):
        with memoturn.Client() as node:  # MEMOTURN_URL, MEMOTURN_TOKEN
            asyncio.run(main(node))
    else:
        with tempfile.TemporaryDirectory() as folder, memoturn.open(folder) as engine:
            asyncio.run(main(engine))
