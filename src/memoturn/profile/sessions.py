"""Sessions: the verbatim transcript and session-scoped task memories."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from memoturn.core import limits, validate
from memoturn.core.errors import Conflict, InvalidInput, NotFound
from memoturn.core.ids import new_id
from memoturn.core.model import (
    Session,
    SessionEnded,
    SessionPage,
    SessionResult,
    Turn,
    TurnPage,
    TurnResult,
    TurnsResult,
    Written,
)
from memoturn.profile import rows
from memoturn.profile.database import Transaction
from memoturn.profile.extraction import check_auto_extract

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile

ROLES = ("user", "assistant", "system", "tool")
_SESSION_COLUMNS = "id, created_at, ended_at, task_ttl_s, metadata, auto_extract"


def embedding_texts(previous: str | None, contents: list[str]) -> list[str]:
    """What gets embedded for each of ``contents``, turns appended in order after a turn
    whose content is ``previous`` (``None`` at the start of a session): the turn itself,
    then the turn before it as context. A reply seldom names its topic ("Yes, last
    Tuesday!"), and its question usually does. The turn comes first, so the embedder's
    token cap cuts the context before it cuts the turn. Keyword search indexes the turn's
    own words only.
    """
    texts = []
    for content in contents:
        texts.append(content if previous is None else f"{content}\n{previous}")
        previous = content
    return texts


def _session(row: tuple[Any, ...]) -> Session:
    auto = json.loads(row[5]) if row[5] is not None else None
    return Session(row[0], row[1], row[2], row[3], json.loads(row[4]), auto)


class SessionOps:
    """Mixin of :class:`~memoturn.profile.profile.Profile`: sessions and transcripts."""

    def open_session(
        self: Profile,
        session_id: str | None = None,
        *,
        task_ttl_s: int | None = None,
        metadata: dict[str, Any] | None = None,
        auto_extract: dict[str, Any] | None = None,
    ) -> SessionResult:
        """Open a session (a new id when none is given). Opening an open session again with
        the same settings returns it; an ended one is a conflict. ``auto_extract`` (see
        :func:`~memoturn.profile.extraction.check_auto_extract`) given for an open session
        replaces its setting."""
        sid = validate.session_id(session_id)
        auto = check_auto_extract(auto_extract)
        ttl = validate.ttl(task_ttl_s, "task_ttl_s") or limits.DEFAULT_TASK_TTL_S
        if self.task_ttl_max_s is not None:
            ttl = min(ttl, self.task_ttl_max_s)  # the policy's cap; the answer shows it
        meta = validate.metadata(metadata)
        with self.db.write() as tx:
            sid = sid or new_id()
            existing = self._session_row(tx.cursor, sid)
            if existing is not None:
                if existing.ended_at is not None:
                    raise Conflict(f"session {sid!r} has ended", hint="open a new session")
                if auto_extract is None or auto == existing.auto_extract:
                    tx.cancel()
                    return SessionResult(existing, self.db.txid)
                tx.cursor.execute(
                    "UPDATE sessions SET auto_extract = ? WHERE id = ?",
                    (rows.dumps(auto) if auto else None, sid),
                )
                return SessionResult(dataclasses.replace(existing, auto_extract=auto), tx.txid)
            tx.cursor.execute(
                "INSERT INTO sessions(id, created_at, task_ttl_s, metadata, auto_extract) "
                "VALUES (?,?,?,?,?)",
                (sid, tx.now, ttl, rows.dumps(meta), rows.dumps(auto) if auto else None),
            )
        return SessionResult(Session(sid, tx.now, None, ttl, meta, auto), tx.txid)

    def get_session(self: Profile, session_id: str) -> SessionResult:
        """A session's settings and whether it has ended."""
        with self.db.read() as cur:
            s = self._session_row(cur, session_id)
            txid = self.db.txid
        if s is None:
            raise NotFound(f"no session {session_id!r} in this profile")
        return SessionResult(s, txid)

    def list_sessions(self: Profile, *, limit: int = 100, cursor: str | None = None) -> SessionPage:
        """Sessions in id order; ``cursor`` is the ``next_cursor`` of the previous page."""
        limit = validate.integer(limit, "limit", low=1, high=1000)
        after = validate.short(cursor, "cursor", max_chars=limits.MAX_SESSION_ID_CHARS) or ""
        with self.db.read() as cur:
            found = cur.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit + 1),
            ).fetchall()
            txid = self.db.txid
        page, next_cursor = rows.page([_session(r) for r in found], limit, lambda s: s.id)
        return SessionPage(page, txid, next_cursor)

    def _session_row(self: Profile, cur: Any, sid: str) -> Session | None:
        row = cur.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (sid,)
        ).fetchone()
        return _session(row) if row else None

    def _session_for_write(self: Profile, tx: Transaction, sid: str) -> Session:
        """The open session ``sid``, created with defaults if it does not exist yet."""
        s = self._session_row(tx.cursor, sid)
        if s is None:
            tx.cursor.execute(
                "INSERT INTO sessions(id, created_at, task_ttl_s, metadata) VALUES (?,?,?,'{}')",
                (sid, tx.now, limits.DEFAULT_TASK_TTL_S),
            )
            return Session(sid, tx.now, None, limits.DEFAULT_TASK_TTL_S, {})
        if s.ended_at is not None:
            raise Conflict(f"session {sid!r} has ended", hint="open a new session")
        return s

    def append_turn(
        self: Profile,
        session_id: str,
        role: str,
        content: str,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> TurnResult:
        """Append a verbatim turn; returns it (with its number in the session) and the txid."""
        done = self.append_turns(
            session_id, [{"role": role, "content": content, "name": name, "metadata": metadata}]
        )
        return TurnResult(done.turns[0], done.txid)

    def append_turns(self: Profile, session_id: str, turns: list[dict[str, Any]]) -> TurnsResult:
        """Append several turns (``role``, ``content``, ``name``, ``metadata``) in one
        transaction, numbered in order."""
        sid = validate.session_id(session_id)
        assert sid is not None
        if not isinstance(turns, list) or not 1 <= len(turns) <= limits.MAX_BATCH:
            raise InvalidInput(f"turns must be a list of 1 to {limits.MAX_BATCH} turns")
        checked = []
        for i, t in enumerate(turns):
            if not isinstance(t, dict):
                raise InvalidInput(f"turns[{i}] must be an object")
            unknown = set(t) - {"role", "content", "name", "metadata"}
            if unknown:
                raise InvalidInput(f"turns[{i}]: unknown fields: {', '.join(sorted(unknown))}")
            checked.append(
                (
                    validate.choice(t.get("role"), f"turns[{i}].role", ROLES),
                    validate.text(
                        t.get("content"),
                        f"turns[{i}].content",
                        max_bytes=limits.MAX_TURN_CONTENT_BYTES,
                    ),
                    validate.short(t.get("name"), f"turns[{i}].name", max_chars=128),
                    validate.metadata(t.get("metadata"), f"turns[{i}].metadata"),
                )
            )
        contents = [c[1] for c in checked]
        # The embeddings depend on the session's last turn, read before embedding (outside
        # the write lock). If another append lands in between, embed again holding the lock.
        for attempt in range(2):
            with contextlib.ExitStack() as held:
                if attempt:
                    held.enter_context(self.db.lock)
                start, previous = self._transcript_tail(sid)
                vectors = self._embed(embedding_texts(previous, contents))
                with self.db.write() as tx:
                    self._session_for_write(tx, sid)
                    (n,) = tx.cursor.execute(
                        "SELECT next_turn FROM sessions WHERE id = ?", (sid,)
                    ).fetchone()
                    if n != start:
                        tx.cancel()
                        continue
                    out = self._insert_turns(tx, sid, n, checked, vectors)
                return TurnsResult(out, tx.txid)
        raise AssertionError("unreachable: the second attempt holds the profile lock")

    def _transcript_tail(self: Profile, sid: str) -> tuple[int, str | None]:
        """The number the session's next turn will get, and the content of its last turn."""
        with self.db.read() as cur:
            row = cur.execute("SELECT next_turn FROM sessions WHERE id = ?", (sid,)).fetchone()
            start = row[0] if row else 1
            last = cur.execute(
                "SELECT content FROM turns WHERE session_id = ? AND turn = ?", (sid, start - 1)
            ).fetchone()
        return start, last[0] if last else None

    def _insert_turns(
        self: Profile,
        tx: Transaction,
        sid: str,
        n: int,
        checked: list[tuple[str, str, str | None, dict[str, Any]]],
        vectors: Any,
    ) -> list[Turn]:
        out: list[Turn] = []
        for (role, content, name, meta), vec in zip(checked, vectors, strict=True):
            tx.cursor.execute(
                "INSERT INTO turns(session_id, turn, role, name, content, metadata, "
                "created_at, embedding) VALUES (?,?,?,?,?,?,?,?)",
                (
                    sid,
                    n,
                    role,
                    name,
                    content,
                    rows.dumps(meta),
                    tx.now,
                    rows.to_embedding_blob(vec),
                ),
            )
            rid = self.db.conn.last_insert_rowid()
            tx.after_commit(lambda rid=rid, vec=vec: self.turn_index.add(rid, vec))
            out.append(Turn(sid, n, role, name, content, meta, tx.now))
            n += 1
        tx.cursor.execute("UPDATE sessions SET next_turn = ? WHERE id = ?", (n, sid))
        return out

    def read_turns(
        self: Profile,
        session_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> TurnPage:
        """The transcript in order; ``after`` is the last turn number already read (or give
        the ``next_cursor`` of the previous page as ``cursor``)."""
        if cursor is not None:
            if not isinstance(cursor, str) or not cursor.isdigit():
                raise InvalidInput("cursor must be the next_cursor of a previous page")
            after = int(cursor)
        validate.integer(after, "after", low=0, high=2**62)
        validate.integer(limit, "limit", low=1, high=10_000)
        with self.db.read() as cur:
            if self._session_row(cur, session_id) is None:
                raise NotFound(f"no session {session_id!r} in this profile")
            found = cur.execute(
                f"SELECT {rows.TURN_COLUMNS} FROM turns WHERE session_id = ? AND turn > ? "
                "AND created_at > ? ORDER BY turn LIMIT ?",
                (session_id, after, self.retained_after(self.clock.now()) or -1.0, limit + 1),
            ).fetchall()
            txid = self.db.txid
        page, next_cursor = rows.page([rows.turn(r) for r in found], limit, lambda t: t.turn)
        return TurnPage(page, txid, next_cursor)

    def end_session(self: Profile, session_id: str) -> SessionEnded:
        """End a session: its task memories are deleted in the same transaction
        (``deleted_tasks``). The transcript stays. Ending an ended session changes nothing."""
        with self.db.write() as tx:
            s = self._session_row(tx.cursor, session_id)
            if s is None:
                raise NotFound(f"no session {session_id!r} in this profile")
            if s.ended_at is not None:
                tx.cancel()
                return SessionEnded(0, self.db.txid)
            tasks = tx.cursor.execute(
                "SELECT rid FROM memories WHERE session_id = ? AND type = 'task'", (session_id,)
            ).fetchall()
            tx.cursor.execute(
                "DELETE FROM memories WHERE session_id = ? AND type = 'task'", (session_id,)
            )
            tx.cursor.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (tx.now, session_id))
            for (rid,) in tasks:
                tx.after_commit(lambda rid=rid: self.memory_index.remove(rid))
        return SessionEnded(len(tasks), tx.txid)

    def pop_turn(self: Profile, session_id: str) -> TurnResult:
        """Delete the session's last turn and return it, in one transaction. Turn numbers
        are not reused: the next append still gets the number after the popped one, so
        memories that name turns (``turn_ids``) never point at a different turn."""
        with self.db.write() as tx:
            if self._session_row(tx.cursor, session_id) is None:
                raise NotFound(f"no session {session_id!r} in this profile")
            row = tx.cursor.execute(
                f"SELECT rid, {rows.TURN_COLUMNS} FROM turns WHERE session_id = ? "
                "ORDER BY turn DESC LIMIT 1",
                (session_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"session {session_id!r} has no turns", hint="nothing to pop")
            tx.cursor.execute("DELETE FROM turns WHERE rid = ?", (row[0],))
            tx.after_commit(lambda rid=row[0]: self.turn_index.remove(rid))
        return TurnResult(rows.turn(row[1:]), tx.txid)

    def delete_turns(self: Profile, session_id: str, *, after: int = 0) -> Written:
        """Delete the session's turns numbered after ``after`` (all of them by default) in one
        transaction; ``count`` says how many. The session itself and its task memories stay
        (``end_session`` ends it); turn numbers are not reused."""
        validate.integer(after, "after", low=0, high=2**62)
        with self.db.write() as tx:
            if self._session_row(tx.cursor, session_id) is None:
                raise NotFound(f"no session {session_id!r} in this profile")
            gone = tx.cursor.execute(
                "SELECT rid FROM turns WHERE session_id = ? AND turn > ?", (session_id, after)
            ).fetchall()
            if not gone:
                tx.cancel()
                return Written(self.db.txid, 0)
            tx.cursor.execute(
                "DELETE FROM turns WHERE session_id = ? AND turn > ?", (session_id, after)
            )
            for (rid,) in gone:
                tx.after_commit(lambda rid=rid: self.turn_index.remove(rid))
        return Written(tx.txid, len(gone))
