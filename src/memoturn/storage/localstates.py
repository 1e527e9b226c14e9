"""The earlier states of a profile-branch that its local files can still return to.

A WAL-mode database's state at any commit since the last WAL checkpoint is the database
file plus a prefix of its WAL (up to that commit's frame). So a rewind to such a state
needs no image from the object store: close the database without a checkpoint, cut the WAL
there, reopen. To let a later rewind come back (undo), nothing is thrown away: the WAL (and,
when a rewind had to replace the database file with an image from the store, the old file
too) is moved aside and stays a valid pair with its database file. A few such files are
kept, oldest dropped first; all of them go when the branch closes.

:class:`LocalStates` only keeps the books and moves files; the replica records every
captured commit here, and the engine asks it before reading a rewind's target from the
store.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass
from typing import Any

from memoturn.storage.wal import roll_back_wal

KEPT_FILES = 4
"""Files kept aside (WAL tails, replaced database files): bounds the local disk a
rewound branch uses beyond its database."""


@dataclass(frozen=True)
class _Mark:
    db: str
    """The database file the state stands on."""
    wal: str
    """A WAL over that file, holding the state's commit."""
    offset: int
    """Byte offset just past the commit's last frame (0: the database file alone)."""


class LocalStates:
    """txid -> where the local files hold that state, for one branch's database path."""

    def __init__(self, db_path: str) -> None:
        self.db = db_path
        self.wal = db_path + "-wal"
        self._marks: dict[int, _Mark] = {}
        self._kept: list[str] = []
        self._ids = itertools.count(1)
        self._memo: tuple[int, Any] | None = None

    def park(self, txid: int, memo: Any) -> None:
        """Keep in-memory state derived from the state at ``txid`` (the engine parks a
        closed profile's vector indexes) for a rollback to it; one is kept, the last."""
        self._memo = (txid, memo) if txid in self._marks else None

    def take(self, txid: int) -> Any:
        """What was parked for ``txid`` (None if nothing, or something else)."""
        memo, self._memo = self._memo, None
        return memo[1] if memo is not None and memo[0] == txid else None

    def record(self, txid: int, wal_offset: int) -> None:
        """The live database is at ``txid``, its WAL ending at ``wal_offset``."""
        self._marks[txid] = _Mark(self.db, self.wal, wal_offset)

    def __contains__(self, txid: int) -> bool:
        return txid in self._marks

    def checkpointed(self, txid: int) -> None:
        """The live WAL was folded into the database file, now at ``txid``: the states
        that stood on the file's older content are gone."""
        self._marks = {t: m for t, m in self._marks.items() if m.db != self.db}
        self._collect()
        self.record(txid, 0)

    def keep_files(self) -> None:
        """Before the live database file is replaced (it was closed without a
        checkpoint): move it and its WAL aside, with their states."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.db + "-shm")
        for path in (self.wal, self.db):
            if os.path.exists(path):
                self._keep(path)
        self._collect()

    def roll_back(self, txid: int) -> int:
        """With the database closed without a checkpoint, make the live files hold the
        state at ``txid``; returns the WAL offset where that state ends. The live WAL (and
        database file, if the state stands on another) are kept aside first."""
        if os.path.exists(self.wal):
            self._keep(self.wal)
        if self._marks[txid].db != self.db:
            if os.path.exists(self.db):
                self._keep(self.db)
            source = self._marks[txid].db
            os.rename(source, self.db)
            self._kept.remove(source)
            self._retag(source, self.db)
        mark = self._marks[txid]
        roll_back_wal(self.db, mark.wal, mark.offset)
        for t, m in list(self._marks.items()):
            if m.db == self.db and m.wal == mark.wal and m.offset <= mark.offset:
                self._marks[t] = _Mark(self.db, self.wal, m.offset)
        while len(self._kept) > KEPT_FILES:
            oldest = self._kept[0]
            self._marks = {t: m for t, m in self._marks.items() if oldest not in (m.db, m.wal)}
            self._collect()
        self._collect()
        return mark.offset

    def close(self) -> None:
        """Forget every state and remove the files kept aside."""
        self._marks = {}
        self._collect()

    def _keep(self, path: str) -> None:
        kept = f"{path}.{next(self._ids)}"
        os.rename(path, kept)
        self._kept.append(kept)
        self._retag(path, kept)

    def _retag(self, old: str, new: str) -> None:
        for t, m in list(self._marks.items()):
            if old in (m.db, m.wal):
                self._marks[t] = _Mark(
                    new if m.db == old else m.db, new if m.wal == old else m.wal, m.offset
                )

    def _collect(self) -> None:
        """Remove kept files no state refers to any more."""
        if self._memo is not None and self._memo[0] not in self._marks:
            self._memo = None
        used = {p for m in self._marks.values() for p in (m.db, m.wal)}
        for path in [p for p in self._kept if p not in used]:
            self._kept.remove(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
