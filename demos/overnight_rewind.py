"""An agent checkpoints its memory before an overnight run, learns garbage, and rewinds.

    python demos/overnight_rewind.py

Runs in process on a temporary directory (no node needed) and prints what happens.
"""

from __future__ import annotations

import tempfile

import memoturn
from memoturn.engine import ProfileHandle


def top(profile: ProfileHandle, query: str) -> str:
    hits = profile.recall(query, k=1).results
    return hits[0].memory.content if hits else "(nothing)"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, memoturn.open(tmp) as engine:
        engine.create_namespace("acme")
        engine.create_profile("acme", "alice")
        alice = engine.profile("acme", "alice")

        alice.ingest("preference", "Alice is vegetarian", topic="diet")
        alice.ingest("fact", "Alice's manager is Priya", topic="manager")
        print("before the run:   diet ->", top(alice, "what does Alice eat?"))

        cp = engine.create_checkpoint("acme", "alice", "before-overnight")
        print(f"checkpoint {cp.name!r} at txid {cp.txid}")

        # The overnight run misreads a transcript and learns garbage.
        alice.ingest("preference", "Alice loves steak", topic="diet")
        alice.ingest("fact", "Alice's manager is the cafeteria", topic="manager")
        print("after the run:    diet ->", top(alice, "what does Alice eat?"))

        done = engine.rewind("acme", "alice", checkpoint="before-overnight")
        print(
            f"rewound (the profile is now at txid {done.txid}); the bad state is kept "
            f"as checkpoint {done.undo_checkpoint!r}"
        )
        print("after the rewind: diet ->", top(alice, "what does Alice eat?"))
        print("                  manager ->", top(alice, "who is Alice's manager?"))

        # Nothing is lost for good: the undo checkpoint can be inspected or restored.
        names = [c.name for c in engine.list_checkpoints("acme", "alice")]
        print("checkpoints:", ", ".join(names))


if __name__ == "__main__":
    main()
