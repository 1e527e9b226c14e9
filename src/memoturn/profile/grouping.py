"""Group commit of concurrent single ingests to one profile-branch.

A single ingest costs one model run, one SQLite transaction, one segment PUT and one
manifest CAS, and a profile-branch has one writer: run one by one, sixteen concurrent
ingests to one profile wait for sixteen PUT + CAS round trips in a row. Here the ingests
that arrive while a group is being written join the next group, and a group costs what one
ingest does: one embedding run for all its texts, one transaction (one txid), one segment,
one manifest CAS. No timer: an ingest that finds nothing in flight forms a group of one at
once, so a lone ingest waits for nothing.

Two groups are in flight at most: one being written (it holds the database lock, through
its PUT and CAS) while the next one is formed and embedded. A group is formed only once the
one before it holds the lock, so groups commit in the order they were formed.

Rules that make a group's outcome the same as running its ingests one by one, in order:

* Ingests that could see each other never share a group: the same topic (supersession
  order: the later one replaces the earlier one, each current for a while), the same
  idempotency key, or the same content. The later one waits for a later group, and so does
  any ingest queued behind it that clashes with it, so a clash never overtakes.
* Each ingest of a group runs in its own savepoint: one that is refused (a ``4xx``: an
  ended session, a ``valid_from`` before its topic's current version, an idempotency key
  reused for another request) undoes only itself and gets its own error; the others commit.
  An unexpected error inside one ingest rolls the group back, and its ingests are run again
  one by one, so only the bad one fails. An embedding refused for the group (a text the
  embedder rejects) is retried one ingest at a time for the same reason.
* Acknowledged means durable: every member is answered after the group's CAS. If the
  commit itself fails (the store, the writer lease), no member is acknowledged and every
  one gets the error.

The members of a group share its txid: a read with ``min_txid`` of any of them sees all of
them (read-your-writes holds), and restoring, rewinding or branching at that txid takes the
whole group, as for a batch ingest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from memoturn.core.errors import MemoturnError
from memoturn.core.model import IngestResult

if TYPE_CHECKING:
    from memoturn.profile.memories import _Request
    from memoturn.profile.profile import Profile

MAX_GROUP = 64
"""At most this many ingests in one group (one transaction, one segment)."""


class _Member:
    __slots__ = ("done", "error", "request", "result", "taken", "vector")

    def __init__(self, request: _Request) -> None:
        self.request = request
        self.taken = False
        self.done = False
        self.result: IngestResult | None = None
        self.error: BaseException | None = None
        self.vector: np.ndarray | None = None

    def keys(self) -> Iterable[tuple[str, str]]:
        r = self.request
        yield "content", r.content_hash
        if r.topic is not None:
            yield "topic", r.topic
        if r.idempotency_key is not None:
            yield "key", r.idempotency_key


def _refused(e: BaseException) -> bool:
    """A client error (``4xx``): this request alone is wrong, the others may go on."""
    return isinstance(e, MemoturnError) and e.status < 500


class IngestGroups:
    """The group commit of one profile-branch's single ingests. Thread-safe; there is no
    thread of its own: the caller that finds no group forming forms the next one and writes
    it for everyone in it."""

    def __init__(self, profile: Profile, *, max_group: int = MAX_GROUP) -> None:
        self._profile = profile
        self._max = max_group
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Member] = []
        self._forming = False
        self.commits = 0
        """Groups committed so far (tests and metrics: fewer than ingests means grouping)."""
        self.largest = 0
        """The most ingests one committed group held."""
        self._pending = 0

    @property
    def pending(self) -> int:
        """Ingests submitted and not answered yet (queued, forming or committing)."""
        with self._cond:
            return self._pending

    def ingest(self, request: _Request) -> IngestResult:
        me = _Member(request)
        with self._cond:
            self._pending += 1
            self._queue.append(me)
            while not me.done:
                if self._forming or me.taken:
                    self._cond.wait()
                    continue
                # Nothing forming and this ingest not yet taken: form the next group (the
                # front of the queue, which may not even include this ingest).
                self._forming = True
                group = self._take()
                self._cond.release()
                try:
                    self._run(group)
                except BaseException as e:  # a defect: every member unanswered gets it
                    for m in group:
                        if m.result is None and m.error is None:
                            m.error = e
                finally:
                    self._cond.acquire()
                    for m in group:
                        m.done = True
                    self._cond.notify_all()
            self._pending -= 1
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _take(self) -> list[_Member]:
        """The queue's front, in arrival order, skipping any ingest that clashes with one
        before it (taken or skipped): those wait for a later group."""
        group: list[_Member] = []
        rest: list[_Member] = []
        seen: set[tuple[str, str]] = set()
        for m in self._queue:
            keys = list(m.keys())
            if len(group) >= self._max or any(k in seen for k in keys):
                rest.append(m)
            else:
                m.taken = True
                group.append(m)
            seen.update(keys)
        self._queue = rest
        return group

    def _hand_on(self) -> None:
        """Let the next group form (this one holds the database lock now)."""
        with self._cond:
            self._forming = False
            self._cond.notify_all()

    def _run(self, group: list[_Member]) -> None:
        prof = self._profile
        handed_on = False
        try:
            todo = self._prepare(group)
            embed_error: BaseException | None = None
            if todo:
                try:
                    vectors = prof.embedder.embed([m.request.content for m in todo])
                    for m, v in zip(todo, vectors, strict=True):
                        m.vector = v
                except BaseException as e:
                    embed_error = e
            with prof.db.lock:  # held through the commit, before the next group may form
                self._hand_on()
                handed_on = True
                if embed_error is None:
                    self._commit(todo)
                elif _refused(embed_error) and len(todo) > 1:
                    for m in todo:  # which text did the embedder refuse? each alone
                        self._single(m)
                else:
                    for m in todo:
                        m.error = embed_error
        finally:
            if not handed_on:
                self._hand_on()

    def _prepare(self, group: list[_Member]) -> list[_Member]:
        """Answer what needs no write (an idempotent retry, a duplicate), and check the
        writer lease before the embedding is spent — when the database is free; while the
        previous group holds it, the transaction does both instead."""
        prof = self._profile
        db = prof.db
        if not db.lock.acquire(blocking=False):
            return group
        try:
            todo = []
            cur = db.conn.cursor()
            now = prof.clock.now()
            for m in group:
                try:
                    m.result = prof._existing_answer(cur, m.request, now)
                except MemoturnError as e:
                    m.error = e
                    continue
                if m.result is None:
                    todo.append(m)
            if todo:
                try:
                    for check in db.before_write:
                        check()
                except BaseException as e:  # not the writer here: nothing embedded or written
                    for m in todo:
                        m.error = e
                    return []
            return todo
        finally:
            db.lock.release()

    def _single(self, m: _Member) -> None:
        """One ingest alone (its own embedding if it has none yet, its own transaction)."""
        try:
            if m.vector is None:
                m.vector = self._profile.embedder.embed([m.request.content])[0]
            self._commit([m])
        except BaseException as e:
            m.error = e

    def _commit(self, todo: list[_Member]) -> None:
        """One transaction for the group; the caller holds the database lock."""
        if not todo:
            return
        prof = self._profile
        alone = len(todo) == 1
        inside: _Member | None = None
        try:
            with prof.db.write() as tx:
                for m in todo:
                    inside = m
                    if alone:
                        m.result = prof._ingest_in(tx, m.request, m.vector)
                    else:
                        try:
                            with tx.part():
                                m.result = prof._ingest_in(tx, m.request, m.vector)
                        except BaseException as e:
                            if not (_refused(e) and tx.open):
                                raise
                            m.error = e
                    inside = None
                if not any(m.result is not None and m.result.txid == tx.txid for m in todo):
                    tx.cancel()  # all answered by what committed before (duplicates)
        except BaseException as e:
            for m in todo:
                m.result = None
            if inside is not None and not alone:
                # An unexpected error inside one ingest, and the group rolled back:
                # one by one, so only that ingest fails.
                for m in todo:
                    m.error = None
                    self._single(m)
                return
            for m in todo:
                m.error = e  # the commit failed: none of them is acknowledged
            return
        self.commits += 1
        self.largest = max(self.largest, len(todo))
