"""Bearer tokens: Ed25519-signed JWTs (alg ``EdDSA``) and what each kind may do.

Three kinds, each a subset of the one above (API.md, "Tokens"):

- ``root``: everything, including creating namespaces. Written to ``DATA/root.token`` on
  first start.
- ``namespace`` (``sub`` = ``acme``): provision and delete profiles of ``acme``, mint
  profile tokens there, and act on any *one* profile of ``acme`` per call.
- ``profile`` (``sub`` = ``acme--alice``): act on that profile only, optionally locked to
  one branch and to the scopes ``read`` / ``write``. It carries the profile's token epoch
  at mint time; :meth:`~memoturn.engine.Engine.bump_token_epoch` revokes every older one.

The signing key is derived from a deployment secret (never a per-node key), so every node
of a deployment accepts the same tokens. Expiry (``exp``) and ``nbf`` are checked against
the engine's clock; a time claim that is not a number makes the token malformed.

Authorisation looks only at the token's claims and the request's names before it looks
anything up, so a refusal never says whether another profile exists.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from memoturn.core import validate
from memoturn.core.errors import Forbidden, InvalidInput, NotFound, Unauthorized, Unavailable
from memoturn.core.model import MintedToken
from memoturn.core.names import ROOT_TOKEN_FILE, check_name, database_id
from memoturn.engine import signing
from memoturn.storage import keys
from memoturn.storage.objectstore import ObjectNotFound

if TYPE_CHECKING:
    from memoturn.engine.engine import Engine
    from memoturn.storage.objectstore import ObjectStore

ALGORITHM = "EdDSA"
ISSUER = "memoturn"
ROOT, NAMESPACE, PROFILE = "root", "namespace", "profile"
READ, WRITE = "read", "write"
SCOPES = (READ, WRITE)
SIGNING_SECRET = "token-signing"


@dataclasses.dataclass(frozen=True, slots=True)
class Grant:
    """What a verified token allows (its claims, checked and typed)."""

    kind: str
    namespace: str | None = None
    profile: str | None = None
    branch: str | None = None
    """The only branch the token may act on; ``None`` = any branch."""
    scopes: frozenset[str] = frozenset(SCOPES)
    epoch: int | None = None
    expires_at: float | None = None
    token_id: str | None = None
    """The token's ``jti`` (audit events name it; it is not a secret)."""

    @property
    def subject(self) -> str:
        if self.kind == ROOT:
            return ROOT
        if self.kind == NAMESPACE:
            return str(self.namespace)
        return f"{self.namespace}--{self.profile}"


