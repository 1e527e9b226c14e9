"""Two nodes on one object store: write to either, read your write on either.

    python demos/two_nodes.py

Starts two nodes on loopback ports over one local object store (as two pods over one S3
bucket would be), writes through both, and reads back through both with the SDK.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import memoturn
from memoturn.http import ThrowawayNode
from memoturn.storage.localdir import LocalDirStore


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalDirStore(Path(tmp) / "bucket")
        seed = bytes(32)  # one deployment, one token-signing key (MEMOTURN_SIGNING_KEY)
        with (
            ThrowawayNode(Path(tmp) / "a", object_store=store, signing_seed=seed) as a,
            ThrowawayNode(Path(tmp) / "b", object_store=store, signing_seed=seed) as b,
        ):
            print("node A:", a.url, "  node B:", b.url)
            with memoturn.Client(a.url, a.root_token) as admin:
                admin.create_namespace("acme")
                admin.create_profile("acme", "alice")
                token = admin.mint_token("acme", profile="alice").token

            on_a = memoturn.Client(a.url, token)
            on_b = memoturn.Client(b.url, token)
            with on_a, on_b:
                alice_a = on_a.profile("acme", "alice", read_your_writes=True)
                alice_b = on_b.profile("acme", "alice", read_your_writes=True)
                first = alice_a.ingest("fact", "Alice works from Lisbon")
                print(f"A wrote txid {first.txid} and now holds alice's writer lease")
                second = alice_b.ingest("fact", "Alice's standup is at 9:30")
                print(f"B forwarded its write to A: txid {second.txid}")
                for name, handle in (("A", alice_a), ("B", alice_b)):
                    seen = [m.content for m in handle.list_memories()]
                    print(f"read on {name}: {seen}")


if __name__ == "__main__":
    main()
