"""Extraction state of a profile-branch: which transcript turns have been turned into
memories, and the one transaction that applies an extractor's memories.

The engine reads the pending turns (:meth:`TranscriptExtraction.extraction_pending`),
lets go of the profile, asks the extractor, and then applies its answer
(:meth:`TranscriptExtraction.apply_extraction`) in one write that first checks nothing
changed meanwhile: the session's extraction has not moved on, and every turn still has
the hash it was read with. So a model call never holds the profile's lock, a re-run
never sends a turn twice, and a crash loses at most the batch in flight (the next call
resumes after the last applied one). ``extracted_turns`` lives in the profile database,
so it checkpoints, rewinds and branches with the memories it produced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from memoturn.core.errors import Conflict, InvalidInput, NotFound
from memoturn.core.model import ExtractAction, Memory, MemoryType, TurnOutcome
from memoturn.profile import rows

if TYPE_CHECKING:
    from memoturn.profile.memories import _Request
    from memoturn.profile.profile import Profile

MAX_AUTO_EVERY = 10_000


def turn_hash(role: str, name: str | None, content: str) -> str:
    """The fingerprint of a turn as an extractor read it."""
    key = "\x1f".join((role, name or "", content))
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def check_auto_extract(value: object) -> dict[str, Any] | None:
    """A session's ``auto_extract`` setting: ``{"every_turns": N}`` (run after every N new
    turns), ``{"at_end": true}`` (run once the session has ended), or both. A setting with
    neither turns it off (``None``)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput('auto_extract must be an object like {"every_turns": 10}')
    unknown = set(value) - {"every_turns", "at_end"}
    if unknown:
        raise InvalidInput(
            f"auto_extract: unknown fields: {', '.join(sorted(map(str, unknown)))}",
            hint="auto_extract takes every_turns (1 to 10000) and at_end (true/false)",
        )
    every, at_end = value.get("every_turns"), value.get("at_end", False)
    if every is not None and (
        not isinstance(every, int) or isinstance(every, bool) or not 1 <= every <= MAX_AUTO_EVERY
    ):
        raise InvalidInput(f"auto_extract.every_turns must be 1 to {MAX_AUTO_EVERY}, got {every!r}")
    if not isinstance(at_end, bool):
        raise InvalidInput(f"auto_extract.at_end must be true or false, got {at_end!r}")
    if every is None and not at_end:
        return None
    out: dict[str, Any] = {"at_end": at_end}
    if every is not None:
        out["every_turns"] = every
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class PendingTurn:
    turn: int
    role: str
    name: str | None
    content: str
    hash: str


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """Turns of a session not extracted yet, read at ``txid``."""

    session_id: str
    through: int
    """The last turn extracted so far (0: none)."""
    turns: list[PendingTurn]
    remaining: int
    """All turns after ``through`` (``turns`` may be a first page of them)."""
    ended: bool
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    report: list[TurnOutcome]
    memories: list[Memory]
    txid: int


@dataclasses.dataclass(frozen=True, slots=True)
class Made:
    """What an extraction on a (preview) branch did after a txid: its turns in order with
    the hash each was read with and the reason of a skip, and the memories it derived."""

    turns: list[tuple[int, str, str | None]]
    memories: list[Memory]
    """Each memory once, in the order the extraction came to it."""
    extractor: str


