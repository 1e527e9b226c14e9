"""governance: a regulated namespace, end to end.

A clinic keeps one memory profile per patient. Root sets the namespace's policy (retention,
a cap on task TTLs, AI egress ``deny``, audit on, a short erasure grace for the demo); a
profile override that tries to loosen it is refused, one that tightens it is taken; a
task's TTL is capped. The audit stream shows every operation with no content in it, and
``memoturn audit verify`` checks its chain. Then the patient invokes the right to be
forgotten: the erasure is first blocked by a checkpoint that still holds the memory (and
says so), completes once the checkpoint is deleted, and its signed receipt verifies; a scan
of the object store finds no copy of the forgotten words.

    python examples/governance/main.py      # see README.md for MEMOTURN_URL (a root token)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from story import Story, brief

import memoturn
from memoturn.testing import deployment

NS, PROFILE = "clinic", "patient-0042"
POLICY = {
    "retention_s": 365 * 86400,  # nothing older than a year
    "task_ttl_max_s": 3600,  # a task lives an hour at most
    "ai_egress": "deny",  # content never leaves for a third-party or hosted model
    "audit": True,
    "erasure_grace_s": 1,  # rewrite object-store history a second later (demo only)
}
SECRET = "Patient reports a penicillin allergy (canary 7f3a91)"
CANARY = "canary 7f3a91"
KEPT = "Patient prefers morning appointments"


def memoturn_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``memoturn`` command of this interpreter's environment."""
    return subprocess.run(
        [sys.executable, "-m", "memoturn", *args], capture_output=True, text=True, timeout=120
    )


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
        patient = admin.profile(NS, PROFILE)
        started = time.time()
        policy(story, admin, patient)
        erasure(story, admin, patient, node.object_store)
        audit(story, admin, started, node.object_store)


def policy(story: Story, admin: memoturn.Client, patient: memoturn.Profile) -> None:
    with story.step("Root sets the namespace's policy"):
        story.agent(f"PUT /v1/namespaces/{NS}/policy {json.dumps(POLICY)}")
        set_to = admin.set_policy(NS, POLICY)
        story.memory(f"policy: {brief(set_to.to_dict())}")
        story.equal(set_to.ai_egress, "deny", "AI egress is denied")
        story.equal(set_to.task_ttl_max_s, 3600, "tasks are capped at an hour")

    with story.step("A profile override may tighten the policy, never loosen it"):
        story.agent("sets the patient's override to ai_egress 'any'")
        try:
            admin.set_profile_policy(NS, PROFILE, {"ai_egress": "any"})
            refused = None
        except memoturn.InvalidInput as e:
            refused = e
            story.memory(f"400 {e.code}: {e.message}")
        story.check(
            refused is not None and refused.code == "policy_loosens",
            "the loosening is refused with code policy_loosens",
        )
        story.check(refused is not None and "ai_egress" in refused.message, "it names the field")
        story.agent("sets the patient's override to task_ttl_max_s 600 (tighter)")
        got = admin.set_profile_policy(NS, PROFILE, {"task_ttl_max_s": 600})
        story.memory(f"effective: {brief(got.effective.to_dict())}")
        story.equal(got.effective.task_ttl_max_s, 600, "the tighter cap is in effect")
        story.equal(got.effective.ai_egress, "deny", "the namespace's deny still holds")

    with story.step("A task's TTL is capped by the policy"):
        patient.open_session(session_id="visit-1")
        story.agent("opens session visit-1 and stores a task with a 24 h TTL")
        asked = time.time()
        task = patient.ingest(
            "task", "Call the pharmacy about the refill", session_id="visit-1", ttl_s=86400
        )
        expires = task.memory.expires_at
        story.memory(
            f"stored; ttl_capped={task.ttl_capped}, expires in {(expires or asked) - asked:.0f} s"
        )
        story.check(task.ttl_capped, "the answer says the TTL was capped")
        story.check(
            expires is not None and expires <= asked + 600 + 5,
            "it expires within the profile's 600 s cap, not in 24 h",
        )
        patient.append_turn("visit-1", "user", SECRET)
        patient.end_session("visit-1")


