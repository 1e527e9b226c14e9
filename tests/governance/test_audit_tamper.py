"""`memoturn audit verify` against stored objects tampered with: a changed, a removed, a
reordered and a truncated record each fail with the first bad position; the intact stream
passes. The objects are the ones a real node wrote to a local-dir store; the tampering goes
to the store directly, as someone with write access to the bucket would."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from memoturn import cli
from memoturn.core.clock import ManualClock
from memoturn.http import ThrowawayNode
from memoturn.storage.localdir import LocalDirStore

P = "/v1/namespaces/acme/profiles/alice"
BATCHES = 5


@pytest.fixture
def stored(tmp_path, embedder) -> Path:
    """A data dir whose store holds one node's chain of BATCHES batches, sealed at close."""
    data = tmp_path / "node"
    with ThrowawayNode(data, embedder=embedder, clock=ManualClock()) as node:
        with httpx.Client(
            base_url=node.url, headers={"Authorization": f"Bearer {node.root_token}"}
        ) as root:
            root.post("/v1/namespaces", json={"name": "acme"})
            root.post("/v1/namespaces/acme/profiles", json={"name": "alice"})
            root.put("/v1/namespaces/acme/policy", json={"audit": True})  # batch 1
            for i in range(BATCHES - 1):
                root.post(P + "/memories", json={"type": "fact", "content": f"m{i}"})
        chain = node.engine.node_id
    found = [i.key for i in LocalDirStore(data / "store").list(f"audit/acme/{chain}/")]
    assert len(found) == BATCHES + 1  # and the head
    return data


def _verify(data: Path, capsys) -> tuple[int, str]:
    code = cli.main(["audit", "verify", "acme", "--object-store", f"file://{data}/store"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


class Tamper:
    def __init__(self, data: Path) -> None:
        self.store = LocalDirStore(data / "store")
        (head,) = [i.key for i in self.store.list("audit/acme/") if i.key.endswith("head.json")]
        self.folder = head.removesuffix("head.json")

    def key(self, n: int | str) -> str:
        return self.folder + (f"{n:016d}.json" if isinstance(n, int) else n)

    def read(self, n: int | str) -> bytes:
        return self.store.get(self.key(n)).data

    def write(self, n: int | str, data: bytes) -> None:
        self.store.put(self.key(n), data)

    def edit(self, n: int | str, change) -> None:  # type: ignore[no-untyped-def]
        doc = json.loads(self.read(n))
        change(doc)
        self.write(n, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())

    def delete(self, n: int | str) -> None:
        self.store.delete(self.key(n))


def test_the_intact_stream_verifies(stored, capsys) -> None:
    code, out = _verify(stored, capsys)
    assert code == 0, out
    assert f"intact ({BATCHES} events in {BATCHES} batches, 1 chains" in out


def test_a_changed_record_fails_at_its_batch(stored, capsys) -> None:
    Tamper(stored).edit(2, lambda d: d["events"][0].update(status=403))
    code, out = _verify(stored, capsys)
    assert code == 1
    assert "batch 3 (seq 3): the link to batch 2 is broken" in out


def test_a_changed_last_record_fails_against_the_head(stored, capsys) -> None:
    Tamper(stored).edit(BATCHES, lambda d: d["events"][0].update(op="recall"))
    code, out = _verify(stored, capsys)
    assert code == 1 and f"batch {BATCHES} (seq {BATCHES}) differs from what the signed" in out


def test_a_removed_record_fails(stored, capsys) -> None:
    t = Tamper(stored)
    t.edit(3, lambda d: d["events"].clear())
    code, out = _verify(stored, capsys)
    assert code == 1 and "batch 4 (seq 3): the link to batch 3 is broken" in out
    # removing a whole batch from the middle shows too
    t.delete(2)
    code, out = _verify(stored, capsys)
    assert code == 1 and "batch 2 is missing (seq 2 onwards)" in out


def test_reordered_records_fail(stored, capsys) -> None:
    t = Tamper(stored)
    two, three = t.read(2), t.read(3)
    t.write(2, three)
    t.write(3, two)
    code, out = _verify(stored, capsys)
    assert code == 1 and "batch 2 names another position" in out


def test_a_truncated_tail_fails(stored, capsys) -> None:
    Tamper(stored).delete(BATCHES)
    code, out = _verify(stored, capsys)
    assert code == 1
    assert f"the signed head names batch {BATCHES} (seq {BATCHES}) but the chain ends at" in out


def test_a_forged_or_missing_head_fails(stored, capsys) -> None:
    t = Tamper(stored)
    t.edit("head.json", lambda d: d.update(batch=BATCHES - 1))  # the truncation's cover-up
    t.delete(BATCHES)
    code, out = _verify(stored, capsys)
    assert code == 1 and "signature does not verify" in out
    t.delete("head.json")
    code, out = _verify(stored, capsys)
    assert code == 1 and "no signed head" in out
