"""Governance policy as pure data: one ordered lattice per field, the effective policy the
meet (the stricter value, field by field) of a namespace's policy and a profile's override.

Fields and their stricter direction (API.md, "Governance"):

- ``retention_s``: the maximum age of any memory, turn or document chunk; smaller is
  stricter; ``None`` = no limit (the loosest).
- ``task_ttl_max_s``: the cap on a task's TTL; smaller is stricter; ``None`` = no cap.
- ``ai_egress``: where content may be sent for embedding or extraction:
  ``deny`` < ``self_hosted`` < ``any`` (``deny`` = in-process models only).
- ``audit``: ``True`` is stricter.
- ``erasure_grace_s``: the wait before object-store history is rewritten after an erasure;
  smaller is stricter; ``None`` = no deadline. A namespace policy that omits it gets 24 h.

A profile override names only the fields it sets; the others inherit the namespace's value.
It may only tighten: :func:`loosens` names the first field where it would loosen.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from memoturn.core.errors import InvalidInput
from memoturn.core.model import Record

EGRESS = ("deny", "self_hosted", "any")
"""``ai_egress`` values, strictest first."""
DEFAULT_ERASURE_GRACE_S = 24 * 3600
MAX_SECONDS = 100 * 365 * 24 * 3600
FIELDS = ("retention_s", "task_ttl_max_s", "ai_egress", "audit", "erasure_grace_s")
_SECONDS = ("retention_s", "task_ttl_max_s", "erasure_grace_s")


@dataclasses.dataclass(frozen=True, slots=True)
class Policy(Record):
    """A complete policy (every field has a value)."""

    retention_s: int | None = None
    task_ttl_max_s: int | None = None
    ai_egress: str = "any"
    audit: bool = False
    erasure_grace_s: int | None = DEFAULT_ERASURE_GRACE_S

    def allows_egress(self, egress: str) -> bool:
        """May content go to a model whose egress is ``in_process``, ``self_hosted`` or
        ``third_party``?"""
        if egress == "in_process":
            return True
        if egress == "self_hosted":
            return self.ai_egress in ("self_hosted", "any")
        return self.ai_egress == "any"


TOP = Policy(None, None, "any", False, None)
"""The loosest policy: the identity of :func:`meet`."""
DEFAULT = Policy()
"""A namespace's policy until root sets one."""


def rank(field: str, value: Any) -> float:
    """A number that orders one field's values: smaller is stricter."""
    if field in _SECONDS:
        return math.inf if value is None else float(value)
    if field == "ai_egress":
        return float(EGRESS.index(value))
    if field == "audit":
        return 0.0 if value else 1.0
    raise KeyError(field)


def stricter(field: str, a: Any, b: Any) -> Any:
    """The stricter of two values of one field (``a`` on a tie)."""
    return a if rank(field, a) <= rank(field, b) else b


def meet(a: Policy, b: Policy) -> Policy:
    """The effective policy of two: field by field the stricter value."""
    return Policy(**{f: stricter(f, getattr(a, f), getattr(b, f)) for f in FIELDS})


def at_least_as_strict(a: Policy, b: Policy) -> bool:
    """Is ``a`` at least as strict as ``b`` in every field?"""
    return all(rank(f, getattr(a, f)) <= rank(f, getattr(b, f)) for f in FIELDS)


def overlay(override: Mapping[str, Any]) -> Policy:
    """An override as a complete policy: the fields it does not set are the loosest."""
    return dataclasses.replace(TOP, **dict(override))


def effective(namespace: Policy, override: Mapping[str, Any] | None) -> Policy:
    """The policy a profile lives under."""
    return meet(namespace, overlay(override or {}))


def loosens(base: Policy, override: Mapping[str, Any] | Policy) -> str | None:
    """The first field (in :data:`FIELDS` order) where ``override`` is looser than
    ``base``, or ``None`` when it only tightens or keeps. A mapping is an override naming
    only the fields it sets."""
    fields = override.to_dict() if isinstance(override, Policy) else dict(override)
    for f in FIELDS:
        if f in fields and rank(f, fields[f]) > rank(f, getattr(base, f)):
            return f
    return None


def parse(doc: object, *, partial: bool) -> dict[str, Any]:
    """Check a policy document from a client. ``partial=False`` (a namespace policy):
    the fields it omits take their defaults and the answer has every field.
    ``partial=True`` (a profile override): only the fields given."""
    if not isinstance(doc, Mapping):
        raise InvalidInput("a policy must be a JSON object", hint=f"fields: {', '.join(FIELDS)}")
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown policy field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            hint=f"the fields are {', '.join(FIELDS)}",
        )
    out: dict[str, Any] = {} if partial else DEFAULT.to_dict()
    for f, value in doc.items():
        out[f] = _checked(f, value)
    return out


def _checked(field: str, value: object) -> Any:
    if field in _SECONDS:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SECONDS:
            raise InvalidInput(
                f"{field} must be a whole number of seconds from 1 to {MAX_SECONDS}, or null",
                hint="null means no limit",
            )
        return value
    if field == "ai_egress":
        if value not in EGRESS:
            raise InvalidInput(f"ai_egress must be one of {', '.join(EGRESS)}, got {value!r}")
        return value
    if not isinstance(value, bool):
        raise InvalidInput("audit must be true or false")
    return value


__all__ = [
    "DEFAULT",
    "DEFAULT_ERASURE_GRACE_S",
    "EGRESS",
    "FIELDS",
    "TOP",
    "Policy",
    "at_least_as_strict",
    "effective",
    "loosens",
    "meet",
    "overlay",
    "parse",
    "rank",
    "stricter",
]


@dataclasses.dataclass(frozen=True, slots=True)
class ProfilePolicy(Record):
    """A profile's policies: its namespace's, its own override (only the fields it sets)
    and the effective one it lives under (the strictest of the two, field by field)."""

    namespace: Policy
    profile: dict[str, Any]
    effective: Policy
