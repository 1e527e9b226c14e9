"""what-if: speculate on a burner branch.

A support bot's memory is forked into a burner branch with a short TTL. The experiment
ingests freely; main never sees any of it. The branch is listed while it lives, disappears
the moment its TTL lapses, and a garbage-collection run removes it from the store. Forking
is metadata only: its time is printed beside the profile's size to show it stays flat.

    python examples/what-if/main.py      # see README.md for MEMOTURN_URL (a root token)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from story import Story

import memoturn
from memoturn.testing import deployment

NS, PROFILE, BURNER = "acme", "support-bot", "try-60-days"
TTL_S = 8  # long enough for the experiment on a busy machine, short enough to wait for
QUESTION = "Which refund policy applies?"
POLICY_30 = "Answer refund questions with the 30-day policy"
POLICY_60 = "Answer refund questions with the 60-day trial policy"
BLOB = "x" * 60_000  # one KV value, to grow the profile quickly


def contents(profile: memoturn.Profile) -> list[str]:
    return sorted(m.content for m in profile.list_memories().memories)


def tell(story: Story) -> None:
    with deployment() as node, memoturn.Client(node.url, node.token) as admin:
        story.say(
            f"node: {node.url}"
            + (" (a throwaway node started for this run)" if node.throwaway else "")
        )
        admin.create_namespace(NS)
        if PROFILE in admin.list_profiles(NS).profiles:
            admin.delete_profile(NS, PROFILE)  # a fresh start on a node of your own
        admin.create_profile(NS, PROFILE)
        main = admin.profile(NS, PROFILE)
        flat_forks(story, admin, main)
        burner(story, admin, main)


def flat_forks(story: Story, admin: memoturn.Client, main: memoturn.Profile) -> None:
    with story.step("Forking costs the same however big the profile is"):
        main.ingest("instruction", POLICY_30, topic="refund-policy")
        main.ingest("fact", "Refunds go back to the original payment method")
        admin.create_branch(NS, PROFILE, "warm-up")  # the first call of a run pays for imports
        admin.delete_branch(NS, PROFILE, "warm-up")
        written = 0
        for i, target in enumerate((0, 30, 150)):
            while written < target:
                main.kv_set("archive", f"blob-{written:04d}", BLOB)
                written += 1
            head = main.list_memories().memories  # settle before timing
            started = time.perf_counter()
            probe = admin.create_branch(NS, PROFILE, f"probe-{i}")
            elapsed = (time.perf_counter() - started) * 1000
            size = (written * len(BLOB)) / 1e6
            story.agent(
                f"profile holds {len(head)} memories + {written} KV values (~{size:.1f} MB): "
                f"branch 'probe-{i}' forked in {elapsed:.1f} ms at txid {probe.parent_txid}"
            )
            fork = admin.profile(NS, PROFILE, f"probe-{i}")
            story.equal(
                len(fork.kv_list("archive", limit=1000).items),
                written,
                "the fork sees everything main had",
            )
            admin.delete_branch(NS, PROFILE, f"probe-{i}")
        story.say("(a fork writes one small manifest, no data: its time does not follow the size)")


def burner(story: Story, admin: memoturn.Client, main: memoturn.Profile) -> None:
    main_head = {b.name: b.txid for b in admin.list_branches(NS, PROFILE)}["main"]
    with story.step(f"Fork a burner branch with a {TTL_S} s TTL"):
        branch = admin.create_branch(NS, PROFILE, BURNER, ttl_s=TTL_S)
        story.agent(
            f"creates branch {BURNER!r} from main at txid {branch.parent_txid}, ttl {TTL_S} s"
        )
        story.memory(
            f"it expires at {time.strftime('%H:%M:%S', time.localtime(branch.expires_at))}"
        )
        listed = {b.name: b for b in admin.list_branches(NS, PROFILE)}
        story.check(
            BURNER in listed and listed[BURNER].expires_at is not None,
            "it is listed, with its expiry",
        )

    trial = admin.profile(NS, PROFILE, BURNER)
    with story.step("The experiment ingests freely on the burner"):
        r = trial.ingest("instruction", POLICY_60, topic="refund-policy")
        story.agent(f"ingests {POLICY_60!r}")
        story.memory(f"stored at txid {r.txid}, replacing the 30-day policy on this branch")
        trial.ingest("fact", "Trial customers get store credit instead of cash")
        trial.kv_set("experiment", "variant", {"refund_days": 60})
        story.agent("adds a fact and sets experiment/variant in KV")
        hit = trial.recall(QUESTION, k=1).results
        story.memory(
            f"recall on the burner: {hit[0].memory.content!r}"
            if hit
            else "recall on the burner: nothing"
        )
        story.check(
            bool(hit) and hit[0].memory.content == POLICY_60,
            "the burner answers with the 60-day policy",
        )

    with story.step("Main never sees it"):
        hit = main.recall(QUESTION, k=5).results
        story.memory(f"recall on main: {[h.memory.content for h in hit]}")
        story.check(
            POLICY_60 not in [h.memory.content for h in hit],
            "main still answers with the 30-day policy only",
        )
        story.equal(
            contents(main),
            sorted([POLICY_30, "Refunds go back to the original payment method"]),
            "main holds exactly what it held",
        )
        story.check(not main.kv_list("experiment").items, "main has no experiment KV")
        now_head = {b.name: b.txid for b in admin.list_branches(NS, PROFILE)}["main"]
        story.equal(now_head, main_head, "main's history did not move")

    with story.step("The TTL lapses: the branch is gone from every read"):
        deadline = branch.expires_at + 30  # allow for clock skew with a remote node
        while (
            BURNER in [b.name for b in admin.list_branches(NS, PROFILE)] and time.time() < deadline
        ):
            time.sleep(0.2)
        names = [b.name for b in admin.list_branches(NS, PROFILE)]
        story.memory(f"branches now: {names}")
        story.check(BURNER not in names, "it is no longer listed")
        try:
            trial.list_memories()
            gone = None
        except memoturn.NotFound as e:
            gone = e.message
            story.memory(f"reading it: 404 {gone}")
        story.check(gone is not None, "reading it is a 404")

    with story.step("A garbage-collection run collects it"):
        reports = {r.db: r for r in admin.gc()}
        mine = reports.get(f"{NS}--{PROFILE}")
        story.agent("runs one garbage collection on the node (POST /v1/gc, root)")
        if mine is not None:
            story.memory(
                f"{mine.db}: expired branches removed {mine.expired_branches}, "
                f"{mine.deleted} objects deleted"
            )
        story.say(
            "(its data objects are now unreachable; a later run deletes them once they are an hour "
            "old, the guard for writes still in flight)"
        )
        story.check(
            mine is not None and BURNER in mine.expired_branches,
            "the burner was removed from the store",
        )
        again = admin.create_branch(NS, PROFILE, BURNER)
        story.check(
            again.expires_at is None
            and contents(admin.profile(NS, PROFILE, BURNER)) == contents(main),
            "its name is free again: a new branch by that name starts from main",
        )
        admin.delete_branch(NS, PROFILE, BURNER)


def main() -> int:
    story = Story("what-if", "speculation on a burner branch")
    return story.run(tell, story)


if __name__ == "__main__":
    sys.exit(main())
