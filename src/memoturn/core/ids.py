"""Ids and content fingerprints."""

from __future__ import annotations

import hashlib
import os
import re
import time
import unicodedata

_SPACES = re.compile(r"\s+")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]


def new_id() -> str:
    """A new sortable id (ULID, 26 characters, time-ordered): 48 bits of milliseconds and
    80 random bits in Crockford base32. Encoded here, two characters per step, unrolled,
    because ids are minted on every manifest write (the library's encoder cost twice as
    much). The random bits come straight from ``os.urandom``: a shared buffer of them,
    under a lock, cost more, and would need resetting in a forked child."""
    n = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    p = _PAIRS
    return (
        _CROCKFORD[n >> 125] + _CROCKFORD[(n >> 120) & 31]
        + p[(n >> 110) & 1023] + p[(n >> 100) & 1023] + p[(n >> 90) & 1023]
        + p[(n >> 80) & 1023] + p[(n >> 70) & 1023] + p[(n >> 60) & 1023]
        + p[(n >> 50) & 1023] + p[(n >> 40) & 1023] + p[(n >> 30) & 1023]
        + p[(n >> 20) & 1023] + p[(n >> 10) & 1023] + p[n & 1023]
    )  # fmt: skip


def normalise_content(text: str) -> str:
    """The form two contents must share to count as the same memory: Unicode NFKC,
    case-folded, whitespace collapsed, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(
    memory_type: str, topic: str | None, content: str, session_id: str | None = None
) -> str:
    """Fingerprint of (type, topic, normalised content): equal fingerprints are duplicates.

    Session tasks also hash their session: the same to-do in two sessions is two tasks, each
    ending with its session."""
    scope = session_id if memory_type == "task" and session_id else ""
    key = "\x1f".join((memory_type, topic or "", scope, normalise_content(content)))
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