def erasure(
    story: Story, admin: memoturn.Client, patient: memoturn.Profile, store: str | None
) -> None:
    with story.step("The clinic records two facts and checkpoints the profile"):
        secret = patient.ingest("fact", SECRET, topic="allergies")
        patient.ingest("preference", KEPT)
        story.agent(f"ingests {SECRET!r} and {KEPT!r}")
        admin.create_checkpoint(NS, PROFILE, "quarterly-backup")
        story.agent("creates checkpoint 'quarterly-backup'")
        hits = [h.memory.content for h in patient.recall("allergy", k=3).results]
        story.check(SECRET in hits, "recall finds the allergy")

    with story.step("The patient invokes the right to be forgotten: blocked, and it says so"):
        story.agent(f"POST erasures {{memory_ids: [{secret.memory.id}], session_id: visit-1}}")
        asked = patient.erase(
            memory_ids=[secret.memory.id], session_id="visit-1", reason="GDPR art. 17 request"
        ).erasure
        story.memory(f"erasure {asked.id}: {asked.state}, blocked by {asked.blocked_by}")
        story.equal(asked.state, "blocked", "the erasure is blocked")
        story.check(
            any("quarterly-backup" in str(b) for b in asked.blocked_by),
            "it names the checkpoint that still holds the memory",
        )
        hits = [h.memory.content for h in patient.recall("allergy", k=3).results]
        story.memory(f"recall now: {hits}")
        story.check(SECRET not in hits, "the memory is gone from recall at once")
        try:
            patient.read_turns("visit-1")
            gone = None
        except memoturn.NotFound as e:
            gone = e.message
            story.memory(f"the visit's transcript: 404 {gone}")
        story.check(gone is not None, "the visit's session and transcript are gone too")
        story.check(
            KEPT in [m.content for m in patient.list_memories().memories],
            "what was not asked for stays",
        )

    with story.step("The checkpoint goes; the erasure completes on its own"):
        admin.delete_checkpoint(NS, PROFILE, "quarterly-backup")
        story.agent("deletes checkpoint 'quarterly-backup'; the node's sweeper runs the erasure")
        done = asked
        deadline = time.monotonic() + 120
        while done.state != "complete" and time.monotonic() < deadline:
            admin.gc()  # a sweep on demand; the node also sweeps on its own
            done = patient.get_erasure(asked.id).erasure
            if done.state != "complete":
                time.sleep(0.5)
        story.memory(f"erasure {done.id}: {done.state}")
        story.equal(done.state, "complete", "the erasure is complete")
        story.check(done.receipt is not None, "it carries a signed receipt")

    with (
        story.step("The signed receipt verifies, and the store holds no copy"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        receipt = Path(tmp, "receipt.json")
        receipt.write_text(json.dumps(done.receipt, indent=2))
        story.agent(f"memoturn erasure verify {receipt.name}")
        checked = memoturn_cli("erasure", "verify", str(receipt))
        story.memory(checked.stdout.strip().splitlines()[-1] if checked.stdout else "")
        story.equal(checked.returncode, 0, "the receipt's signature and contents check out")
        tampered = dict(done.receipt)
        tampered["profile"] = "someone-else"
        receipt.write_text(json.dumps(tampered))
        bad = memoturn_cli("erasure", "verify", str(receipt))
        story.check(bad.returncode != 0, "a receipt changed by one field fails")
        if store is None:
            story.say("(no MEMOTURN_OBJECT_STORE given: the store scan is skipped)")
            return
        receipt.write_text(json.dumps(done.receipt))
        story.agent(f"memoturn erasure verify {receipt.name} --object-store ... --content ...")
        scan = memoturn_cli(
            "erasure", "verify", str(receipt), "--object-store", store, "--content", SECRET
        )
        for line in (scan.stdout + scan.stderr).strip().splitlines():
            story.memory(line)
        story.equal(scan.returncode, 0, "no object of the profile holds the forgotten words")


def audit(story: Story, admin: memoturn.Client, since: float, store: str | None) -> None:
    with story.step("The audit stream shows what happened, with no content in it"):
        events: list[dict[str, object]] = []
        cursor = None
        while True:
            page = admin.audit_events(NS, since=since, cursor=cursor, limit=500)
            events += page.events
            cursor = page.next_cursor
            if cursor is None:
                break
        ops = sorted({str(e["op"]) for e in events})
        story.memory(f"{len(events)} events; operations: {', '.join(ops)}")
        story.check(any("erase" in op for op in ops), "the erasure is in the stream")
        dumped = json.dumps(events)
        story.check(
            CANARY not in dumped and "pharmacy" not in dumped and "morning" not in dumped,
            "no event holds a memory's words",
        )
        if store is None:
            story.say("(no MEMOTURN_OBJECT_STORE given: `memoturn audit verify` is skipped)")
            return
        story.agent(f"memoturn audit verify {NS} --object-store ...")
        checked = memoturn_cli("audit", "verify", NS, "--object-store", store)
        story.memory(checked.stdout.strip().splitlines()[-1] if checked.stdout else checked.stderr)
        story.equal(checked.returncode, 0, "the stored stream's chain and signatures are intact")


def main() -> int:
    story = Story("governance", "policy, audit and a verifiable erasure")
    return story.run(tell, story)


if __name__ == "__main__":
    sys.exit(main())
