"""multi-agent: a planner, a researcher and an executor share one memory profile.

An orchestrator holding the namespace token provisions the profile and mints one profile
token per agent. The agents talk to two nodes of one deployment (one object store): the
researcher's writes reach node B and are forwarded to node A, which holds the profile's
writer lease. The executor, on its next turn, recalls with the researcher's last txid as
``min_txid`` (read-your-writes on any node) and sees where each fact came from (``source``).
The orchestrator checkpoints the profile when the research is in.

    python examples/multi-agent/main.py      # see README.md for MEMOTURN_URL, MEMOTURN_PEER_URL
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from story import Story

import memoturn
from memoturn.testing import deployment

NS, PROFILE = "lab", "offsite"
FINDINGS = [
    ("Hotel Baixa has a meeting room for 12 and charges 140 euros a night", "hotel"),
    ("TAP flies from Berlin to Lisbon at 07:10 and 15:45 every day", "flights"),
    ("The Lisbon marathon takes the weekend of March 21, so March 14 to 16 is calmer", "dates"),
]


def tell(story: Story) -> None:
    with deployment(nodes=2) as d:
        a, b = d.urls[0], d.urls[-1]
        two = a != b
        story.say(
            f"node A: {a}"
            + (
                f"   node B: {b} (one object store)"
                if two
                else " (one node: set MEMOTURN_PEER_URL for two)"
            )
        )
        with memoturn.Client(a, d.token) as root:
            root.create_namespace(NS)
            ns_token = root.mint_token(NS).token
        with memoturn.Client(a, ns_token) as orchestrator:
            tokens = provision(story, orchestrator)
            with (
                memoturn.Client(a, tokens["planner"]) as planner,
                memoturn.Client(b, tokens["researcher"]) as researcher,
                memoturn.Client(b, tokens["executor"]) as executor,
            ):
                work(story, planner, researcher, executor, orchestrator, two)


def provision(story: Story, orchestrator: memoturn.Client) -> dict[str, str]:
    with story.step("The orchestrator, holding the namespace token, sets up the team"):
        if PROFILE in orchestrator.list_profiles(NS).profiles:
            orchestrator.delete_profile(NS, PROFILE)  # a fresh start on a node of your own
        orchestrator.create_profile(NS, PROFILE)
        scopes = {
            "planner": ["read", "write"],
            "researcher": ["read", "write"],
            "executor": ["read"],
        }
        tokens = {}
        for agent, allowed in scopes.items():
            tokens[agent] = orchestrator.mint_token(NS, PROFILE, scopes=allowed).token
            story.agent(
                f"mints a token for the {agent}: profile {NS}/{PROFILE}, scopes {'+'.join(allowed)}"
            )
        story.check(
            PROFILE in orchestrator.list_profiles(NS).profiles,
            f"profile {NS}--{PROFILE} is provisioned",
        )
    return tokens


def work(story: Story, planner, researcher, executor, orchestrator, two: bool) -> None:  # type: ignore[no-untyped-def]
    shared = {
        "planner": planner.profile(NS, PROFILE),
        "researcher": researcher.profile(NS, PROFILE),
    }
    with story.step("The planner (on node A) writes the plan"):
        plan = shared["planner"].ingest(
            "instruction",
            "Plan the team offsite in Lisbon for 12 people in March",
            source="planner",
        )
        story.agent("ingests the plan with source 'planner'")
        story.memory(f"stored {plan.memory.id} at txid {plan.txid}")
        story.check(not plan.duplicate, "the plan is stored")

    with story.step("The researcher (on node B) ingests what it found, each fact with its source"):
        txids = []
        for content, topic in FINDINGS:
            r = shared["researcher"].ingest(
                "fact",
                content,
                topic=f"offsite-{topic}",
                source="researcher",
                metadata={"found_by": "web search"},
            )
            txids.append(r.txid)
            story.agent(f"ingests {content!r}")
            story.memory(f"stored at txid {r.txid}")
        story.equal(
            txids,
            [plan.txid + 1, plan.txid + 2, plan.txid + 3],
            "one dense history: each write got the next txid",
        )
        if two:
            story.say("(node B does not hold the writer lease: it forwarded each write to node A)")
        last = txids[-1]

    with story.step("The executor (on node B), on its next turn, reads with min_txid"):
        story.agent(f"recalls with min_txid={last}: the researcher's last write must be visible")
        view = executor.profile(NS, PROFILE, min_txid=last)
        hits = view.recall("Where do we stay, when, and how do we fly?", k=10).results
        for h in hits:
            story.memory(f"{h.memory.content!r}  (source: {h.memory.source})")
        found = {h.memory.content: h.memory.source for h in hits}
        story.check(
            all(found.get(c) == "researcher" for c, _ in FINDINGS),
            "every finding is there, marked as the researcher's",
        )
        story.equal(
            found.get("Plan the team offsite in Lisbon for 12 people in March"),
            "planner",
            "the plan is marked as the planner's",
        )
        only = view.recall("offsite", source="researcher", k=10).results
        story.equal(
            sorted(h.memory.content for h in only),
            sorted(c for c, _ in FINDINGS),
            "filtering by source gives exactly the researcher's facts",
        )
        try:
            view.ingest("fact", "Booked Hotel Baixa", source="executor")
            refused = None
        except memoturn.Forbidden as e:
            refused = e.message
            story.memory(f"the executor's write is refused: {refused}")
        story.check(refused is not None, "the executor's token is read-only")

    with story.step("The orchestrator checkpoints the profile now that the research is in"):
        cp = orchestrator.create_checkpoint(NS, PROFILE, "research-done")
        story.agent("creates checkpoint 'research-done'")
        story.memory(f"checkpoint {cp.name!r} pins txid {cp.txid}")
        story.equal(cp.txid, last, "it pins the researcher's last write")
        names = [c.name for c in orchestrator.list_checkpoints(NS, PROFILE)]
        story.check("research-done" in names, "it is listed")


def main() -> int:
    story = Story("multi-agent", "three agents, three tokens, one profile, two nodes")
    return story.run(tell, story)


if __name__ == "__main__":
    sys.exit(main())
