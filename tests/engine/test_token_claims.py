"""Time claims of tokens signed with the deployment's real key: malformed ones are refused,
``nbf`` is honoured."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from memoturn.core.errors import Unauthorized
from memoturn.engine.tokens import ALGORITHM, ISSUER, ROOT, TokenAuthority

SEED = bytes(range(32))


@pytest.fixture
def tokens(engine) -> TokenAuthority:
    return TokenAuthority(engine, seed=SEED)


def _signed(**claims: object) -> str:
    base: dict[str, object] = {"iss": ISSUER, "sub": ROOT, "kind": ROOT}
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    return jwt.encode({**base, **claims}, key, algorithm=ALGORITHM)


def test_a_well_formed_token_signed_with_the_key_passes(tokens, clock) -> None:
    now = clock.now()
    assert tokens.verify(_signed(iat=now, exp=now + 60, nbf=now)).kind == ROOT


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "never"},
        {"exp": None},
        {"exp": True},
        {"exp": [1]},
        {"iat": "yesterday"},
        {"iat": None},
        {"nbf": "soon"},
        {"nbf": {"at": 1}},
    ],
)
def test_malformed_time_claims_are_refused(tokens, clock, claims) -> None:
    token = _signed(**{"iat": clock.now(), **claims})
    with pytest.raises(Unauthorized, match=r"not a number|not valid"):
        tokens.verify(token)


def test_nbf_is_honoured(tokens, clock) -> None:
    token = _signed(iat=clock.now(), nbf=clock.now() + 60)
    with pytest.raises(Unauthorized, match="not valid yet"):
        tokens.verify(token)
    clock.advance(61)
    assert tokens.verify(token).kind == ROOT
