"""Diffs of memories between two points of a profile's history: the point specs and the
comparison (pure; the engine reads the two states).

A point spec is one of

- ``branch:NAME``: the head of branch NAME;
- ``checkpoint:NAME`` or ``checkpoint:BRANCH/NAME``: a checkpoint (automatic undo
  checkpoints included) of the request's branch, or of BRANCH;
- ``txid:N`` or ``txid:BRANCH/N``: txid N of the request's branch, or of BRANCH.

Anything else is an :class:`~memoturn.core.errors.InvalidInput`; names follow the name rules.
"""

from __future__ import annotations

import dataclasses
import re

from memoturn.core.errors import InvalidInput
from memoturn.core.model import Memory, MemoryChange
from memoturn.core.names import check_name

KINDS = ("branch", "checkpoint", "txid")
SPEC_HINT = "use branch:NAME, checkpoint:NAME, checkpoint:BRANCH/NAME, txid:N or txid:BRANCH/N"
MAX_SPEC_CHARS = 160
MAX_TXID = 2**62
_TXID = re.compile(r"[0-9]{1,19}")
_COMPARED = [f.name for f in dataclasses.fields(Memory) if f.name != "id"]


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    """A parsed spec: ``name`` for a checkpoint, ``txid`` for a txid, neither for a head."""

    spec: str
    kind: str
    branch: str
    name: str | None = None
    txid: int | None = None


def parse_point(spec: object, what: str, branch: str) -> Point:
    """Parse the ``what`` ("from" or "to") spec of a diff asked on ``branch``."""
    if not isinstance(spec, str) or not spec:
        raise InvalidInput(f"{what} must be a point spec string", hint=SPEC_HINT)
    if len(spec) > MAX_SPEC_CHARS:
        raise InvalidInput(f"{what} is longer than {MAX_SPEC_CHARS} characters", hint=SPEC_HINT)
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in KINDS or not rest:
        raise InvalidInput(f"{what} {spec!r} is not a point spec", hint=SPEC_HINT)
    if kind == "branch":
        return Point(spec, kind, _name(rest, "branch", what))
    on, slash, value = rest.rpartition("/")
    on_branch = _name(on, "branch", what) if slash else branch
    if kind == "checkpoint":
        return Point(spec, kind, on_branch, name=_name(value, "checkpoint", what))
    if not _TXID.fullmatch(value) or int(value) > MAX_TXID:
        raise InvalidInput(f"{what} {spec!r}: the txid must be a whole number", hint=SPEC_HINT)
    return Point(spec, kind, on_branch, txid=int(value))


def _name(value: str, kind: str, what: str) -> str:
    try:
        return check_name(value, kind)
    except InvalidInput as e:
        raise InvalidInput(f"{what}: {e.message}", hint=SPEC_HINT) from None


def compare(
    before: list[Memory], after: list[Memory]
) -> tuple[list[Memory], list[Memory], list[MemoryChange]]:
    """(added, removed, changed) from the memories current at one point to another, each
    in id order (ids sort by creation time)."""
    old = {m.id: m for m in before}
    new = {m.id: m for m in after}
    added = [new[i] for i in sorted(new.keys() - old.keys())]
    removed = [old[i] for i in sorted(old.keys() - new.keys())]
    changed = []
    for i in sorted(old.keys() & new.keys()):
        fields = [f for f in _COMPARED if getattr(old[i], f) != getattr(new[i], f)]
        if fields:
            changed.append(MemoryChange(i, fields, old[i], new[i]))
    return added, removed, changed
