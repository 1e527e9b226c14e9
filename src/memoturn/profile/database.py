"""One profile-branch database: an apsw connection, its write transactions and txids.

Every mutating call runs in exactly one ``BEGIN IMMEDIATE`` transaction that also bumps
``meta.txid``, so the txid a write returns is part of the state it committed: restoring the
database at txid T gives exactly the state whose ``meta.txid`` is T. Work that must follow a
commit (updating the in-memory vector index, shipping the transaction to object storage) is
registered on the transaction and runs only once the commit succeeded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apsw
import numpy as np

from memoturn.core.clock import Clock
from memoturn.core.errors import Conflict, Internal
from memoturn.profile.schema import F32_TO_F16, MIGRATIONS, SCHEMA_VERSION

CACHE_KIB = 32 * 1024
"""Page cache per open profile-branch, at most (KiB)."""

CommitListener = Callable[[int], None]
"""Called with the new txid right after each commit, under the write lock."""


def _f32_to_f16(blob: bytes | None) -> bytes | None:
    """Migration v6: a stored float32 embedding as float16."""
    if blob is None:
        return None
    if len(blob) % 4:
        raise Internal(f"an embedding of {len(blob)} bytes is not float32")
    return np.frombuffer(blob, dtype=np.float32).astype(np.float16).tobytes()


# Bytes 18-19 of the database header: file format write/read version, 2 = WAL.
_FORMAT_VERSIONS = slice(18, 20)


def deserialize(image: bytes | bytearray) -> apsw.Connection:
    """A connection to an in-memory copy of a database image (SQLite copies it once).

    An image of a WAL-mode database says so in header bytes 18-19 (value 2); an in-memory
    database cannot use a WAL, and SQLite refuses to open it unless they say 1 (rollback
    journal). A ``bytearray`` is patched in place (the caller's buffer is the copy to
    spend), ``bytes`` are copied first.
    """
    conn = apsw.Connection(":memory:")
    if not image:
        return conn  # the empty database; deserialize() rejects zero bytes
    if image[_FORMAT_VERSIONS] == b"\x02\x02":
        if not isinstance(image, bytearray):
            image = bytearray(image)
        image[_FORMAT_VERSIONS] = b"\x01\x01"
    conn.deserialize("main", image)
    return conn


class Transaction:
    """The context of one write: its cursor, its txid, the time it saw, post-commit work."""

    __slots__ = ("_after", "cancelled", "cursor", "now", "txid")

    def __init__(self, cursor: apsw.Cursor, txid: int, now: float) -> None:
        self.cursor = cursor
        self.txid = txid
        self.now = now
        self.cancelled = False
        self._after: list[Callable[[], None]] = []

    def cancel(self) -> None:
        """End the block without committing: nothing changes and no txid is used (e.g. the
        write turned out to be a duplicate once the lock was held)."""
        self.cancelled = True

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after.append(fn)

    @contextlib.contextmanager
    def part(self) -> Iterator[None]:
        """One part of the transaction (a SQLite savepoint): an exception inside undoes
        this part alone, its rows and its post-commit work, and is re-raised; the
        transaction goes on. Group commit runs each ingest of a group as one part, so a
        rejected ingest changes nothing while the others commit."""
        after = len(self._after)
        self.cursor.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            del self._after[after:]
            if not self.cursor.connection.getautocommit():
                self.cursor.execute("ROLLBACK TO part")
                self.cursor.execute("RELEASE part")
            raise
        self.cursor.execute("RELEASE part")

    @property
    def open(self) -> bool:
        """Whether the transaction is still open (SQLite rolls a whole transaction back
        by itself after some errors, e.g. a full disk)."""
        return not self.cursor.connection.getautocommit()


class ProfileDatabase:
    """A profile-branch database file opened with apsw in WAL mode.

    The engine owns WAL checkpoints (``wal_autocheckpoint=0``) so that no frame is folded
    into the database file before it has been captured for replication. Reads and writes of
    one profile are serialised by one lock: profile operations are sub-millisecond and a
    profile has one writer by design.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock,
        synchronous: str = "full",
        image: bytes | bytearray | None = None,
    ) -> None:
        """``image``: open an in-memory copy of this database image instead of the file
        at ``path`` (a read-only wake: no file, no WAL; the engine never writes to it, its
        first write wakes the branch again to a file)."""
        self.path = path
        self.clock = clock
        self.lock = threading.RLock()
        self.in_memory = image is not None
        if image is None:
            self.conn = apsw.Connection(str(path))
            self.conn.set_busy_timeout(5000)
            # "full" when the local file is what makes a write durable; "off" when the
            # object store is (the local copy is disposable and rebuilt from the store after
            # a crash). Set first: with "off", opening the WAL does not fsync (2.6 ms of a
            # 3 ms wake).
            self._pragma("synchronous", synchronous)
            self._pragma("journal_mode", "wal", expect="wal")
            self._pragma("wal_autocheckpoint", "0", expect=0)
            self._pragma("secure_delete", "on", expect=1)
            self._pragma("foreign_keys", "off")
            # Rows carry their embedding, so a 10k-memory profile is ~12 MB; with SQLite's
            # default 2 MB page cache every keyword recall re-reads pages (5.5 ms instead
            # of 2.9 ms at 10k). The cache grows only as pages are touched.
            self._pragma("cache_size", str(-CACHE_KIB))
        else:
            # Nothing to set: the copy is never written (so never needs secure_delete),
            # foreign keys are off by default, and a page the cache misses is a memcpy
            # from the image. Every statement counts: a wake at 10 memories is ~0.5 ms.
            self.conn = deserialize(image)
        self.commit_listeners: list[CommitListener] = []
        self.before_write: list[Callable[[], None]] = []
        """Called under the lock before each write begins (the engine checks its writer
        lease here); raising aborts the write before anything changed."""
        self.opened_meta: dict[str, Any] = self._migrate()
        """The ``meta`` table as the database opened (after migrations): one read, since
        every statement of a wake counts."""
        self.txid: int = int(self.opened_meta.get("txid", 0))

    def _pragma(self, name: str, value: str, expect: object = None) -> None:
        # One pragma per call: apsw runs statements after a row-returning one lazily.
        rows = list(self.conn.execute(f"PRAGMA {name}={value}"))
        if expect is not None:
            got = rows[0][0] if rows else None
            if got != expect:
                raise Internal(f"PRAGMA {name}={value} gave {got!r}, expected {expect!r}")

    def _migrate(self) -> dict[str, Any]:
        """Bring the schema up to date; the ``meta`` table after it."""
        with self.lock:
            meta = self._read_meta()
            version = int(meta.get("schema_version", 0))
            if version > SCHEMA_VERSION:
                raise Conflict(
                    f"{self.path.name} has schema version {version}; this Memoturn knows "
                    f"up to {SCHEMA_VERSION}",
                    hint="upgrade Memoturn to open this profile",
                )
            if version == SCHEMA_VERSION:
                return meta
            self.conn.create_scalar_function(F32_TO_F16, _f32_to_f16, 1, deterministic=True)
            with self.conn:  # one transaction: a half-migrated profile never exists
                for step in MIGRATIONS[version:]:
                    for statement in step:
                        self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (SCHEMA_VERSION,),
                )
                self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('txid', 0)")
            return self._read_meta()

    def _read_meta(self) -> dict[str, Any]:
        """Every row of ``meta`` (a handful), or nothing for a database not made yet."""
        has_meta = self.conn.execute(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if not has_meta:
            return {}
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def ensure_writable(self) -> None:
        """Run the before-write checks now (the engine's: this node holds the writer lease),
        so a write that would be refused fails before its costly preparation (embedding)."""
        with self.lock:
            for check in self.before_write:
                check()

    @contextlib.contextmanager
    def write(self) -> Iterator[Transaction]:
        """Run a block as one write transaction that commits a new txid.

        An exception inside the block rolls everything back and is re-raised: a rejected
        request changes nothing (and consumes no txid).
        """
        with self.lock:
            for check in self.before_write:
                check()
            cursor = self.conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                tx = Transaction(cursor, self.txid + 1, self.clock.now())
                yield tx
                if tx.cancelled:
                    cursor.execute("ROLLBACK")
                    return
                cursor.execute("UPDATE meta SET value = ? WHERE key = 'txid'", (tx.txid,))
                cursor.execute("COMMIT")
            except BaseException:
                if not self.conn.getautocommit():
                    cursor.execute("ROLLBACK")
                raise
            self.txid = tx.txid
            for fn in tx._after:
                fn()
            for listener in self.commit_listeners:
                listener(tx.txid)

    @contextlib.contextmanager
    def read(self) -> Iterator[apsw.Cursor]:
        """A cursor for reads, under the profile lock (a consistent view)."""
        with self.lock:
            yield self.conn.cursor()

    def close(self) -> None:
        with self.lock:
            self.conn.close()
