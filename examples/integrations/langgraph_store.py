"""LangGraph long-term memory in Memoturn: one profile per user, searched by meaning, and
rewound when a run goes wrong.

    .venv/bin/python examples/integrations/langgraph_store.py

Runs on an in-process engine in a temporary folder, or against the node at MEMOTURN_URL
(with MEMOTURN_TOKEN, a root or namespace token) when it is set.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, TypedDict

from langgraph.config import get_store
from langgraph.graph import START, StateGraph

import memoturn
from memoturn.integrations.langgraph import MemoturnStore


class State(TypedDict):
    user: str
    said: str
    reply: str


def respond(state: State) -> dict[str, str]:
    """A graph node: recall what the user told us before, then remember what they said."""
    store = get_store()
    facts = (state["user"], "facts")  # the first label is the Memoturn profile
    known = store.search(facts, query=state["said"], limit=1)
    reply = f"You told me: {known[0].value['text']}" if known else "Noted."
    store.put(facts, f"fact-{len(store.search(facts, limit=1000))}", {"text": state["said"]})
    return {"reply": reply}


def start_fresh(client: Any) -> None:
    """The example's namespace, and no profile left from an earlier run."""
    client.create_namespace("acme")
    with contextlib.suppress(memoturn.NotFound):
        client.delete_profile("acme", "ada")


def main(client: Any) -> None:
    start_fresh(client)
    store = MemoturnStore(client, "acme")  # profile_label=0: ("ada", ...) is acme/ada
    builder = StateGraph(State)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    graph = builder.compile(store=store)

    print(graph.invoke({"user": "ada", "said": "I am allergic to peanuts", "reply": ""})["reply"])
    client.create_checkpoint("acme", "ada", "before-import")
    store.put(("ada", "prefs"), "tone", {"text": "answer like a pirate"}, ttl=60)  # minutes
    answer = graph.invoke({"user": "ada", "said": "can I eat peanut butter?", "reply": ""})
    print(answer["reply"])
    assert answer["reply"] == "You told me: I am allergic to peanuts"

    client.rewind("acme", "ada", checkpoint="before-import")  # the whole profile goes back
    assert store.get(("ada", "prefs"), "tone") is None
    print("after the rewind:", [i.key for i in store.search(("ada",), limit=10)])
    print("namespaces:", store.list_namespaces(prefix=("ada",)))


if __name__ == "__main__":
    if os.environ.get("MEMOTURN_URL"):
        with memoturn.Client() as node:  # MEMOTURN_URL, MEMOTURN_TOKEN
            main(node)
    else:
        with tempfile.TemporaryDirectory() as folder, memoturn.open(folder) as engine:
            main(engine)
