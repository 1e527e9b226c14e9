"""An experiment on a burner branch: a fork of the agent's memory that main never sees,
and that expires by itself.

    python demos/burner_branch.py

Runs in process on a temporary directory (no node needed) and prints what happens.
"""

from __future__ import annotations

import datetime as dt
import tempfile

import memoturn
from memoturn.engine import ProfileHandle


def contents(profile: ProfileHandle) -> list[str]:
    return [m.content for m in profile.list_memories()]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, memoturn.open(tmp) as engine:
        engine.create_namespace("acme")
        engine.create_profile("acme", "support-bot")
        main_branch = engine.profile("acme", "support-bot")
        main_branch.ingest("instruction", "Answer refund questions with the 30-day policy")

        # Forking is metadata only: it costs the same at 10 or 10 million memories.
        burner = engine.create_branch("acme", "support-bot", "try-60-days", ttl_s=3600)
        assert burner.expires_at is not None
        expires = dt.datetime.fromtimestamp(burner.expires_at, dt.UTC).isoformat(timespec="seconds")
        print(f"branch {burner.name!r} forked at txid {burner.txid}, expires {expires}")

        trial = engine.profile("acme", "support-bot", "try-60-days")
        trial.ingest("instruction", "Answer refund questions with the 60-day trial policy")
        print("on the burner:", contents(trial))
        print("on main:      ", contents(main_branch))

        # The experiment failed: drop it (or let it expire; the node's GC removes it).
        engine.delete_branch("acme", "support-bot", "try-60-days")
        names = [b.name for b in engine.list_branches("acme", "support-bot")]
        print("branches now: ", names)


if __name__ == "__main__":
    main()
