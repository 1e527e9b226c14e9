"""Where the deployment's token-signing seed comes from, and the envelope that keeps a stored
seed unreadable to whoever can read the bucket.

Three sources, strongest first:

- ``MEMOTURN_SIGNING_KEY``: the seed itself, given to every node; it never touches the store.
- the store, sealed: ``deployment/token-signing.key`` holds the seed encrypted (AES-256-GCM)
  with ``MEMOTURN_KEY_ENCRYPTION_KEY``, which every node gets from its environment.
- the store, plain: the seed as is. Anyone who can read the bucket can mint root tokens.

A node given the encryption key seals a plain stored seed in place (one CAS), so turning
envelope encryption on is starting the nodes with the key. Nodes without it then refuse to
start rather than mint tokens nobody accepts.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from memoturn.core.errors import InvalidInput
from memoturn.storage import keys
from memoturn.storage.objectstore import ObjectNotFound, PreconditionFailed

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine

SEED_BYTES = 32
ENVELOPE = b"memoturn-sealed-v1\n"
"""The first bytes of a sealed secret; then a 12-byte nonce and the AES-GCM ciphertext."""
FROM_ENVIRONMENT = "MEMOTURN_SIGNING_KEY (never stored)"
SEALED = "the object store, encrypted with MEMOTURN_KEY_ENCRYPTION_KEY"
PLAIN = (
    "the object store, in plain text (whoever can read the bucket can mint tokens; "
    "set MEMOTURN_SIGNING_KEY or MEMOTURN_KEY_ENCRYPTION_KEY, see docs/api.md)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class SigningSeed:
    seed: bytes
    source: str
    """Which of the three sources it came from, in words (``serve`` prints it)."""


def load_seed(engine: Engine, name: str, *, kek: bytes | None) -> SigningSeed:
    """The deployment's secret ``name`` from the store, created on first use, sealed with
    ``kek`` when one is given (and sealed in place if it was stored plain)."""
    key = keys.deployment_secret(name)
    for _ in range(3):
        try:
            stored = engine.store.get(key, op="get_secret")
        except ObjectNotFound:
            seed = secrets.token_bytes(SEED_BYTES)
            data = seal(kek, seed, key) if kek else seed
            try:
                engine.store.put(key, data, if_absent=True, op="create_secret")
            except PreconditionFailed:
                continue  # another node made it first: read theirs
            return SigningSeed(seed, SEALED if kek else PLAIN)
        if stored.data.startswith(ENVELOPE):
            if kek is None:
                raise InvalidInput(
                    "the token-signing key in the object store is encrypted",
                    hint="give this node MEMOTURN_KEY_ENCRYPTION_KEY, as the other nodes have",
                )
            return SigningSeed(unseal(kek, stored.data, key), SEALED)
        if kek is None:
            return SigningSeed(stored.data, PLAIN)
        try:
            sealed = seal(kek, stored.data, key)
            engine.store.put(key, sealed, if_match=stored.etag, op="seal_secret")
        except PreconditionFailed:
            continue  # changed meanwhile (another node sealed it): read it again
        return SigningSeed(stored.data, SEALED)
    raise InvalidInput(f"the deployment secret {name!r} keeps changing", hint="retry")


def seal(kek: bytes, secret: bytes, key: str) -> bytes:
    nonce = secrets.token_bytes(12)
    return ENVELOPE + nonce + AESGCM(kek).encrypt(nonce, secret, key.encode())


def unseal(kek: bytes, data: bytes, key: str) -> bytes:
    body = data[len(ENVELOPE) :]
    try:
        return AESGCM(kek).decrypt(body[:12], body[12:], key.encode())
    except (InvalidTag, ValueError):
        raise InvalidInput(
            "MEMOTURN_KEY_ENCRYPTION_KEY does not open the token-signing key in the store",
            hint="give every node of this deployment the same MEMOTURN_KEY_ENCRYPTION_KEY",
        ) from None
