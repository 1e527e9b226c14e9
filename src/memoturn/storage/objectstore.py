"""The object-store interface every storage backend implements, and its shared types.

The contract (every backend, every wrapper):

* **Keys** are relative, ``/``-separated strings such as ``"profiles/acme--alice/manifest"``:
  no leading ``/``, no empty, ``.`` or ``..`` segment, no backslash or control character,
  at most 1,024 UTF-8 bytes. A bad key raises :class:`InvalidKey` (a ``ValueError``) before
  any I/O. A backend may reserve a few more names and says so in its docstring.
* **Etags** name one version of an object. Memory and local-dir stores give every write a
  new etag, even a rewrite of the same bytes; S3 gives the MD5 of the bytes, so a rewrite
  of identical bytes keeps its etag there. Callers that need every write to be distinct
  (manifests) put a changing value (an epoch, a counter) in the bytes.
* ``get``/``get_range``/``head`` never change anything. A missing object is
  :class:`ObjectNotFound` from ``get``/``get_range`` and ``None`` from ``head``.
* ``put`` is atomic: readers see the old object or the new one, never a mix. A plain put
  overwrites and is idempotent. ``if_absent=True`` writes only if no object has the key;
  ``if_match=etag`` writes only if the current etag equals it (a missing object fails).
  A failed condition is :class:`PreconditionFailed` and nothing was written.
* A conditional put whose answer was lost (timeout, retry after the write landed) may
  report :class:`PreconditionFailed` or :class:`StoreError` although it landed. Put a
  write-id in ``metadata`` and read it back to resolve such a write.
* ``delete`` and ``delete_many`` are idempotent: a missing key is not an error.
* ``list(prefix)`` yields every object whose key starts with ``prefix`` (a plain string
  prefix, so ``"a/b"`` also matches ``"a/bc"``), sorted by key. It is taken when called.
  Listings may leave ``metadata`` empty.
* **Metadata** is a small ``dict[str, str]``: keys ``[a-z0-9][a-z0-9-]*`` (at most 64
  characters), printable ASCII values; it is stored with the object and replaced by each put.
* **Errors**: :class:`StoreError` (an ``Unavailable``: transient, the same call may succeed
  later), :class:`ObjectNotFound`, :class:`PreconditionFailed`, :class:`InvalidKey` and
  :class:`InvalidStoreArgument` (both ``ValueError``, raised before any I/O), and
  :class:`StoreMisconfigured` (credentials, permissions, a wrong bucket: retrying will not
  help). Backends translate their own exceptions into these once, at their boundary.
* Every method takes a keyword ``op`` naming the caller's operation (``"put_segment"``,
  ``"cas_manifest"``); wrappers use it for fault injection and metrics. Backends ignore it.

Every store is safe to share between threads.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from memoturn.core.errors import Conflict, Internal, InvalidInput, NotFound, Unavailable

MAX_KEY_BYTES = 1024
_METADATA_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_KEY_HINT = "keys are relative '/'-separated paths such as 'profiles/acme--alice/manifest'"


class StoreError(Unavailable):
    """The object store failed in a way that may pass (network, 5xx, disk busy). Retry.
    Its message names keys and paths: for the log, not for clients."""

    public = False


class StoreMisconfigured(Internal):
    """The object store refused us for a reason retrying cannot fix (credentials,
    permissions, missing bucket, unsupported operation)."""

    public = False


class ObjectNotFound(NotFound):
    """No object has this key."""


class PreconditionFailed(Conflict):
    """A conditional put lost: the key exists (``if_absent``) or its etag moved on
    (``if_match``). Nothing was written; read the object again and decide."""


class InvalidStoreArgument(InvalidInput, ValueError):
    """An argument (metadata, byte range, flags) breaks the rules of the contract."""


class InvalidKey(InvalidStoreArgument):
    """The key breaks the key rules of the contract."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object without reading its bytes."""

    key: str
    size: int
    etag: str
    last_modified: float  # seconds since the epoch
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredObject:
    """One object read whole."""

    key: str
    data: bytes
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid object key, else raise :class:`InvalidKey`."""
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"object key {key!r} is empty or not a string", hint=_KEY_HINT)
    if key.startswith("/"):
        raise InvalidKey(f"object key {key!r} is absolute", hint=_KEY_HINT)
    if _BAD_KEY_CHARS.search(key):
        raise InvalidKey(f"object key {key!r} has a backslash or control char", hint=_KEY_HINT)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key is over {MAX_KEY_BYTES} bytes", hint=_KEY_HINT)
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(
                f"object key {key!r} has an empty, '.' or '..' segment", hint=_KEY_HINT
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it could start a valid key (``""`` lists everything)."""
    if prefix == "":
        return prefix
    # A prefix may end in "/" or mid-segment; check it as a key with a stand-in tail.
    validate_key(prefix + "x" if prefix.endswith("/") else prefix)
    return prefix


def validate_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """Return a copy of ``metadata`` if it follows the rules, else raise InvalidStoreArgument."""
    if not metadata:
        return {}
    for name, value in metadata.items():
        if not isinstance(name, str) or not _METADATA_KEY.fullmatch(name):
            raise InvalidStoreArgument(
                f"metadata key {name!r} is not allowed",
                hint="use 1-64 characters of [a-z0-9-], starting with a letter or digit",
            )
        if not isinstance(value, str) or not value.isascii() or not value.isprintable():
            raise InvalidStoreArgument(
                f"metadata value for {name!r} is not printable ASCII",
                hint="encode binary or unicode values (hex, base64) before storing",
            )
    return dict(metadata)


def check_range(start: int, length: int) -> None:
    """Reject a negative start or length for ``get_range``."""
    if start < 0 or length < 0:
        raise InvalidStoreArgument(f"byte range start={start} length={length} is negative")


class ObjectStore(ABC):
    """A flat key -> bytes store with conditional puts. See the module docstring for the
    contract every implementation keeps."""

    @abstractmethod
    def get(self, key: str, *, op: str = "get") -> StoredObject:
        """Read a whole object. Missing -> :class:`ObjectNotFound`."""

    @abstractmethod
    def get_range(self, key: str, start: int, length: int, *, op: str = "get_range") -> bytes:
        """Read ``length`` bytes from ``start``; fewer (maybe none) if the object ends first.
        Missing -> :class:`ObjectNotFound`."""

    @abstractmethod
    def head(self, key: str, *, op: str = "head") -> ObjectInfo | None:
        """Size, etag, time and metadata of an object, or ``None`` if it is missing."""

    @abstractmethod
    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_match: str | None = None,
        metadata: dict[str, str] | None = None,
        op: str = "put",
    ) -> str:
        """Write an object atomically and return its new etag. With ``if_absent`` or
        ``if_match`` a failed condition raises :class:`PreconditionFailed`."""

    @abstractmethod
    def delete(self, key: str, *, op: str = "delete") -> None:
        """Remove an object. Idempotent: a missing key is fine."""

    def delete_many(self, keys: Iterable[str], *, op: str = "delete_many") -> None:
        """Remove every key given. Idempotent; not atomic as a whole."""
        for key in keys:
            self.delete(key, op=op)

    @abstractmethod
    def list(self, prefix: str = "", *, op: str = "list") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, sorted by key."""


def check_put_args(key: str, if_absent: bool, if_match: str | None) -> None:
    """Shared argument checks for ``put``."""
    validate_key(key)
    if if_absent and if_match is not None:
        raise InvalidStoreArgument(
            f"put of {key!r} asked for both if_absent and if_match",
            hint="if_absent creates a new object, if_match replaces an existing one: pick one",
        )
