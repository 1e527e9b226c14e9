"""support-agent: one memory profile per customer, and a ticket that moves.

Acme's support agent serves Alice from her own profile (acme--alice) and Bob from his
(acme--bob). Ticket #88 gets a follow-up task scoped to the support session (24 h default
TTL); the ticket's status supersedes itself as it moves; the conversation is kept verbatim;
ending the session deletes its tasks in one call; and Bob's agent, holding Bob's token, can
never see Alice's ticket: 403, and nothing revealed.

    python examples/support-agent/main.py      # see README.md for MEMOTURN_URL, MEMOTURN_LLM_URL
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import ModelAgent, ScriptedAgent, ToolError, Turn, converse, mcp_session, narrate_call
from story import Story, epoch

import memoturn
from memoturn.testing import deployment

NS = "acme"
SESSION = "ticket-88"
STATUS = "ticket-88-status"
SYSTEM = (
    "You are Acme's support agent, talking to the customer Alice about ticket #88, in "
    f"session {SESSION!r}. Keep the ticket's status as one memory of type 'fact' with topic "
    f"{STATUS!r} (each new status replaces the old). When you promise to do something, "
    f"store it as a memory of type 'task' with session_id {SESSION!r}. Reply briefly."
)
OPENING = "Hi, I was charged twice for order #A-1042 😕\n   Could I get a refund?  "


def script(now: float = 0.0) -> dict[str, Turn]:
    def status(text: str) -> tuple[str, dict[str, Any]]:
        return ("memory_ingest", {"type": "fact", "topic": STATUS, "content": text})

    return {
        "open": Turn(
            OPENING,
            [
                status("Ticket #88 is open: Alice was charged twice for order #A-1042"),
                (
                    "memory_ingest",
                    {
                        "type": "task",
                        "session_id": SESSION,
                        "content": "Follow up on the refund for ticket #88",
                    },
                ),
            ],
            "Sorry about that! Ticket #88 is open and I will follow up on the refund.",
        ),
        "news": Turn(
            "Any news on my refund?",
            [
                ("memory_recall", {"query": "ticket #88 refund status", "k": 3}),
                status("Ticket #88: the refund is approved and waiting on finance"),
            ],
            "Good news: the refund is approved and with finance now.",
        ),
        "done": Turn(
            "The money arrived, thanks!",
            [status("Ticket #88 is resolved: the duplicate charge was refunded")],
            "Glad to hear it! Ticket #88 is resolved.",
        ),
    }


async def tell(story: Story, agent: ScriptedAgent | ModelAgent) -> None:
    with deployment() as node:
        story.say(
            f"node: {node.url}"
            + (" (a throwaway node started for this run)" if node.throwaway else "")
        )
        with memoturn.Client(node.url, node.token) as admin:
            tokens = provision(story, admin)
        with (
            memoturn.Client(node.url, tokens["alice"]) as alice_sdk,
            memoturn.Client(node.url, tokens["bob"]) as bob_sdk,
        ):
            async with mcp_session(node.url, tokens["alice"]) as mcp:
                ticket = await ticket_88(story, agent, mcp, alice_sdk.profile(NS, "alice"))
            await bobs_agent(story, node.url, tokens["bob"], bob_sdk, ticket)


def provision(story: Story, admin: Any) -> dict[str, str]:
    with story.step("Acme provisions one profile per customer"):
        admin.create_namespace(NS)
        for name in ("alice", "bob"):
            if name in admin.list_profiles(NS).profiles:
                admin.delete_profile(NS, name)  # a fresh start on a node of your own
            admin.create_profile(NS, name)
        story.agent("creates profiles alice and bob in namespace acme: ids acme--alice, acme--bob")
        try:
            admin.create_profile(NS, "alice--2")
            refused = None
        except memoturn.InvalidInput as e:
            refused = e
            story.memory(f"a profile named 'alice--2' is refused: {e.message}")
        story.check(
            refused is not None, "'--' never appears in a name, so acme--alice is unambiguous"
        )
        story.check(
            {"alice", "bob"} <= set(admin.list_profiles(NS).profiles), "both profiles exist"
        )
        tokens = {n: admin.mint_token(NS, n).token for n in ("alice", "bob")}
        story.agent("mints a profile token for each customer's agent")
    return tokens


async def ticket_88(story: Story, agent: Any, mcp: Any, alice: Any) -> dict[str, Any]:
    with story.step("Alice writes in: ticket #88 opens, with a follow-up task for this session"):
        done = await converse(story, agent, mcp, SESSION, script()["open"])
        tasks = [
            a["memory"] for a in done.answers("memory_ingest") if a["memory"]["type"] == "task"
        ]
        story.check(len(tasks) == 1, "one follow-up task was stored", model_dependent=True)
        for t in tasks:
            ttl = round(epoch(t["expires_at"]) - epoch(t["created_at"]), 3)  # times in µs
            story.memory(
                f"task {t['content']!r} expires {t['expires_at']}, "
                f"{ttl / 3600:.0f} h after it was made"
            )
            story.equal(
                ttl, 24 * 3600.0, "a session task lives 24 h by default", model_dependent=True
            )
            story.equal(t["session_id"], SESSION, "it is scoped to the session")

    with story.step("The ticket moves: refund approved, then resolved"):
        await converse(story, agent, mcp, SESSION, script()["news"])
        await converse(story, agent, mcp, SESSION, script()["done"])
        history = await mcp.call("memory_history", topic=STATUS)
        narrate_call(story, "memory_history", {"topic": STATUS}, history)
        versions = history["versions"]
        story.equal(len(versions), 3, "the status has three versions", model_dependent=True)
        story.check(
            all(v["valid_to"] for v in versions[:-1]) and not versions[-1]["valid_to"],
            "each replaced the one before; only the last is current",
            model_dependent=True,
        )
        hits = await mcp.call("memory_recall", query="what is the status of ticket #88?", k=5)
        narrate_call(story, "memory_recall", {"query": "what is the status of ticket #88?"}, hits)
        offered = [h["memory"]["content"] for h in hits["results"]]
        story.check(
            bool(versions)
            and offered[:1] == [versions[-1]["content"]]
            and not {v["content"] for v in versions[:-1]} & set(offered),
            "recall offers the current status only",
            model_dependent=True,
        )

    with story.step("The conversation is kept verbatim"):
        read = await mcp.call("transcript_read", session_id=SESSION)
        said = [(t["role"], t["content"]) for t in read["turns"]]
        story.memory(f"{len(said)} turns; the first: {said[0][1]!r}")
        story.equal(said[0], ("user", OPENING), "the first turn is byte for byte what Alice wrote")
        story.equal(
            [r for r, _ in said], ["user", "assistant"] * 3, "every turn is there, in order"
        )

    with story.step("The session ends: its tasks go in one call, the ticket's history stays"):
        open_tasks = alice.list_memories(type="task", session_id=SESSION).memories
        kept = [
            m.id for m in alice.list_memories(include_history=True).memories if m.type != "task"
        ]
        story.say(f"before: {len(open_tasks)} open task(s), {len(kept)} other memories")
        ended = await mcp.call("session_end", session_id=SESSION)
        narrate_call(story, "session_end", {"session_id": SESSION}, ended)
        story.equal(
            ended["deleted_tasks"], len(open_tasks), "every task of the session was deleted"
        )
        story.equal(
            alice.list_memories(type="task", session_id=SESSION).memories, [], "no task is left"
        )
        after = [
            m.id for m in alice.list_memories(include_history=True).memories if m.type != "task"
        ]
        story.equal(after, kept, "the ticket's status history is untouched")
        try:
            await mcp.call("memory_ingest", type="task", content="late task", session_id=SESSION)
            closed = False
        except ToolError as e:
            closed = e.error.get("code") == "conflict"
            story.memory(f"a new task for the ended session is refused: {e.error.get('message')}")
        story.check(closed, "the ended session takes no new tasks")
    current = alice.list_memories(topic=STATUS).memories
    return {"id": current[0].id if current else None}


async def bobs_agent(
    story: Story, url: str, bob_token: str, bob_sdk: Any, ticket: dict[str, Any]
) -> None:
    with story.step("Bob's agent, with Bob's token, can never see Alice's ticket"):
        attempts: list[tuple[str, Any]] = [
            ("recall on acme/alice", lambda: bob_sdk.profile(NS, "alice").recall("ticket #88")),
            ("list acme/alice", lambda: bob_sdk.profile(NS, "alice").list_memories().memories),
            ("a profile that does not exist", lambda: bob_sdk.profile(NS, "nobody").recall("x")),
        ]
        if ticket["id"]:
            attempts.insert(
                2,
                (
                    "read the ticket by id",
                    lambda: bob_sdk.profile(NS, "alice").get_memory(ticket["id"]).memory,
                ),
            )
        answers = []
        for what, attempt in attempts:
            try:
                attempt()
                answers.append(None)
                story.memory(f"{what}: answered (!)")
            except memoturn.MemoturnError as e:
                answers.append((e.status, e.message))
                story.memory(f"{what}: {e.status} {e.message}")
        story.check(all(a is not None and a[0] == 403 for a in answers), "every attempt is a 403")
        story.check(
            len(set(answers)) == 1,
            "alice's refusal is word for word a missing profile's: nothing revealed",
        )
        async with mcp_session(url, bob_token, "?profile=alice") as mcp:
            try:
                await mcp.call("memory_recall", query="ticket #88")
                refused: dict[str, Any] = {}
            except ToolError as e:
                refused = e.error
            story.memory(f"over MCP, naming alice: {refused.get('code')}: {refused.get('message')}")
            story.equal(refused.get("code"), "forbidden", "MCP refuses it the same way")
        own = bob_sdk.profile(NS, "bob").recall("ticket #88 refund", k=5).results
        story.equal(own, [], "Bob's own profile knows nothing of it")


def main() -> int:
    model = ModelAgent.from_env(SYSTEM)
    story = Story(
        "support-agent",
        "per-customer profiles and a ticket that moves",
        model_driven=model is not None,
    )
    if model is not None:
        story.say(f"a chat model drives the agent: {model.describe()}")
    return story.run(tell, story, model or ScriptedAgent())


if __name__ == "__main__":
    sys.exit(main())