class TokenAuthority:
    """Mints and verifies the deployment's tokens and decides what a grant may do."""

    def __init__(
        self, engine: Engine, *, seed: bytes | None = None, kek: bytes | None = None
    ) -> None:
        """``seed``: 32 bytes overriding the deployment secret (``MEMOTURN_SIGNING_KEY``);
        else the secret is kept in the object store, sealed with ``kek`` when one is given
        (``MEMOTURN_KEY_ENCRYPTION_KEY``; see :mod:`memoturn.engine.signing`)."""
        self._engine = engine
        self._seed_in_store = seed is None
        if seed is not None:
            self.key_source = signing.FROM_ENVIRONMENT
        else:
            loaded = signing.load_seed(engine, SIGNING_SECRET, kek=kek)
            seed, self.key_source = loaded.seed, loaded.source
        if len(seed) != 32:
            raise InvalidInput(f"the token-signing seed must be 32 bytes, got {len(seed)}")
        self._seed = seed
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._public = self._key.public_key()

    def check(self) -> None:
        """Readiness of the signing key: it signs and verifies, and when it comes from the
        object store, the store still holds this very key. A node whose store lost the
        secret, or that now reaches another store, would sign tokens its peers refuse:
        :class:`Unavailable` then (a store that does not answer raises its own)."""
        if self._seed_in_store:
            stored = self._engine.catalog.stored_secret(SIGNING_SECRET)
            if stored != self._seed:
                raise Unavailable(
                    "the object store does not hold the token-signing key this node started "
                    "with" + (" (it holds none)" if stored is None else " (it holds another)"),
                    hint="restart the node against the deployment's store, or give every node "
                    "the same MEMOTURN_SIGNING_KEY",
                    retry_after=5,
                )
        probe = b"memoturn readiness"
        try:
            self._public.verify(self._key.sign(probe), probe)
        except InvalidSignature as e:  # cannot happen with a sound key; say so if it does
            raise Unavailable("the token-signing key does not verify its own signature") from e

    # -- minting ---------------------------------------------------------------------------

    def _sign(self, grant: Grant) -> MintedToken:
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": grant.subject,
            "kind": grant.kind,
            "iat": int(self._engine.clock.now()),
            "jti": secrets.token_hex(8),
        }
        if grant.kind != ROOT:
            claims["ns"] = grant.namespace
        if grant.kind == PROFILE:
            claims.update(
                profile=grant.profile,
                branch=grant.branch,
                scopes=sorted(grant.scopes),
                epoch=grant.epoch,
            )
        if grant.expires_at is not None:
            claims["exp"] = grant.expires_at
        return MintedToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), grant.expires_at)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with the deployment's key (audit heads; callers prefix their own
        domain so a signature of one kind is never valid as another)."""
        return self._key.sign(data)

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        return self._key

    def mint_root(self) -> str:
        return self._sign(Grant(ROOT)).token

    def mint(
        self,
        issuer: Grant,
        namespace: str,
        *,
        profile: str | None = None,
        branch: str | None = None,
        scopes: list[str] | None = None,
        ttl_s: int | None = None,
    ) -> MintedToken:
        """Mint a namespace token (root only) or a profile token (root, or the namespace's
        token). A minted token never outlives the token that minted it."""
        self.require_namespace(issuer, namespace)
        check_name(namespace, "namespace")
        ttl = validate.ttl(ttl_s)
        expires_at = self._engine.clock.now() + ttl if ttl is not None else None
        if issuer.expires_at is not None:
            expires_at = min(expires_at or issuer.expires_at, issuer.expires_at)
        if profile is None:
            if issuer.kind != ROOT:
                raise Forbidden(
                    "only the root token mints namespace tokens",
                    hint="name a profile to mint a profile token",
                )
            if branch is not None or scopes is not None:
                raise InvalidInput("branch and scopes apply to profile tokens only")
            self._engine.list_profiles(namespace)  # NotFound if the namespace does not exist
            return self._sign(Grant(NAMESPACE, namespace, expires_at=expires_at))
        check_name(profile, "profile")
        if branch is not None:
            check_name(branch, "branch")
        wanted = _scopes(scopes)
        epoch = self._engine.token_epoch(namespace, profile)
        return self._sign(
            Grant(PROFILE, namespace, profile, branch, wanted, epoch, expires_at=expires_at)
        )

    def ensure_root_token(self) -> Path:
        """Write ``DATA/root.token`` (mode 0600) unless it holds a token this deployment
        accepts; returns its path."""
        path = self._engine.data_dir / ROOT_TOKEN_FILE
        if path.exists():
            try:
                if self.verify(path.read_text().strip()).kind == ROOT:
                    return path
            except Unauthorized:
                pass  # signed by another key (e.g. a new MEMOTURN_SIGNING_KEY): replace it
        tmp = path.with_name(f".{ROOT_TOKEN_FILE}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.mint_root() + "\n")
        os.replace(tmp, path)
        return path

    # -- verifying -------------------------------------------------------------------------

    def verify(self, token: str | None) -> Grant:
        """The grant of a token, or :class:`Unauthorized` (missing, bad signature, expired,
        malformed, revoked)."""
        grant = self._signed_grant(token)
        if grant.kind == PROFILE:
            # The token's own profile, never the one a request names: this reveals nothing.
            # The epoch is cached per node for token_staleness_s: no store read per
            # request, and a revocation on another node reaches this one within that bound.
            try:
                current = self._engine.token_epoch(
                    str(grant.namespace), str(grant.profile), cached=True
                )
            except NotFound:
                current = None  # the profile was deleted: its tokens went with it
            self._check_epoch(grant, current)
        return grant

    def verify_offline(self, token: str | None) -> Grant | None:
        """:meth:`verify` when it needs no store read (the token's profile and its epoch
        are in this node's caches, or it is not a profile token); ``None`` when a read is
        due: then call :meth:`verify` (off the event loop). Raises what :meth:`verify`
        raises for a token that is invalid whatever the store says."""
        grant = self._signed_grant(token)
        if grant.kind == PROFILE:
            current = self._engine.cached_token_epoch(str(grant.namespace), str(grant.profile))
            if current is None:
                return None
            self._check_epoch(grant, current)
        return grant

    @staticmethod
    def _check_epoch(grant: Grant, current: int | None) -> None:
        if current != grant.epoch:
            raise Unauthorized("the token has been revoked", hint="mint a new token")

    def _signed_grant(self, token: str | None) -> Grant:
        """The grant of a token whose signature, claims and times check out (no store)."""
        if not token:
            raise Unauthorized(
                "no bearer token", hint="send 'Authorization: Bearer TOKEN' (see DATA/root.token)"
            )
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={
                    # Time is checked below against the engine's clock.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["sub", "kind", "iat"],
                },
            )
        except jwt.PyJWTError:
            raise Unauthorized(
                "the token is not valid", hint="its signature or format is wrong; mint a new one"
            ) from None
        grant = _grant(claims)
        now = self._engine.clock.now()
        if grant.expires_at is not None and grant.expires_at <= now:
            raise Unauthorized("the token has expired", hint="mint a new token")
        not_before = _time_claim(claims, "nbf")
        if not_before is not None and not_before > now:
            raise Unauthorized(
                "the token is not valid yet (its nbf is in the future)",
                hint="use it from its nbf on, or mint a token without one",
            )
        return grant

    # -- authorising -----------------------------------------------------------------------

    def require_root(self, grant: Grant) -> None:
        if grant.kind != ROOT:
            raise Forbidden("this operation needs the root token")

    def require_namespace(self, grant: Grant, namespace: str) -> None:
        """Root, or a namespace token of ``namespace``."""
        if grant.kind == ROOT:
            return
        if grant.kind != NAMESPACE or grant.namespace != namespace:
            raise Forbidden(
                "this token may not manage this namespace",
                hint="use the namespace's token or the root token",
            )

    def require_profile(
        self, grant: Grant, namespace: str, profile: str, *, branch: str | None, scope: str
    ) -> None:
        """May ``grant`` use ``scope`` on one profile-branch? ``branch=None`` means the call
        spans branches (creating, listing, deleting them): branch-locked tokens may not."""
        if grant.kind == ROOT:
            return
        if grant.namespace != namespace or (grant.kind == PROFILE and grant.profile != profile):
            raise Forbidden(
                "this token may not act on this profile",
                hint="use a token minted for the profile you address",
            )
        if grant.kind != PROFILE:
            return
        if grant.branch is not None and grant.branch != branch:
            raise Forbidden(
                f"this token is locked to branch {grant.branch!r}",
                hint="use a token that is not locked to a branch",
            )
        if scope not in grant.scopes:
            raise Forbidden(
                f"this token lacks the {scope!r} scope",
                hint=f"its scopes are {', '.join(sorted(grant.scopes))}",
            )


def _scopes(scopes: list[str] | None) -> frozenset[str]:
    if scopes is None:
        return frozenset(SCOPES)
    if not isinstance(scopes, list) or not scopes:
        raise InvalidInput("scopes must be a non-empty list of 'read' and 'write'")
    return frozenset(validate.choice(s, "scopes[]", SCOPES) for s in scopes)


def _time_claim(claims: dict[str, object], name: str) -> float | None:
    """A NumericDate claim (``exp``, ``nbf``, ``iat``): absent, or a finite number. Anything
    else makes the whole token malformed: a non-numeric ``exp`` must never mean "no expiry"."""
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthorized(
            f"the token's {name!r} claim is not a number of seconds", hint="mint a new token"
        )
    return float(value)


def _grant(claims: dict[str, object]) -> Grant:
    kind = claims.get("kind")
    expires_at = _time_claim(claims, "exp")
    _time_claim(claims, "iat")  # required (checked by the decoder); must be a number
    _time_claim(claims, "nbf")
    jti = claims.get("jti")
    token_id = jti if isinstance(jti, str) and jti.isalnum() and len(jti) <= 64 else None
    try:
        if kind == ROOT:
            return Grant(ROOT, expires_at=expires_at, token_id=token_id)
        ns = check_name(claims.get("ns"), "namespace")
        if kind == NAMESPACE and claims.get("sub") == ns:
            return Grant(NAMESPACE, ns, expires_at=expires_at, token_id=token_id)
        if kind == PROFILE:
            profile = check_name(claims.get("profile"), "profile")
            branch = claims.get("branch")
            epoch = claims.get("epoch")
            if claims.get("sub") == database_id(ns, profile) and isinstance(epoch, int):
                return Grant(
                    PROFILE,
                    ns,
                    profile,
                    check_name(branch, "branch") if branch is not None else None,
                    _scopes(claims.get("scopes")),  # type: ignore[arg-type]
                    epoch,
                    expires_at,
                    token_id,
                )
    except InvalidInput:
        pass
    raise Unauthorized("the token's claims are malformed", hint="mint a new token")


def signing_seed_from(value: str | None, name: str = "MEMOTURN_SIGNING_KEY") -> bytes | None:
    """``MEMOTURN_SIGNING_KEY`` (or ``name``, e.g. ``MEMOTURN_KEY_ENCRYPTION_KEY``): 32 bytes
    as 64 hex digits or base64."""
    if not value:
        return None
    try:
        seed = bytes.fromhex(value)
    except ValueError:
        try:
            seed = base64.b64decode(value, validate=True)
        except binascii.Error:
            seed = b""
    if len(seed) != 32:
        raise InvalidInput(
            f"{name} must be 32 bytes, as 64 hex digits or base64",
            hint="generate one with: python -c 'import secrets; print(secrets.token_hex(32))'",
        )
    return seed


def deployment_public_key(store: ObjectStore) -> Ed25519PublicKey | None:
    """The deployment's signing key, public half, for offline checks of what it signed
    (the audit stream, erasure receipts): ``MEMOTURN_SIGNING_KEY`` if set, else the secret
    in ``store`` (opened with ``MEMOTURN_KEY_ENCRYPTION_KEY`` when sealed). ``None`` when
    the store holds none, or holds it sealed and no key-encryption key is given."""
    seed = signing_seed_from(os.environ.get("MEMOTURN_SIGNING_KEY"))
    if seed is None:
        key = keys.deployment_secret(SIGNING_SECRET)
        try:
            seed = store.get(key, op="get_secret").data
        except ObjectNotFound:
            return None
        if seed.startswith(signing.ENVELOPE):
            kek = signing_seed_from(
                os.environ.get("MEMOTURN_KEY_ENCRYPTION_KEY"), "MEMOTURN_KEY_ENCRYPTION_KEY"
            )
            if kek is None:
                return None
            seed = signing.unseal(kek, seed, key)
    return Ed25519PrivateKey.from_private_bytes(seed).public_key()
