"""What an erasure asks for, checked (pure: no I/O).

An erasure names the items to hard-delete from a profile-branch: memories by id (each
with its whole topic chain), every version of a topic, a session (its turns, its task
memories and its record), documents by id, KV keys, or ``all``. ``force`` rewrites the
checkpoints and branches that still hold the content instead of waiting for them to go.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from memoturn.core import limits, validate
from memoturn.core.errors import InvalidInput, TooLarge
from memoturn.core.names import check_name

MAX_ERASURE_ITEMS = limits.MAX_ERASURE_ITEMS
MAX_REASON_CHARS = 1024
FIELDS = ("memory_ids", "topic", "session_id", "document_ids", "kv", "all", "force", "reason")
SELECTORS = ("memory_ids", "topic", "session_id", "document_ids", "kv", "all")


@dataclasses.dataclass(frozen=True, slots=True)
class ErasureRequest:
    memory_ids: tuple[str, ...] = ()
    topic: str | None = None
    session_id: str | None = None
    document_ids: tuple[str, ...] = ()
    kv: tuple[tuple[str, str], ...] = ()
    all: bool = False
    force: bool = False
    reason: str | None = None
    retention_before: float | None = None
    """The sweeper's retention erasures: every memory, turn and document created at or
    before this time (never from a client)."""

    def asked(self) -> dict[str, Any]:
        """The request as given (for the record and the receipt): only the fields set."""
        out: dict[str, Any] = {}
        if self.memory_ids:
            out["memory_ids"] = list(self.memory_ids)
        if self.topic is not None:
            out["topic"] = self.topic
        if self.session_id is not None:
            out["session_id"] = self.session_id
        if self.document_ids:
            out["document_ids"] = list(self.document_ids)
        if self.kv:
            out["kv"] = [{"space": s, "key": k} for s, k in self.kv]
        if self.all:
            out["all"] = True
        if self.force:
            out["force"] = True
        if self.reason is not None:
            out["reason"] = self.reason
        if self.retention_before is not None:
            out["retention_before"] = self.retention_before
        return out

    @classmethod
    def from_asked(cls, doc: Mapping[str, Any]) -> ErasureRequest:
        """The request back from :meth:`asked` (a stored record)."""
        rest = dict(doc)
        before = rest.pop("retention_before", None)
        if before is not None:
            return cls(retention_before=float(before), reason=rest.get("reason"))
        return parse(rest)


def _ids(value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise validate.wrong_type(field, "a list of ids", value)
    if not value:
        raise InvalidInput(f"{field} must not be empty when given")
    if len(value) > MAX_ERASURE_ITEMS:
        raise TooLarge(f"{field} names {len(value)} items; the limit is {MAX_ERASURE_ITEMS}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > 64:
            raise InvalidInput(f"{field}[{i}] must be an id (a non-empty string)")
        out.append(item)
    return tuple(dict.fromkeys(out))


def _kv(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise validate.wrong_type("kv", "a list of {space, key} objects", value)
    if not value:
        raise InvalidInput("kv must not be empty when given")
    if len(value) > MAX_ERASURE_ITEMS:
        raise TooLarge(f"kv names {len(value)} keys; the limit is {MAX_ERASURE_ITEMS}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) != {"space", "key"}:
            raise InvalidInput(f"kv[{i}] must be an object with exactly space and key")
        space = check_name(item["space"], "KV space")
        key = item["key"]
        if not isinstance(key, str) or not key or len(key) > limits.MAX_KV_KEY_CHARS:
            raise InvalidInput(
                f"kv[{i}].key must be a string of 1-{limits.MAX_KV_KEY_CHARS} characters"
            )
        out.append((space, key))
    return tuple(dict.fromkeys(out))


def _flag(value: object, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise validate.wrong_type(field, "true or false", value)
    return value


def parse(doc: object) -> ErasureRequest:
    """Check an erasure request (a JSON object); InvalidInput naming the first problem."""
    if not isinstance(doc, Mapping):
        raise validate.wrong_type("erasure", "an object", doc)
    unknown = set(doc) - set(FIELDS)
    if unknown:
        raise validate.unknown(unknown, FIELDS)
    req = ErasureRequest(
        memory_ids=_ids(doc.get("memory_ids"), "memory_ids"),
        topic=validate.short(doc.get("topic"), "topic", max_chars=limits.MAX_TOPIC_CHARS),
        session_id=validate.session_id(doc.get("session_id")),
        document_ids=_ids(doc.get("document_ids"), "document_ids"),
        kv=_kv(doc.get("kv")),
        all=_flag(doc.get("all"), "all"),
        force=_flag(doc.get("force"), "force"),
        reason=validate.short(doc.get("reason"), "reason", max_chars=MAX_REASON_CHARS),
    )
    chosen = [f for f in SELECTORS if doc.get(f) not in (None, False)]
    if not chosen:
        raise InvalidInput(
            "an erasure must name what to erase: memory_ids, topic, session_id, "
            "document_ids, kv or all",
            hint='e.g. {"memory_ids": ["01J..."]}',
        )
    if req.all and len(chosen) > 1:
        raise InvalidInput("all erases everything; give it alone (with force or reason)")
    return req


__all__ = ["MAX_ERASURE_ITEMS", "ErasureRequest", "parse"]
