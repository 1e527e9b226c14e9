"""The token-signing key: sealed in the store with a key from the environment, or kept out
of the store altogether."""

from __future__ import annotations

import pytest

import memoturn
from memoturn.core.errors import InvalidInput
from memoturn.engine import signing
from memoturn.engine.tokens import SIGNING_SECRET, TokenAuthority
from memoturn.storage import keys
from memoturn.storage.localdir import LocalDirStore

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))
SEED = bytes(range(100, 132))
KEY = keys.deployment_secret(SIGNING_SECRET)


def _engine(tmp_path, name, store, embedder):
    return memoturn.open(tmp_path / name, object_store=store, embedder=embedder)


def test_a_sealed_key_is_unreadable_in_the_store_and_shared_by_nodes(tmp_path, embedder) -> None:
    store = LocalDirStore(tmp_path / "store")
    with _engine(tmp_path, "a", store, embedder) as a, _engine(tmp_path, "b", store, embedder) as b:
        first = TokenAuthority(a, kek=KEK)
        assert first.key_source == signing.SEALED
        stored = store.get(KEY).data
        assert stored.startswith(signing.ENVELOPE)
        token = first.mint_root()
        assert TokenAuthority(b, kek=KEK).verify(token).kind == "root"
        with pytest.raises(InvalidInput, match="encrypted"):
            TokenAuthority(b)  # a node without the key cannot mint tokens nobody accepts
        with pytest.raises(InvalidInput, match="does not open"):
            TokenAuthority(b, kek=OTHER_KEK)
        assert store.get(KEY).data == stored  # nothing was overwritten


def test_a_plain_stored_key_is_sealed_in_place_keeping_its_tokens(tmp_path, embedder) -> None:
    store = LocalDirStore(tmp_path / "store")
    with _engine(tmp_path, "a", store, embedder) as a:
        plain = TokenAuthority(a)
        assert plain.key_source == signing.PLAIN
        token = plain.mint_root()
        sealed = TokenAuthority(a, kek=KEK)
        assert sealed.key_source == signing.SEALED
        assert store.get(KEY).data.startswith(signing.ENVELOPE)
        assert sealed.verify(token).kind == "root"


def test_a_key_from_the_environment_never_touches_the_store(tmp_path, embedder) -> None:
    store = LocalDirStore(tmp_path / "store")
    with _engine(tmp_path, "a", store, embedder) as a:
        tokens = TokenAuthority(a, seed=SEED)
        assert tokens.key_source == signing.FROM_ENVIRONMENT
        tokens.mint_root()
        assert KEY not in [o.key for o in store.list("deployment/")]


def test_offline_verifiers_open_a_sealed_key_with_the_key_encryption_key(
    tmp_path, embedder, monkeypatch
) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from memoturn.engine.tokens import deployment_public_key

    def raw(public) -> bytes:
        return public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    store = LocalDirStore(tmp_path / "store")
    monkeypatch.delenv("MEMOTURN_SIGNING_KEY", raising=False)
    monkeypatch.delenv("MEMOTURN_KEY_ENCRYPTION_KEY", raising=False)
    assert deployment_public_key(store) is None  # no key stored yet
    with _engine(tmp_path, "a", store, embedder) as a:
        signer = TokenAuthority(a, kek=KEK).signing_key
    assert deployment_public_key(store) is None  # sealed, and no key to open it
    monkeypatch.setenv("MEMOTURN_KEY_ENCRYPTION_KEY", KEK.hex())
    assert raw(deployment_public_key(store)) == raw(signer.public_key())