class TranscriptExtraction:
    """Mixin of :class:`~memoturn.profile.profile.Profile`."""

    def extraction_pending(self: Profile, session_id: str, *, limit: int = 1000) -> Pending:
        """The first ``limit`` turns of a session after the last one extracted."""
        cutoff = self.retained_after(self.clock.now()) or -1.0
        with self.db.read() as cur:
            s = self._session_row(cur, session_id)
            if s is None:
                raise NotFound(f"no session {session_id!r} in this profile")
            through = _through(cur, session_id)
            found = cur.execute(
                "SELECT turn, role, name, content FROM turns WHERE session_id = ? AND turn > ? "
                "AND created_at > ? ORDER BY turn LIMIT ?",
                (session_id, through, cutoff, limit),
            ).fetchall()
            (remaining,) = cur.execute(
                "SELECT count(*) FROM turns WHERE session_id = ? AND turn > ? AND created_at > ?",
                (session_id, through, cutoff),
            ).fetchone()
            txid = self.db.txid
        turns = [PendingTurn(t, r, n, c, turn_hash(r, n, c)) for t, r, n, c in found]
        return Pending(session_id, through, turns, remaining, s.ended_at is not None, txid)

    def apply_extraction(
        self: Profile,
        session_id: str,
        through: int,
        turns: Sequence[tuple[int, str]],
        requests: Sequence[_Request],
        vectors: Any,
        skips: Mapping[int, str],
        extractor: str,
    ) -> Applied:
        """Apply an extractor's memories for ``turns`` ((turn, hash) as read, in order) in
        one transaction, with the normal ingest rules; record the turns as extracted.
        :class:`Conflict` (nothing applied) if the session's extraction is no longer at
        ``through`` or a turn's content changed since it was read."""
        with self.db.write() as tx:
            cur = tx.cursor
            s = self._session_row(cur, session_id)
            if s is None:
                raise NotFound(f"no session {session_id!r} in this profile")
            if _through(cur, session_id) != through:
                raise Conflict(
                    f"session {session_id!r} was extracted by another call while the "
                    "extractor ran; nothing of this batch was applied",
                    hint="retry: the turns already extracted are not sent again",
                )
            for turn, expected in turns:
                row = cur.execute(
                    "SELECT role, name, content FROM turns WHERE session_id = ? AND turn = ?",
                    (session_id, turn),
                ).fetchone()
                if row is None or turn_hash(*row) != expected:
                    raise Conflict(
                        f"turn {turn} of session {session_id!r} changed while the extractor "
                        "ran (a rewind or an erasure); nothing of this batch was applied",
                        hint="retry: the turns are read again",
                    )
            ended = s.ended_at is not None
            by_turn: dict[int, list[TurnOutcome]] = {t: [] for t, _ in turns}
            memories: list[Memory] = []
            ids_of: dict[int, list[str]] = {t: [] for t, _ in turns}
            for req, vec in zip(requests, vectors, strict=True):
                if ended and req.type == MemoryType.TASK:
                    for t in req.turn_ids:
                        by_turn[t].append(
                            TurnOutcome(t, ExtractAction.SKIP, reason="a task of a session that "
                                        "has ended (its tasks ended with it)", type=req.type)
                        )  # fmt: skip
                    continue
                r = self._ingest_in(tx, req, vec, from_transcript=True)
                action = (
                    ExtractAction.DUPLICATE
                    if r.duplicate
                    else ExtractAction.SUPERSEDE
                    if r.superseded
                    else ExtractAction.ADD
                )
                memories.append(r.memory)
                for t in req.turn_ids:
                    ids_of[t].append(r.memory.id)
                    by_turn[t].append(
                        TurnOutcome(t, action, r.memory.id, list(r.superseded), None,
                                    r.memory.type, r.memory.topic)
                    )  # fmt: skip
            report: list[TurnOutcome] = []
            for turn, digest in turns:
                reason = None
                if not by_turn[turn]:
                    reason = skips.get(turn) or f"the {extractor} extractor found nothing here"
                    by_turn[turn].append(TurnOutcome(turn, ExtractAction.SKIP, reason=reason))
                report.extend(by_turn[turn])
                cur.execute(
                    "INSERT INTO extracted_turns(session_id, turn, turn_hash, txid, extractor, "
                    "reason, memory_ids) VALUES (?,?,?,?,?,?,?)",
                    (session_id, turn, digest, tx.txid, extractor, reason,
                     rows.dumps(ids_of[turn])),
                )  # fmt: skip
        return Applied(report, memories, tx.txid)

    def extraction_made(self: Profile, session_id: str, after_txid: int) -> Made:
        """What the extraction of ``session_id`` did on this branch after ``after_txid``
        (a preview branch's fork point)."""
        with self.db.read() as cur:
            found = cur.execute(
                "SELECT turn, turn_hash, reason, memory_ids, extractor FROM extracted_turns "
                "WHERE session_id = ? AND txid > ? ORDER BY turn",
                (session_id, after_txid),
            ).fetchall()
            seen: dict[str, Memory] = {}
            for row in found:
                for mid in json.loads(row[3]):
                    if mid not in seen:
                        seen[mid] = self._memory_by_id(cur, mid, include_expired=True)
        turns = [(t, h, reason) for t, h, reason, _, _ in found]
        extractor = found[0][4] if found else ""
        return Made(turns, list(seen.values()), extractor)

    def extraction_progress(self: Profile, session_id: str) -> tuple[int, int, int]:
        """(last turn extracted, turns still pending, txid) of a session."""
        p = self.extraction_pending(session_id, limit=1)
        return p.through, p.remaining, p.txid

    def auto_extract_due(self: Profile) -> list[str]:
        """Sessions whose ``auto_extract`` setting says extraction is due now."""
        with self.db.read() as cur:
            found = cur.execute(
                "SELECT s.id, s.auto_extract, s.ended_at, s.next_turn - 1, "
                "coalesce((SELECT max(turn) FROM extracted_turns e WHERE e.session_id = s.id), 0) "
                "FROM sessions s WHERE s.auto_extract IS NOT NULL"
            ).fetchall()
        due = []
        for sid, setting, ended_at, last, through in found:
            auto = json.loads(setting)
            waiting = last - through
            if waiting <= 0:
                continue
            every = auto.get("every_turns")
            if (every is not None and waiting >= every) or (auto["at_end"] and ended_at):
                due.append(sid)
        return due


def _through(cur: Any, session_id: str) -> int:
    (n,) = cur.execute(
        "SELECT coalesce(max(turn), 0) FROM extracted_turns WHERE session_id = ?", (session_id,)
    ).fetchone()
    return int(n)
