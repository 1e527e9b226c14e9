"""`memoturn verify`: an explicit integrity check of a profile in the store, against a real
local-dir store corrupted in the ways a store can be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import memoturn
from memoturn import cli
from memoturn.storage import keys
from memoturn.storage import manifest as manifests
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.segment import Segment


@pytest.fixture
def seeded(tmp_path: Path, embedder: Any) -> tuple[LocalDirStore, str]:
    """acme/alice with a checkpoint, a snapshot after it, more segments, and a branch."""
    store = LocalDirStore(tmp_path / "store")
    with memoturn.open(tmp_path / "node", object_store=store, embedder=embedder) as eng:
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        p = eng.profile("acme", "alice")
        p.ingest("fact", "the user lives in Lisbon")
        eng.create_checkpoint("acme", "alice", "early")
        for i in range(20):
            p.kv_set("s", f"k{i}", i)
        eng.hibernate("acme", "alice")  # past HIBERNATION_SNAPSHOT_AFTER: a snapshot
        p.kv_set("s", "after", 1)
        eng.create_branch("acme", "alice", "what-if")
        eng.profile("acme", "alice", "what-if").kv_set("s", "b", 1)
    return store, (tmp_path / "store").as_uri()


def _run(url: str, *extra: str) -> int:
    return cli.main(["verify", "acme/alice", "--object-store", url, *extra])


def _main(store: LocalDirStore) -> manifests.Manifest:
    return manifests.load(store, "acme--alice", "main")[0]


def _flip_a_byte(store: LocalDirStore, key: str) -> None:
    data = bytearray(store.get(key).data)
    data[len(data) // 2] ^= 0x40
    store.put(key, bytes(data))


def test_an_intact_profile_passes_with_progress(seeded, capsys) -> None:
    _, url = seeded
    assert _run(url, "--all-branches", "--checkpoints", "--objects") == 0
    out, err = capsys.readouterr()
    assert "acme/alice: intact" in out
    for line in ("main head: ok", "main checkpoint early: ok", "what-if head: ok", "objects: ok"):
        assert line in err


def test_a_corrupt_snapshot_fails(seeded, capsys) -> None:
    store, url = seeded
    m = _main(store)
    assert m.snapshots, "the seed wrote no snapshot"
    _flip_a_byte(store, m.snapshot_key(*m.snapshots[-1]))
    assert _run(url) == 1
    out, err = capsys.readouterr()
    assert "FAILED" in out and "checksum mismatch" in out
    assert "main head: BAD" in err


def test_a_segment_only_a_checkpoint_needs_fails_with_checkpoints(seeded, capsys) -> None:
    store, url = seeded
    m = _main(store)
    early = m.checkpoints["early"].txid
    assert m.snapshots[-1][0] > early  # the head restores from the snapshot, without it
    _flip_a_byte(store, m.segment_key(early))
    assert _run(url) == 0  # the head does not read it
    assert _run(url, "--checkpoints") == 1
    out, _ = capsys.readouterr()
    assert "checkpoint early" in out and "checksum mismatch" in out
    assert _run(url, "--objects") == 1  # every object is decoded, reachable or not


def test_pages_with_a_valid_checksum_but_a_broken_btree_fail_integrity_check(
    seeded, capsys
) -> None:
    """What the wake's checksums cannot see: a segment re-sealed around a garbled page."""
    store, url = seeded
    m = _main(store)
    key = m.segment_key(m.head)
    seg = Segment.decode(store.get(key).data)
    pages = dict(seg.pages)
    pgno = max(p for p in pages if p > 1)
    pages[pgno] = b"\xff" * 100 + pages[pgno][100:]
    bad = Segment(seg.txid, seg.page_size, seg.db_size_pages, pages, seg.epoch)
    store.put(key, bad.encode())
    assert _run(url, "--objects") == 1
    out, _ = capsys.readouterr()
    failed = out.split("FAILED", 1)[1]
    assert "main head" in failed
    assert "integrity_check" in failed or "does not open" in failed
    assert "objects" not in failed  # the object itself checks out


def test_a_missing_segment_fails(seeded, capsys) -> None:
    store, url = seeded
    m = _main(store)
    store.delete(m.segment_key(m.head))
    assert _run(url) == 1
    assert "main head" in capsys.readouterr().out


def test_an_unknown_profile_is_a_failure_not_a_crash(seeded, capsys) -> None:
    _, url = seeded
    assert cli.main(["verify", "acme/bob", "--object-store", url]) == 1
    assert "no branch 'main'" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["acme", "acme/", "/alice", "acme/a/b"])
def test_a_malformed_target_is_a_usage_error(seeded, target, capsys) -> None:
    _, url = seeded
    with pytest.raises(SystemExit) as done:
        cli.main(["verify", target, "--object-store", url])
    assert done.value.code == 2
    assert "NS/PROFILE" in capsys.readouterr().err


def test_verify_reads_only(seeded) -> None:
    store, url = seeded
    before = {(i.key, i.etag) for i in store.list("")}
    assert _run(url, "--all-branches", "--checkpoints", "--objects") == 0
    assert {(i.key, i.etag) for i in store.list("")} == before
    assert keys.data_prefix("acme--alice")  # (the profile's data is what was read)
