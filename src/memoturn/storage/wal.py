"""Transaction capture: read each committed write transaction's pages out of the WAL.

SQLite in WAL mode appends every changed page of a transaction to ``<db>-wal`` as a
*frame*; the last frame of a transaction (the *commit frame*) carries the database size in
pages. :class:`WalCapture` reads the frames appended since it last looked and turns each
committed transaction into a :class:`CapturedTx` (the last version of each page), from
which the caller builds a :class:`~memoturn.storage.segment.Segment` with its txid.

WAL layout (https://sqlite.org/fileformat2.html#walformat), all integers big-endian:

- header, 32 bytes: magic, format version, page size, checkpoint sequence, salt-1,
  salt-2, checksum-1, checksum-2 (of the first 24 bytes);
- frame = 24-byte header (page number, db size after commit or 0, salt-1, salt-2,
  checksum-1, checksum-2) + one page.

A frame is valid only if its salts equal the header's and its cumulative checksum matches;
this is how SQLite itself finds the end of the WAL. The salts change whenever the WAL
restarts (a writer starts over at offset 32 after a complete checkpoint), so frames left
behind from an older generation are never mistaken for new ones, and the checksum chain
rejects frames of a rolled-back transaction that spilled to the WAL.

Why a hook *and* an explicit call: the connection's WAL hook only counts commits (it
runs inside SQLite's commit, where an error would make a committed write look failed),
and installing it replaces SQLite's auto-checkpoint hook, so SQLite never checkpoints on
its own: frames stay in the WAL until :meth:`WalCapture.checkpoint`, which refuses to run
while anything is uncaptured. The caller calls :meth:`WalCapture.capture` right after each
commit, outside SQLite, where failures are ordinary exceptions; the commit count from the
hook is the cross-check that no transaction was missed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
from dataclasses import dataclass, field

import apsw
import numpy as np

from memoturn.core.errors import Internal
from memoturn.storage.segment import Segment

__all__ = ["CapturedTx", "WalCapture", "keep_wal_on_close", "roll_back_wal"]

WAL_HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
_WAL_HEADER = struct.Struct(">IIIIIIII")
_FRAME_HEADER = struct.Struct(">IIIIII")
# Magic 0x377f0682 means the checksums read the file as little-endian words, ...0683 big.
_WAL_MAGIC = {0x377F0682: "<", 0x377F0683: ">"}
_MASK = 0xFFFFFFFF
_CHUNK_FRAMES = 32  # frames read per pread: bounds the waste when the WAL has a stale tail


@dataclass(frozen=True)
class CapturedTx:
    """One committed transaction read from the WAL, not yet numbered."""

    page_size: int
    db_size_pages: int
    pages: dict[int, bytes] = field(repr=False)

    def segment(self, txid: int, *, epoch: int = 0) -> Segment:
        """This transaction as the segment ``txid`` written under writer ``epoch``."""
        return Segment(txid, self.page_size, self.db_size_pages, self.pages, epoch)


class _Checksum:
    """SQLite's WAL checksum of frames, vectorised.

    The checksum is the recurrence ``s0 += x0 + s1; s1 += x1 + s0`` (mod 2**32) over pairs
    of 32-bit words: the first 8 bytes of the frame header, then the page. It is linear:
    ``s' = M s + N x`` with ``M = [[1,1],[1,2]]``, ``N = [[1,0],[1,1]]``, so over one frame
    of n pairs ``s_n = M**n s_0 + sum_k M**(n-1-k) N x_k``. The sum does not depend on
    ``s_0``: one matrix product gives it for every frame read at once, and only the 2x2
    step is chained in Python. A plain Python loop costs ~150 µs per 4 KB frame; this
    costs ~2 µs, which keeps capture cheap on the commit path.
    """

    def __init__(self, page_size: int, order: str) -> None:
        self.order = order
        self.dtype = np.dtype(f"{order}u4")
        self.frame_words = (FRAME_HEADER_SIZE + page_size) // 4
        # Word indices summed, in order: header words 0-1, then the page (words 6 on);
        # header words 2-5 (salts, checksums) keep a zero coefficient.
        summed = [0, 1, *range(FRAME_HEADER_SIZE // 4, self.frame_words)]
        coeffs = np.zeros((self.frame_words, 2), dtype=np.uint32)
        power = ((1, 0), (0, 1))  # M**j, walking the pairs from the last to the first
        for k in range(len(summed) // 2 - 1, -1, -1):
            (a, b), (c, d) = power
            # M**j @ N: the coefficients of (x0_k, x1_k) in (s0, s1)
            coeffs[summed[2 * k]] = ((a + b) & _MASK, (c + d) & _MASK)
            coeffs[summed[2 * k + 1]] = (b, d)
            power = ((a + c) & _MASK, (b + d) & _MASK), ((a + 2 * c) & _MASK, (b + 2 * d) & _MASK)
        self.coeffs = coeffs
        self.power = power  # M**n

    def frames(self, buf: bytes, nframes: int) -> list[list[int]]:
        """The ``s_0``-independent part of the checksum of each of the first frames."""
        words = np.frombuffer(buf, dtype=self.dtype, count=nframes * self.frame_words)
        # uint32 products and sums wrap mod 2**32, exactly the checksum's arithmetic.
        return (words.reshape(nframes, -1) @ self.coeffs).tolist()

    def chain(self, s: tuple[int, int], t: list[int]) -> tuple[int, int]:
        """The running checksum after a frame, from the one before it."""
        (a, b), (c, d) = self.power
        return (a * s[0] + b * s[1] + t[0]) & _MASK, (c * s[0] + d * s[1] + t[1]) & _MASK


@functools.lru_cache(maxsize=8)
def _checksum_for(page_size: int, order: str) -> _Checksum:
    return _Checksum(page_size, order)


def _checksum_words(data: bytes, order: str, s0: int, s1: int) -> tuple[int, int]:
    """The same checksum, plainly, for the few words of a header."""
    words = struct.unpack(f"{order}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & _MASK
        s1 = (s1 + words[i + 1] + s0) & _MASK
    return s0, s1


@dataclass
class _Cursor:
    """Where capture stands in one WAL generation (one set of salts)."""

    salts: tuple[int, int]
    page_size: int
    checksum: _Checksum
    offset: int  # byte offset just past the last captured commit frame
    cksum: tuple[int, int]  # running checksum at ``offset``


class WalCapture:
    """Captures the committed transactions of one WAL-mode database, in commit order.

    ``conn`` must be the database's only writer, already in ``journal_mode=WAL``; this
    object installs its WAL hook (replacing any other, including SQLite's auto-checkpoint),
    so checkpoints happen only through :meth:`checkpoint`. Call :meth:`capture` after each
    commit, on the thread that writes. Transactions already in the WAL when this object is
    created are returned by the first :meth:`capture`, except those ending at or before
    byte ``captured_to`` of the WAL (already in history: a WAL rolled back to a
    :attr:`position`). Capture everything before closing the connection: closing the last
    one checkpoints the WAL and deletes it.
    """

    def __init__(
        self, conn: apsw.Connection, db_path: str | os.PathLike[str], *, captured_to: int = 0
    ) -> None:
        mode = conn.execute("PRAGMA journal_mode").fetchall()
        if mode != [("wal",)]:
            raise Internal(
                f"WalCapture needs a WAL-mode database, got journal_mode {mode!r}",
                hint="run PRAGMA journal_mode=WAL on the connection first",
            )
        self._conn = conn
        self._wal_path = os.fspath(db_path) + "-wal"
        self._cursor: _Cursor | None = None
        self._captured = 0
        if captured_to > WAL_HEADER_SIZE:
            self._skip_to(captured_to)
        self._committed = self._captured + len(self._scan(consume=False))
        conn.set_wal_hook(self._on_commit)

    @property
    def position(self) -> int:
        """The WAL byte offset just past the last captured commit (0: the WAL holds no
        captured frame). Truncating the WAL file here, with no connection open, rolls the
        database back to the state of that commit."""
        return self._cursor.offset if self._cursor is not None else 0

    def _skip_to(self, offset: int) -> None:
        fd = os.open(self._wal_path, os.O_RDONLY)
        try:
            txs, cursor = self._read(fd, limit=offset)
        finally:
            os.close(fd)
        if cursor is None or cursor.offset != offset:
            raise Internal(f"{self._wal_path}: no commit ends at WAL offset {offset}")
        self._captured, self._cursor = len(txs), cursor

    @property
    def pending(self) -> int:
        """Transactions committed (as counted by the hook) but not yet captured."""
        return self._committed - self._captured

    def capture(self) -> list[CapturedTx]:
        """Every transaction committed since the last call, oldest first (often one).

        Raises :class:`~memoturn.core.errors.Internal` if the WAL no longer holds a
        transaction the hook saw commit (something else checkpointed), or holds one it did
        not see (another connection wrote, or ``PRAGMA wal_autocheckpoint`` replaced the
        hook). Either way history can no longer be captured faithfully.
        """
        return self._scan(consume=True)

    def checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate the WAL to zero bytes.

        Refuses (``Internal``) while a committed transaction is uncaptured: once
        checkpointed, its frames are gone. Returns False if readers kept the checkpoint
        from completing (SQLITE_BUSY); the WAL then stays valid and capture continues
        where it was, so just try again later.
        """
        if self.pending:
            raise Internal(
                f"{self.pending} committed transaction(s) not captured yet",
                hint="call capture() and ship the segments before checkpointing",
            )
        try:
            self._conn.wal_checkpoint("main", apsw.SQLITE_CHECKPOINT_TRUNCATE)
        except apsw.BusyError:
            return False
        self._cursor = None  # the next writer starts a new generation with new salts
        return True

    def _on_commit(self, conn: apsw.Connection, dbname: str, frames: int) -> int:
        if dbname == "main":
            self._committed += 1
        return apsw.SQLITE_OK

    def _scan(self, *, consume: bool) -> list[CapturedTx]:
        try:
            fd = os.open(self._wal_path, os.O_RDONLY)
        except FileNotFoundError:
            txs, cursor = [], None
        else:
            try:
                txs, cursor = self._read(fd)
            finally:
                os.close(fd)
        if consume:
            expected = self._committed - self._captured
            if len(txs) != expected:
                raise Internal(
                    f"WAL capture found {len(txs)} new transaction(s), the WAL hook counted "
                    f"{expected}",
                    hint="the WAL was checkpointed before capture, or a connection other "
                    "than the captured one wrote; restore this database from its history",
                )
            self._captured += len(txs)
            self._cursor = cursor
        return txs

    def _read(self, fd: int, limit: int = 0) -> tuple[list[CapturedTx], _Cursor | None]:
        """Read new committed transactions (up to the commit ending at WAL offset
        ``limit``, if given); return them and the cursor after them."""
        cursor = self._generation(os.pread(fd, WAL_HEADER_SIZE, 0))
        if cursor is None:
            return [], None
        page_size, checksum = cursor.page_size, cursor.checksum
        frame_size = FRAME_HEADER_SIZE + page_size
        txs: list[CapturedTx] = []
        pending: dict[int, bytes] = {}
        offset, cksum = cursor.offset, cursor.cksum  # running position, maybe mid-tx
        while True:
            buf = os.pread(fd, _CHUNK_FRAMES * frame_size, offset)
            view = memoryview(buf)
            nframes = len(buf) // frame_size
            sums = checksum.frames(buf, nframes) if nframes else []
            for i in range(nframes):
                at = i * frame_size
                pgno, commit, salt1, salt2, c1, c2 = _FRAME_HEADER.unpack_from(buf, at)
                if (salt1, salt2) != cursor.salts:
                    return txs, cursor
                cksum = checksum.chain(cksum, sums[i])
                if cksum != (c1, c2):
                    return txs, cursor
                pending[pgno] = bytes(view[at + FRAME_HEADER_SIZE : at + frame_size])
                if commit:
                    # Pages past the new end belong to a shrink; they are not in the db.
                    pages = {n: p for n, p in pending.items() if n <= commit}
                    txs.append(CapturedTx(page_size, commit, pages))
                    pending = {}
                    cursor.offset, cursor.cksum = offset + at + frame_size, cksum
                    if cursor.offset == limit:
                        return txs, cursor
            if nframes < _CHUNK_FRAMES:
                return txs, cursor
            offset += nframes * frame_size

    def _generation(self, header: bytes) -> _Cursor | None:
        """The cursor to continue from: the current one if the WAL has not restarted,
        else a fresh one at the first frame. None if the WAL holds no valid header."""
        if len(header) < WAL_HEADER_SIZE:
            return None
        magic, version, page_size, _seq, salt1, salt2, c1, c2 = _WAL_HEADER.unpack(header)
        order = _WAL_MAGIC.get(magic)
        if order is None or version != 3007000:
            return None  # SQLite treats a bad header as an empty WAL, and so do we
        cur = self._cursor
        if cur is not None and cur.salts == (salt1, salt2):
            return _Cursor(cur.salts, cur.page_size, cur.checksum, cur.offset, cur.cksum)
        cksum = _checksum_words(header[:24], order, 0, 0)
        if cksum != (c1, c2):
            return None
        return _Cursor(
            (salt1, salt2), page_size, _checksum_for(page_size, order), WAL_HEADER_SIZE, cksum
        )


def keep_wal_on_close(conn: apsw.Connection) -> None:
    """Close ``conn`` later without folding its WAL into the database file (SQLite does
    that when the last connection closes), so the WAL can be rolled back."""
    conn.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)


def roll_back_wal(db_path: str | os.PathLike[str], source: str, offset: int) -> None:
    """Roll a closed WAL-mode database to the commit whose frames end at byte ``offset``
    of the WAL file ``source`` (a :attr:`WalCapture.position`; 0 drops the WAL): the
    database's WAL becomes that prefix of ``source`` — the WAL itself, or an earlier copy
    of it made over the same database file — and the WAL index is removed (the next open
    rebuilds it from the WAL). Only valid with no connection open, after closing without
    a checkpoint (:func:`keep_wal_on_close`)."""
    path = os.fspath(db_path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path + "-shm")
    wal = path + "-wal"
    size = os.path.getsize(source) if os.path.exists(source) else 0
    if size < offset:
        raise Internal(f"{source} has {size} bytes, cannot roll back to offset {offset}")
    if source == wal:
        if size:
            os.truncate(wal, offset)
        return
    tmp = wal + ".tmp"
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        dst.write(src.read(offset))
    os.replace(tmp, wal)
