"""Ids and content fingerprints."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ulid import ULID

_SPACES = re.compile(r"\s+")


def new_id() -> str:
    """A new sortable id (ULID, 26 characters, time-ordered)."""
    return str(ULID())


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
