"""WAL capture against a real SQLite (apsw): captured segments rebuild the live database."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import apsw
import pytest

from memoturn.core.errors import Internal
from memoturn.storage.restore import restore_to_bytes
from memoturn.storage.segment import Segment
from memoturn.storage.wal import (
    WalCapture,
    _checksum_for,
    _checksum_words,
    keep_wal_on_close,
    roll_back_wal,
)


def open_db(path: Path, *, cache_size: int | None = None) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    # One pragma per call: apsw runs the rest of a multi-statement string lazily.
    assert conn.execute("PRAGMA journal_mode=WAL").fetchall() == [("wal",)]
    conn.execute("PRAGMA wal_autocheckpoint=0").fetchall()
    conn.execute("PRAGMA secure_delete=ON").fetchall()
    if cache_size is not None:
        conn.execute(f"PRAGMA cache_size={cache_size}").fetchall()
    return conn


def create_schema(conn: apsw.Connection) -> None:
    with conn:
        conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL, data BLOB)")
        conn.execute("CREATE INDEX notes_body ON notes(body)")
        conn.execute("CREATE VIRTUAL TABLE notes_fts USING fts5(body)")
        conn.execute("INSERT INTO notes_fts(notes_fts, rank) VALUES('secure-delete', 1)")


WORDS = ("alpha", "beta", "gamma", "delta", "memory", "agent", "profile", "branch", "rewind")


def random_tx(conn: apsw.Connection, rng: random.Random, *, schema_step: int) -> None:
    """One transaction of 1-4 random inserts/updates/deletes (FTS5 kept in step), or a
    schema change."""
    with conn:
        if rng.random() < 0.08:
            conn.execute(f"ALTER TABLE notes ADD COLUMN extra{schema_step} TEXT")
            conn.execute(f"CREATE TABLE side{schema_step}(k TEXT PRIMARY KEY, v) WITHOUT ROWID")
            return
        ids = [r[0] for r in conn.execute("SELECT id FROM notes")]
        for _ in range(rng.randint(1, 4)):
            body = " ".join(rng.choices(WORDS, k=rng.randint(1, 12)))
            blob = rng.randbytes(rng.randint(1_000, 20_000))
            op = rng.random()
            if op < 0.5 or not ids:
                rowid = conn.execute(
                    "INSERT INTO notes(body, data) VALUES(?, ?) RETURNING id", (body, blob)
                ).fetchall()[0][0]
                conn.execute("INSERT INTO notes_fts(rowid, body) VALUES(?, ?)", (rowid, body))
                ids.append(rowid)
            elif op < 0.8:
                rowid = rng.choice(ids)
                conn.execute("UPDATE notes SET body=?, data=? WHERE id=?", (body, blob, rowid))
                conn.execute("UPDATE notes_fts SET body=? WHERE rowid=?", (body, rowid))
            else:
                rowid = ids.pop(rng.randrange(len(ids)))
                conn.execute("DELETE FROM notes WHERE id=?", (rowid,))
                conn.execute("DELETE FROM notes_fts WHERE rowid=?", (rowid,))


class History:
    """The captured segments of one database, numbered from txid 1."""

    def __init__(self, conn: apsw.Connection, db: Path) -> None:
        self.wal = WalCapture(conn, db)
        self.segments: list[Segment] = []

    def capture(self, expect: int | None = 1) -> None:
        txs = self.wal.capture()
        if expect is not None:
            assert len(txs) == expect
        for tx in txs:
            seg = tx.segment(len(self.segments) + 1, epoch=1)
            self.segments.append(Segment.decode(seg.encode(compress=seg.txid % 2 == 0)))


def assert_reproduces(history: History, db: Path) -> None:
    """After a full checkpoint the live file equals the replayed segments, byte for byte."""
    assert history.wal.checkpoint()
    assert restore_to_bytes(None, history.segments) == db.read_bytes()


@pytest.mark.parametrize(
    ("seed", "checkpoint_every", "cache_size"),
    [(1, 3, None), (2, 7, None), (3, 1000, None), (4, 5, 20)],
)
def test_capture_reproduces_live_database_byte_for_byte(
    tmp_path: Path, seed: int, checkpoint_every: int, cache_size: int | None
) -> None:
    rng = random.Random(seed)
    db = tmp_path / "live.db"
    conn = open_db(db, cache_size=cache_size)  # a tiny cache makes big transactions spill
    history = History(conn, db)
    create_schema(conn)
    history.capture()
    for i in range(40):
        random_tx(conn, rng, schema_step=i)
        history.capture()
        if (i + 1) % checkpoint_every == 0:  # the WAL restarts with new salts after this
            assert_reproduces(history, db)
            assert db.with_name("live.db-wal").stat().st_size == 0
    assert_reproduces(history, db)
    # Every prefix restores to a sound database too.
    for t in range(1, len(history.segments) + 1, 7):
        restore_to_bytes(None, history.segments[:t])


def test_late_capture_returns_every_transaction_in_order(tmp_path: Path) -> None:
    db = tmp_path / "late.db"
    conn = open_db(db)
    history = History(conn, db)
    create_schema(conn)
    for i in range(5):
        conn.execute("INSERT INTO notes(body) VALUES(?)", (f"row {i}",))  # autocommit
    assert history.wal.pending == 6
    history.capture(expect=6)
    assert history.wal.pending == 0
    assert history.wal.capture() == []
    assert [s.txid for s in history.segments] == [1, 2, 3, 4, 5, 6]
    assert_reproduces(history, db)


def test_first_capture_before_any_wal_exists(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    conn = open_db(db)
    history = History(conn, db)
    assert history.wal.capture() == []
    assert history.wal.checkpoint()  # nothing to capture, nothing to lose
    create_schema(conn)
    history.capture()
    assert history.segments[0].pages[1][:16] == b"SQLite format 3\x00"
    assert_reproduces(history, db)


def test_transactions_already_in_the_wal_are_captured_first(tmp_path: Path) -> None:
    db = tmp_path / "existing.db"
    conn = open_db(db)
    create_schema(conn)
    conn.execute("INSERT INTO notes(body) VALUES('before capture')")
    history = History(conn, db)
    assert history.wal.pending == 2
    conn.execute("INSERT INTO notes(body) VALUES('after')")
    history.capture(expect=3)
    assert_reproduces(history, db)


def test_rolled_back_spill_leaves_no_frames_in_history(tmp_path: Path) -> None:
    db = tmp_path / "spill.db"
    conn = open_db(db, cache_size=10)
    history = History(conn, db)
    create_schema(conn)
    history.capture()
    wal_after_schema = db.with_name("spill.db-wal").stat().st_size
    conn.execute("BEGIN")
    for i in range(100):
        conn.execute("INSERT INTO notes(body, data) VALUES(?, randomblob(4000))", (f"x{i}",))
    conn.execute("ROLLBACK")
    # The cache spilled: uncommitted frames with current salts sit in the WAL.
    assert db.with_name("spill.db-wal").stat().st_size > wal_after_schema + 50 * 4096
    assert history.wal.capture() == []
    conn.execute("INSERT INTO notes(body) VALUES('kept')")
    history.capture()
    assert_reproduces(history, db)


def test_wal_restart_after_a_passive_checkpoint_is_followed(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    wal_file = db.with_name("restart.db-wal")
    conn = open_db(db)
    history = History(conn, db)
    create_schema(conn)
    for i in range(20):
        conn.execute("INSERT INTO notes(body, data) VALUES(?, randomblob(3000))", (str(i),))
    history.capture(expect=21)
    salts = struct.unpack(">II", wal_file.read_bytes()[16:24])
    size = wal_file.stat().st_size
    conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)  # WAL kept, fully backfilled
    conn.execute("INSERT INTO notes(body) VALUES('new generation')")
    # The writer restarted the WAL at frame 1 with new salts; the old tail is still there.
    assert struct.unpack(">II", wal_file.read_bytes()[16:24]) != salts
    assert wal_file.stat().st_size == size
    history.capture()
    assert_reproduces(history, db)


def test_a_frame_that_fails_its_checksum_ends_the_wal(tmp_path: Path) -> None:
    db = tmp_path / "torn.db"
    wal_file = db.with_name("torn.db-wal")
    conn = open_db(db)
    history = History(conn, db)
    create_schema(conn)
    history.capture()
    # A torn write: a commit frame with the current salts but a wrong checksum.
    header = wal_file.read_bytes()[:32]
    page_size, salt1, salt2 = struct.unpack(">I4xII", header[8:24])
    frame = struct.pack(">IIIIII", 1, 1, salt1, salt2, 1, 2) + bytes(page_size)
    with wal_file.open("ab") as f:
        f.write(frame)
    assert history.wal.capture() == []  # SQLite ignores the frame on recovery; so do we
    assert history.wal.pending == 0


def test_checkpoint_refuses_while_a_transaction_is_uncaptured(tmp_path: Path) -> None:
    db = tmp_path / "refuse.db"
    conn = open_db(db)
    history = History(conn, db)
    create_schema(conn)
    with pytest.raises(Internal, match="not captured"):
        history.wal.checkpoint()
    history.capture()
    assert_reproduces(history, db)


def test_checkpoint_blocked_by_a_reader_returns_false_and_capture_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    conn = open_db(db)
    history = History(conn, db)
    create_schema(conn)
    history.capture()
    reader = apsw.Connection(str(db))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM notes").fetchall()  # holds the old snapshot
    conn.execute("INSERT INTO notes(body) VALUES('one')")
    history.capture()
    assert history.wal.checkpoint() is False
    conn.execute("INSERT INTO notes(body) VALUES('two')")
    history.capture()
    reader.execute("COMMIT")
    reader.close()
    assert_reproduces(history, db)


def test_checkpoint_behind_captures_back_is_detected(tmp_path: Path) -> None:
    db = tmp_path / "lost.db"
    conn = open_db(db)
    history = History(conn, db)
    create_schema(conn)
    conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_TRUNCATE)  # not through WalCapture
    conn.execute("INSERT INTO notes(body) VALUES('after')")
    with pytest.raises(Internal, match="hook counted 2"):
        history.wal.capture()


def test_a_second_writer_is_detected(tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    conn = open_db(db)
    history = History(conn, db)
    create_schema(conn)
    history.capture()
    other = apsw.Connection(str(db))
    other.execute("INSERT INTO notes(body) VALUES('sneaky')")
    with pytest.raises(Internal, match="found 1 new"):
        history.wal.capture()
    other.close()


def test_a_database_not_in_wal_mode_is_refused(tmp_path: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "delete.db"))
    with pytest.raises(Internal, match="WAL"):
        WalCapture(conn, tmp_path / "delete.db")


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("page_size", [512, 4096, 65536])
def test_vectorised_checksum_matches_sqlites_loop(order: str, page_size: int) -> None:
    rng = random.Random(page_size)
    frames = [rng.randbytes(24 + page_size) for _ in range(3)]
    checksum = _checksum_for(page_size, order)
    s = s_plain = (rng.getrandbits(32), rng.getrandbits(32))
    for frame, t in zip(frames, checksum.frames(b"".join(frames), 3), strict=True):
        s = checksum.chain(s, t)
        # SQLite sums the first 8 bytes of the frame header, then the page.
        s_plain = _checksum_words(frame[:8] + frame[24:], order, *s_plain)
        assert s == s_plain


def test_roll_back_wal_returns_to_a_captured_commit_and_capture_continues(tmp_path: Path) -> None:
    # Cutting the WAL at a captured position (database closed without a checkpoint) gives
    # exactly the state of that commit; a copy of the WAL made before the cut, over the same
    # database file, returns to a later one; a capture told where it was resumes there,
    # and the segments still rebuild the database byte for byte.
    rng = random.Random(7)
    db = tmp_path / "live.db"
    conn = open_db(db)
    history = History(conn, db)
    create_schema(conn)
    history.capture()
    positions, states = {}, {}
    for i in range(6):
        random_tx(conn, rng, schema_step=i)
        history.capture()
        positions[i] = history.wal.position
        states[i] = conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
    keep_wal_on_close(conn)
    conn.close()
    wal = db.with_name("live.db-wal")
    kept = tmp_path / "kept-wal"
    kept.write_bytes(wal.read_bytes())
    roll_back_wal(db, str(wal), positions[2])
    assert wal.stat().st_size == positions[2]
    conn = open_db(db)
    assert conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall() == states[2]
    keep_wal_on_close(conn)
    conn.close()
    roll_back_wal(db, str(kept), positions[4])
    conn = open_db(db)
    assert conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall() == states[4]
    # History continues after txid 6 (schema + 5 transactions), as a rewind's run would.
    resumed = History(conn, db)
    resumed.wal = WalCapture(conn, db, captured_to=positions[4])
    resumed.segments = history.segments[:6]
    assert resumed.wal.pending == 0
    random_tx(conn, rng, schema_step=99)
    resumed.capture()
    assert_reproduces(resumed, db)
    conn.close()
