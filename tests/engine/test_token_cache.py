"""Token verification reads no object in steady state (the token epoch is cached per node),
and a revocation reaches every node within the stated bound (``token_staleness_s``): on the
node that revoked at once, on another once the bound has passed (an injected clock moves
time; nothing here waits on the wall clock)."""

from __future__ import annotations

import pytest

from memoturn.core.errors import Unauthorized
from memoturn.engine.catalog import TOKEN_EPOCH_STALENESS_S
from memoturn.engine.tokens import ROOT, Grant, TokenAuthority

SEED = bytes(range(32))


def _epoch_reads(engine) -> int:
    return engine.metered.stats().get("get_token_epoch", {}).get("calls", 0)


def test_verifying_a_profile_token_reads_no_object_in_steady_state(make_engine) -> None:
    a = make_engine()
    a.create_namespace("acme")
    a.create_profile("acme", "alice")
    tokens = TokenAuthority(a, seed=SEED)
    token = tokens.mint(Grant(ROOT), "acme", profile="alice").token
    tokens.verify(token)  # the first verification reads the epoch
    before = a.metered.stats()
    for _ in range(100):
        assert tokens.verify(token).profile == "alice"
    after = a.metered.stats()
    assert after == before, "100 verifications touched the object store"


def test_a_revocation_on_one_node_reaches_the_other_within_the_bound(make_engine, clock) -> None:
    a, b = make_engine(), make_engine()
    a.create_namespace("acme")
    a.create_profile("acme", "alice")
    on_a, on_b = TokenAuthority(a, seed=SEED), TokenAuthority(b, seed=SEED)
    token = on_a.mint(Grant(ROOT), "acme", profile="alice").token
    assert on_b.verify(token).profile == "alice"  # B has read (and cached) the epoch
    a.revoke_tokens("acme", "alice")
    with pytest.raises(Unauthorized, match="revoked"):
        on_a.verify(token)  # the node that revoked: at once
    reads = _epoch_reads(b)
    clock.advance(TOKEN_EPOCH_STALENESS_S / 2)
    on_b.verify(token)  # within the bound B may still accept it, from its cache
    assert _epoch_reads(b) == reads
    clock.advance(TOKEN_EPOCH_STALENESS_S / 2)
    with pytest.raises(Unauthorized, match="revoked"):
        on_b.verify(token)  # the bound has passed: B reads the epoch again and refuses
    assert _epoch_reads(b) == reads + 1
    fresh = on_b.mint(Grant(ROOT), "acme", profile="alice").token
    assert on_a.verify(fresh).profile == "alice"  # a token minted after the revocation works


def test_minting_reads_the_current_epoch_not_the_cached_one(make_engine, clock) -> None:
    a, b = make_engine(), make_engine()
    a.create_namespace("acme")
    a.create_profile("acme", "alice")
    on_a, on_b = TokenAuthority(a, seed=SEED), TokenAuthority(b, seed=SEED)
    on_b.verify(on_a.mint(Grant(ROOT), "acme", profile="alice").token)  # B caches epoch 0
    a.revoke_tokens("acme", "alice")
    minted_on_b = on_b.mint(Grant(ROOT), "acme", profile="alice").token
    assert on_a.verify(minted_on_b).epoch == 1  # B minted under the new epoch


def test_a_deleted_profile_s_tokens_are_refused_on_another_node_within_the_bound(
    make_engine, clock
) -> None:
    a, b = make_engine(), make_engine()
    a.create_namespace("acme")
    a.create_profile("acme", "alice")
    on_a, on_b = TokenAuthority(a, seed=SEED), TokenAuthority(b, seed=SEED)
    token = on_a.mint(Grant(ROOT), "acme", profile="alice").token
    on_b.verify(token)
    a.delete_profile("acme", "alice")
    clock.advance(TOKEN_EPOCH_STALENESS_S)
    with pytest.raises(Unauthorized, match="revoked"):
        on_b.verify(token)


def test_offline_verification_answers_only_from_the_caches(make_engine, clock) -> None:
    """What the REST edge checks on the event loop: the same answer as ``verify`` when the
    caches hold it, ``None`` (go and read the store) when they do not."""
    a, b = make_engine(), make_engine()
    a.create_namespace("acme")
    a.create_profile("acme", "alice")
    on_a, on_b = TokenAuthority(a, seed=SEED), TokenAuthority(b, seed=SEED)
    root = on_a.mint_root()
    assert on_b.verify_offline(root).kind == ROOT  # no profile, no epoch: nothing to read
    token = on_a.mint(Grant(ROOT), "acme", profile="alice").token
    assert on_b.verify_offline(token) is None  # B has read nothing of alice yet
    assert on_b.verify(token).profile == "alice"
    before = b.metered.stats()
    assert on_b.verify_offline(token).profile == "alice"
    assert b.metered.stats() == before
    with pytest.raises(Unauthorized, match="not valid"):
        on_b.verify_offline(token[:-4] + "AAAA")  # a bad signature needs no store to refuse
    a.revoke_tokens("acme", "alice")
    with pytest.raises(Unauthorized, match="revoked"):
        on_a.verify_offline(token)  # the node that revoked: at once, from its cache
    clock.advance(TOKEN_EPOCH_STALENESS_S)
    assert on_b.verify_offline(token) is None  # B's copy of the epoch is too old to use
    with pytest.raises(Unauthorized, match="revoked"):
        on_b.verify(token)
