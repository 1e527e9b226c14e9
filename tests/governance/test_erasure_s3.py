"""Erasure on a real S3 server (SeaweedFS ``weed mini`` on loopback): after phase 2 no
object of the bucket, read through the S3 API (segments and snapshots decoded too), nor
any file of the node's data directory holds the canary; and ``memoturn erasure verify``
checks the receipt against the bucket."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.governance.test_erasure import CANARY, copies

import memoturn
from memoturn.core.clock import ManualClock
from memoturn.erasure_cli import _holds
from memoturn.http import ThrowawayNode
from seaweed import ACCESS_KEY, BUCKET, SECRET_KEY, make_store, weed_mini

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with weed_mini(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


def test_no_copy_is_left_in_the_bucket_or_the_data_dir(seaweedfs, tmp_path, embedder) -> None:
    prefix = f"t/{uuid.uuid4().hex[:16]}"
    store = make_store(seaweedfs, prefix)
    clock = ManualClock()
    with ThrowawayNode(tmp_path / "node", embedder=embedder, clock=clock, object_store=store) as n:
        n.engine.create_namespace("acme")
        n.engine.create_profile("acme", "alice")
        n.engine.set_policy("acme", {"erasure_grace_s": 60})
        client = memoturn.Client(n.url, n.root_token)
        p = client.profile("acme", "alice")
        for i in range(5):
            p.ingest("fact", f"filler {i}")
        m = p.ingest("fact", CANARY, topic="secret").memory
        p.append_turn("chat", "user", CANARY)
        p.kv_set("notes", "k", CANARY)
        doc = p.add_document(CANARY + " and more words", title="d")
        n.engine.hibernate("acme", "alice")  # a snapshot holds it too
        client.create_checkpoint("acme", "alice", "before")
        p.ingest("fact", "after the checkpoint")

        def in_bucket() -> list[str]:
            return [i.key for i in store.list("") if _holds(store.get(i.key).data, CANARY.encode())]

        assert in_bucket()
        e = p.erase(
            memory_ids=[m.id], session_id="chat", kv=[{"space": "notes", "key": "k"}],
            document_ids=[doc.document.id], force=True,
        ).erasure  # fmt: skip
        assert copies(tmp_path / "node") == []  # phase 1: the local files
        assert in_bucket()  # history still holds it for the grace window
        clock.advance(61)
        client.gc()
        done = p.get_erasure(e.id).erasure
        assert done.state == "complete"
        assert in_bucket() == []
        assert copies(tmp_path / "node") == []
        client.rewind("acme", "alice", checkpoint="before")  # rewritten, still restorable
        assert [x.content for x in p.list_memories().memories] == [f"filler {i}" for i in range(5)]
        client.close()
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(done.receipt))
    cli = Path(sys.executable).with_name("memoturn")
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}  # fmt: skip
    out = subprocess.run(
        [str(cli), "erasure", "verify", str(receipt), "--object-store", f"s3://{BUCKET}/{prefix}",
         "--s3-endpoint", seaweedfs, "--content", CANARY],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no copy of the content found" in out.stdout
