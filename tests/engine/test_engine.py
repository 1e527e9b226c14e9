"""The engine: names, provisioning, isolation, txids, embedder mismatch."""

from __future__ import annotations

import numpy as np
import pytest

import memoturn
from memoturn import Conflict, InvalidInput, NotFound, TxidTimeout


@pytest.mark.parametrize(
    "name", ["", "Alice", "a--b", "-a", "a" * 64, "a b", "a/b", "ä", "a.b", None, 5]
)
def test_bad_names_rejected(engine, name) -> None:
    with pytest.raises(InvalidInput):
        engine.create_namespace(name)
    assert engine.list_namespaces() == []


def test_provision_is_idempotent_and_listed(engine) -> None:
    assert engine.create_namespace("acme") is True
    assert engine.create_namespace("acme") is False
    assert engine.create_profile("acme", "bob") is True
    assert engine.create_profile("acme", "alice") is True
    assert engine.create_profile("acme", "alice") is False
    assert engine.list_profiles("acme").profiles == ["alice", "bob"]
    with pytest.raises(NotFound):
        engine.create_profile("nope", "x")
    with pytest.raises(NotFound):
        engine.profile("acme", "carol")


def test_profiles_are_separate_databases(engine, tmp_path) -> None:
    engine.create_namespace("acme")
    for p in ("alice", "bob"):
        engine.create_profile("acme", p)
    alice, bob = engine.profile("acme", "alice"), engine.profile("acme", "bob")
    alice.ingest("fact", "Alice's secret is swordfish")
    assert bob.recall("secret swordfish").results == []
    assert bob.txid == 0 and alice.txid == 1
    cached = sorted(p.name for p in (tmp_path / "data" / "cache").iterdir())
    assert cached == ["acme--alice", "acme--bob"]
    assert [p.suffix for p in (tmp_path / "data" / "cache" / "acme--alice").glob("*.db")] == [".db"]
    stored = {i.key.split("/")[1] for i in engine.store.list("data/")}
    assert stored == {"acme--alice"}  # bob never wrote: provisioning made no data


def test_every_write_returns_next_txid(profile) -> None:
    txids = [
        profile.ingest("fact", "a").txid,
        profile.open_session("s").txid,
        profile.append_turn("s", "user", "hi").txid,
        profile.kv_set("k", "x", 1).txid,
        profile.add_document("doc").txid,
        profile.vector_upsert("v", "1", [1.0]).txid,
        profile.end_session("s").txid,
    ]
    assert txids == list(range(1, 8))


def test_min_txid(engine, profile) -> None:
    profile.ingest("fact", "x")
    assert engine.profile("acme", "alice", min_txid=1).txid == 1
    engine.min_txid_wait_s = 0.05
    with pytest.raises(TxidTimeout):
        engine.profile("acme", "alice", min_txid=2)


def test_delete_profile(engine, profile) -> None:
    profile.ingest("fact", "x")
    engine.delete_profile("acme", "alice")
    assert engine.list_profiles("acme").profiles == []
    engine.create_profile("acme", "alice")
    assert engine.profile("acme", "alice").txid == 0


class _OtherEmbedder:
    name, dim, self_hosted, max_tokens = "other-model", 8, True, None

    def embed(self, texts):  # type: ignore[no-untyped-def]
        return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)

    def embed_query(self, text):  # type: ignore[no-untyped-def]
        return self.embed([text])[0]


def test_embedder_mismatch_is_a_clear_error(tmp_path, embedder) -> None:
    with memoturn.open(tmp_path, embedder=embedder) as eng:
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        eng.profile("acme", "alice").ingest("fact", "x")
    with (
        memoturn.open(tmp_path, embedder=_OtherEmbedder()) as eng,
        pytest.raises(Conflict, match="all-MiniLM-L6-v2-int8"),
    ):
        eng.profile("acme", "alice").recall("x")


def test_data_survives_reopen(tmp_path, embedder) -> None:
    with memoturn.open(tmp_path, embedder=embedder) as eng:
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        eng.profile("acme", "alice").ingest("preference", "Likes jazz", topic="music")
    with memoturn.open(tmp_path, embedder=embedder) as eng:
        p = eng.profile("acme", "alice")
        assert p.txid == 1
        assert p.recall("what music does she like?").results[0].memory.content == "Likes jazz"


def test_public_surface() -> None:
    assert set(memoturn.__all__) >= {"open", "Engine", "MemoturnError", "NotFound"}
    for name in memoturn.__all__:
        assert hasattr(memoturn, name)


def test_recreated_profile_does_not_revive_old_tokens(engine) -> None:
    engine.create_namespace("acme")
    engine.create_profile("acme", "alice")
    epoch = engine.token_epoch("acme", "alice")
    engine.delete_profile("acme", "alice")
    engine.create_profile("acme", "alice")
    assert engine.token_epoch("acme", "alice") > epoch
