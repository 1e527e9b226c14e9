"""The engine on an S3 store (moto's server on loopback): same semantics, conditional
writes through real HTTP."""

from __future__ import annotations

from tests.engine.conftest import provision, state

import memoturn


def test_engine_on_s3(tmp_path, moto_s3, embedder) -> None:
    bucket = moto_s3.new_bucket()
    a = memoturn.open(
        tmp_path / "a", object_store=moto_s3.store(bucket, "deploy"), embedder=embedder
    )
    p = provision(a)
    p.ingest("preference", "Alice is vegetarian", topic="diet")
    a.create_checkpoint("acme", "alice", "cp")
    p.ingest("preference", "Alice is vegan", topic="diet")
    a.create_branch("acme", "alice", "trial")
    a.profile("acme", "alice", "trial").kv_set("s", "k", 1)
    before = state(p)
    a.close()
    b = memoturn.open(
        tmp_path / "b", object_store=moto_s3.store(bucket, "deploy"), embedder=embedder
    )
    try:
        q = b.profile("acme", "alice")
        assert state(q) == before
        b.rewind("acme", "alice", checkpoint="cp")
        assert [m.content for m in q.list_memories().memories] == ["Alice is vegetarian"]
        assert b.profile("acme", "alice", "trial").kv_get("s", "k").value == 1
    finally:
        b.close()


def test_open_by_url(tmp_path, moto_s3, embedder, monkeypatch) -> None:
    bucket = moto_s3.new_bucket()
    for k, v in moto_s3.env().items():
        monkeypatch.setenv(k, v)
    with memoturn.open(tmp_path / "a", object_store=f"s3://{bucket}/x", embedder=embedder) as eng:
        provision(eng).ingest("fact", "over s3")
    with memoturn.open(tmp_path / "b", object_store=f"s3://{bucket}/x", embedder=embedder) as eng:
        assert eng.profile("acme", "alice").list_memories().memories[0].content == "over s3"
