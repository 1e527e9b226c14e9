"""Restore(T) from segments (and snapshots) gives exactly the state committed at T."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoturn.core.errors import Internal
from memoturn.storage.restore import (
    open_image_in_memory,
    restore,
    restore_to_bytes,
    take_snapshot,
)
from memoturn.storage.segment import CorruptSegment, Segment, Snapshot
from memoturn.storage.wal import WalCapture

WORDS = ("alpha", "beta", "gamma", "delta", "memory", "agent", "profile", "branch", "rewind")


def open_db(path: Path, *pragmas: str) -> apsw.Connection:
    """A WAL-mode connection; ``pragmas`` run first (auto_vacuum must precede WAL mode,
    which already writes page 1)."""
    conn = apsw.Connection(str(path))
    # One pragma per call: apsw runs the rest of a multi-statement string lazily.
    for pragma in pragmas:
        conn.execute(pragma).fetchall()
    assert conn.execute("PRAGMA journal_mode=WAL").fetchall() == [("wal",)]
    conn.execute("PRAGMA wal_autocheckpoint=0").fetchall()
    conn.execute("PRAGMA secure_delete=ON").fetchall()
    return conn


SCHEMA = [
    "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL, data BLOB)",
    "CREATE INDEX notes_body ON notes(body)",
    "CREATE VIRTUAL TABLE notes_fts USING fts5(body)",
    "INSERT INTO notes_fts(notes_fts, rank) VALUES('secure-delete', 1)",
]


def dump(conn: apsw.Connection) -> list[object]:
    """A logical dump: the schema, every row of every table (sorted), an FTS5 query."""
    schema = conn.execute("SELECT type, name, sql FROM sqlite_schema ORDER BY name").fetchall()
    out: list[object] = [schema]
    for _type, name, _sql in schema:
        if _type == "table":
            out.append((name, sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{name}"'))))
    if any(name == "notes_fts" for _t, name, _s in schema):
        q = "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'alpha OR memory' ORDER BY rowid"
        out.append(conn.execute(q).fetchall())
    return out


def run_op(conn: apsw.Connection, op: tuple, step: int) -> None:
    kind = op[0]
    ids = [r[0] for r in conn.execute("SELECT id FROM notes")]
    if kind == "insert" or (kind in ("update", "delete") and not ids):
        body, size, seed = op[1:] if kind == "insert" else ("alpha", 0, 0)
        blob = random.Random(seed).randbytes(size)
        rowid = conn.execute(
            "INSERT INTO notes(body, data) VALUES(?, ?) RETURNING id", (body, blob)
        ).fetchall()[0][0]
        conn.execute("INSERT INTO notes_fts(rowid, body) VALUES(?, ?)", (rowid, body))
    elif kind == "update":
        _, pick, body, size, seed = op
        rowid = ids[pick % len(ids)]
        blob = random.Random(seed).randbytes(size)
        conn.execute("UPDATE notes SET body=?, data=? WHERE id=?", (body, blob, rowid))
        conn.execute("UPDATE notes_fts SET body=? WHERE rowid=?", (body, rowid))
    elif kind == "delete":
        rowid = ids[op[1] % len(ids)]
        conn.execute("DELETE FROM notes WHERE id=?", (rowid,))
        conn.execute("DELETE FROM notes_fts WHERE rowid=?", (rowid,))
    else:  # a schema change, no VACUUM
        conn.execute(f"ALTER TABLE notes ADD COLUMN extra{step} TEXT DEFAULT 'x{step}'")
        conn.execute(f"CREATE TABLE side{step}(k TEXT PRIMARY KEY, v) WITHOUT ROWID")
        conn.execute(f"INSERT INTO side{step} VALUES('k', ?)", (step,))


bodies = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)
sizes = st.one_of(st.just(0), st.integers(1_000, 20_000))
seeds = st.integers(0, 2**16)
ops = st.one_of(
    st.tuples(st.just("insert"), bodies, sizes, seeds),
    st.tuples(st.just("update"), st.integers(0, 99), bodies, sizes, seeds),
    st.tuples(st.just("delete"), st.integers(0, 99)),
    st.just(("schema",)),
)
# Each transaction: its ops, and whether the engine checkpoints after it (WAL restart).
programs = st.lists(st.tuples(st.lists(ops, min_size=1, max_size=4), st.booleans()), max_size=10)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_restore_at_every_txid_gives_the_state_committed_then(program: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "live.db"
        conn = open_db(db)
        wal = WalCapture(conn, db)
        segments: list[Segment] = []
        # txid 0 is the empty database: no snapshot (journal_mode=WAL already wrote a
        # page 1 to the file, outside history; the first transaction rewrites it).
        snapshots: list[Snapshot | None] = [None]
        dumps = [dump(conn)]

        def commit(statements: list) -> None:
            with conn:
                for stmt in statements:
                    stmt()
            (tx,) = wal.capture()
            seg = tx.segment(len(segments) + 1, epoch=1)
            segments.append(Segment.decode(seg.encode()))
            snapshots.append(Snapshot.decode(take_snapshot(conn, seg.txid).encode()))
            dumps.append(dump(conn))

        commit([lambda s=s: conn.execute(s) for s in SCHEMA])
        for step, (tx_ops, checkpoint) in enumerate(program):
            commit(
                [lambda op=op, n=n: run_op(conn, op, n) for n, op in enumerate(tx_ops, 10 * step)]
            )
            if checkpoint:
                assert wal.checkpoint()
        conn.close()

        for t in range(len(segments) + 1):
            image = restore_to_bytes(None, segments[:t])
            assert dump(open_image_in_memory(image)) == dumps[t]
            snapshot = snapshots[t]
            assert snapshot is None or image == snapshot.image  # replay == serialize
            for s in {0, t // 2, max(t - 1, 0), t}:
                assert restore_to_bytes(snapshots[s], segments[s:t]) == image


def _capture_all(wal: WalCapture, segments: list[Segment]) -> None:
    for tx in wal.capture():
        segments.append(tx.segment(len(segments) + 1))


@pytest.mark.parametrize("shrink", ["PRAGMA incremental_vacuum", "VACUUM"])
def test_a_shrinking_database_restores_to_the_right_size(tmp_path: Path, shrink: str) -> None:
    db = tmp_path / "shrink.db"
    conn = open_db(db, "PRAGMA auto_vacuum=INCREMENTAL")
    wal = WalCapture(conn, db)
    segments: list[Segment] = []
    for sql in SCHEMA:
        conn.execute(sql)
    with conn:
        for i in range(60):
            conn.execute("INSERT INTO notes(body, data) VALUES(?, randomblob(10000))", (str(i),))
    _capture_all(wal, segments)
    big = conn.execute("PRAGMA page_count").fetchall()[0][0]
    conn.execute("DELETE FROM notes WHERE id > 5")
    conn.execute(shrink).fetchall()
    _capture_all(wal, segments)
    small = conn.execute("PRAGMA page_count").fetchall()[0][0]
    assert small < big // 5
    assert segments[-1].db_size_pages == small
    assert wal.checkpoint()
    assert restore_to_bytes(None, segments) == db.read_bytes()
    assert len(db.read_bytes()) == small * 4096
    before = restore_to_bytes(None, segments[: len(SCHEMA) + 1])
    assert len(before) == big * 4096
    # Growing again after the shrink: no stale pages from before it survive.
    conn.execute("INSERT INTO notes(body, data) VALUES('again', randomblob(50000))")
    _capture_all(wal, segments)
    assert wal.checkpoint()
    assert restore_to_bytes(None, segments) == db.read_bytes()


def _history(tmp_path: Path, n: int) -> tuple[apsw.Connection, list[Segment]]:
    db = tmp_path / "h.db"
    conn = open_db(db)
    wal = WalCapture(conn, db)
    segments: list[Segment] = []
    for sql in SCHEMA:
        conn.execute(sql)
    for i in range(n):
        conn.execute("INSERT INTO notes(body) VALUES(?)", (f"alpha note {i}",))
        conn.execute("INSERT INTO notes_fts(rowid, body) VALUES(?, ?)", (i + 1, f"alpha {i}"))
    _capture_all(wal, segments)
    return conn, segments


def test_a_gap_or_disorder_in_txids_is_rejected(tmp_path: Path) -> None:
    _conn, segs = _history(tmp_path, 3)
    with pytest.raises(CorruptSegment, match="gap"):
        restore_to_bytes(None, segs[:3] + segs[4:])
    with pytest.raises(CorruptSegment, match="does not follow txid 0"):
        restore_to_bytes(None, segs[1:])
    with pytest.raises(CorruptSegment, match="gap"):
        restore_to_bytes(None, [segs[1], segs[0]])
    snap = Snapshot(2, 4096, 1, restore_to_bytes(None, segs[:2])[:4096])
    with pytest.raises(CorruptSegment, match="does not follow txid 2"):
        restore_to_bytes(snap, segs[3:])


def test_a_stale_epoch_or_foreign_page_size_is_rejected(tmp_path: Path) -> None:
    _conn, segs = _history(tmp_path, 1)
    newer = Segment(1, segs[0].page_size, segs[0].db_size_pages, segs[0].pages, epoch=5)
    older = Segment(2, segs[1].page_size, segs[1].db_size_pages, segs[1].pages, epoch=4)
    with pytest.raises(CorruptSegment, match="epoch"):
        restore_to_bytes(None, [newer, older])
    odd = Segment(2, 1024, 1, {1: bytes(1024)})
    with pytest.raises(CorruptSegment, match="page size"):
        restore_to_bytes(None, [segs[0], odd])


def test_a_well_formed_but_wrong_segment_fails_integrity_check(tmp_path: Path) -> None:
    _conn, segs = _history(tmp_path, 3)
    last = segs[-1]
    page = max(last.pages)
    garbage = Segment(last.txid, last.page_size, last.db_size_pages, {page: b"\x0d" * 4096})
    with pytest.raises(CorruptSegment, match=r"integrity_check|does not open"):
        restore_to_bytes(None, [*segs[:-1], garbage])


def test_in_memory_image_opens_and_answers_fts_queries(tmp_path: Path) -> None:
    _conn, segs = _history(tmp_path, 20)
    image = restore_to_bytes(None, segs)
    assert image[18:20] == b"\x02\x02"  # WAL-mode image, as on disk
    mem = open_image_in_memory(image)
    assert image[18:20] == b"\x02\x02"  # the caller's bytes are not patched in place
    hits = mem.execute("SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'alpha'").fetchall()
    assert len(hits) == 20
    assert mem.execute("SELECT count(*) FROM notes").fetchall() == [(20,)]
    assert open_image_in_memory(b"").execute("SELECT count(*) FROM sqlite_schema").fetchall()


def test_empty_history_is_the_empty_database() -> None:
    assert restore_to_bytes(None, []) == b""


def test_restore_to_a_file_gives_a_live_wal_database(tmp_path: Path) -> None:
    conn, segs = _history(tmp_path, 5)
    target = tmp_path / "restored.db"
    assert restore(take_snapshot(conn, len(segs)), [], target) == len(segs)
    assert restore(None, segs[:3], target) == 3  # atomically replaces the older file
    assert sorted(p.name for p in tmp_path.iterdir() if "restored" in p.name) == ["restored.db"]
    again = open_db(target)  # WAL mode comes from the restored header
    assert again.execute("SELECT count(*) FROM sqlite_schema").fetchall()[0][0] > 0
    again.execute("INSERT INTO notes(body) VALUES('written after restore')")
    with pytest.raises(Internal, match="non-empty WAL"):
        restore(None, segs, target)
    again.close()
    assert restore(None, segs, target) == len(segs)


def test_snapshot_refuses_inside_a_transaction(tmp_path: Path) -> None:
    conn, _segs = _history(tmp_path, 1)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO notes(body) VALUES('uncommitted')")
    with pytest.raises(Internal, match="inside a transaction"):
        take_snapshot(conn, 99)
    conn.execute("ROLLBACK")
