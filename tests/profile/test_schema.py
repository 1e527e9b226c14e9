"""Schema migrations: a database made by an older Memoturn opens, migrates in one step that
takes no txid, and keeps working."""

from __future__ import annotations

from pathlib import Path

import apsw

from memoturn.profile.profile import Profile
from memoturn.profile.schema import MIGRATIONS, SCHEMA_VERSION

FTS_TABLES = ("memories_fts", "turns_fts", "chunks_fts")


def _make_v2(path: Path) -> None:
    """A database as schema version 2 left it, holding a fact, a session task, a turn and
    a document chunk, at txid 5."""
    conn = apsw.Connection(str(path))
    with conn:
        for step in MIGRATIONS[:2]:
            for statement in step:
                conn.execute(statement)
        conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', 2), ('txid', 5)")
        columns = (
            "id, type, content, session_id, metadata, content_hash, created_at, "
            "valid_from, expires_at, turn_ids, txid"
        )
        conn.execute(
            f"INSERT INTO memories({columns}) VALUES "
            "('m1', 'fact', 'Melanie painted a sunrise', NULL, '{}', 'h1', 1, 1, NULL, '[]', 1),"
            "('m2', 'task', 'Repainting the fence today', 's1', '{}', 'h2', 2, 2, 1e12, '[]', 2)"
        )
        conn.execute(
            "INSERT INTO sessions(id, created_at, task_ttl_s, metadata, next_turn) "
            "VALUES ('s1', 1, 86400, '{}', 2)"
        )
        conn.execute(
            "INSERT INTO turns(session_id, turn, role, content, metadata, created_at) "
            "VALUES ('s1', 1, 'user', 'She paints every weekend', '{}', 3)"
        )
        conn.execute(
            "INSERT INTO documents(id, content, metadata, created_at, chunks) "
            "VALUES ('d1', 'Painting classes in spring', '{}', 4, 1)"
        )
        conn.execute(
            "INSERT INTO chunks(document_id, chunk, content) "
            "VALUES ('d1', 0, 'Painting classes in spring')"
        )
    conn.close()


def _keyword(prof: Profile, query: str, scope: str) -> list[str]:
    hits = prof.recall(query, scopes=[scope], mode="keyword").results
    return [h.memory.content for h in hits]


def test_v2_database_migrates_to_stemmed_keyword_indexes(tmp_path: Path, embedder) -> None:
    path = tmp_path / "old.db"
    _make_v2(path)
    prof = Profile(path, embedder)
    try:
        assert SCHEMA_VERSION == 8
        assert int(prof.db.meta("schema_version")) == SCHEMA_VERSION
        assert prof.txid == 5  # the migration takes no txid
        for table in FTS_TABLES:
            (sql,) = prof.db.conn.execute(
                "SELECT sql FROM sqlite_schema WHERE name = ?", (table,)
            ).fetchone()
            assert "porter" in sql
            # rank 1: the index also matches its content table (v5: the turns_context view).
            prof.db.conn.execute(
                f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)"
            )
        # The rebuilt indexes hold the old rows, stemmed.
        assert _keyword(prof, "painting", "memories") == ["Melanie painted a sunrise"]
        assert _keyword(prof, "painting", "transcript") == ["She paints every weekend"]
        assert _keyword(prof, "painted", "documents") == ["Painting classes in spring"]
        # The delete triggers still keep the index in step: ending the session deletes
        # its task, and the index stays consistent without it.
        assert _keyword(prof, "fence", "memories") == ["Repainting the fence today"]
        assert prof.end_session("s1").deleted_tasks == 1
        assert _keyword(prof, "fence", "memories") == []
        prof.db.conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('integrity-check')")
        # New rows are indexed the same way.
        prof.ingest("fact", "Caroline is planning a trip")
        assert _keyword(prof, "plans", "memories") == ["Caroline is planning a trip"]
    finally:
        prof.close()


def test_v5_float32_embeddings_migrate_to_float16(tmp_path: Path, embedder) -> None:
    """A v5 database (float32 embeddings) opens as v8: every embedding of memories, turns
    and chunks becomes float16 of the same values, raw vectors stay float32 exactly, and
    vector recall finds the same memory."""
    import numpy as np

    from memoturn.core.clock import SystemClock
    from memoturn.profile import rows

    path = tmp_path / "v5.db"
    texts = ["the user lives in Lisbon", "likes green tea", "plays the cello on Sundays"]
    vecs = embedder.embed(texts)
    raw = np.array([0.1, -0.25, 1 / 3], dtype=np.float32)
    conn = apsw.Connection(str(path))
    with conn:
        for step in MIGRATIONS[:5]:
            for statement in step:
                conn.execute(statement)
        conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', 5), ('txid', 3)")
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('embed_model', ?), ('embed_dim', ?)",
            (embedder.name, embedder.dim),
        )
        for i, (text, vec) in enumerate(zip(texts, vecs, strict=True)):
            conn.execute(
                "INSERT INTO memories(id, type, content, metadata, content_hash, created_at, "
                "valid_from, turn_ids, txid, embedding) VALUES (?, 'fact', ?, '{}', ?, 1, 1, "
                "'[]', 1, ?)",
                (f"m{i}", text, f"h{i}", vec.astype(np.float32).tobytes()),
            )
        conn.execute(
            "INSERT INTO sessions(id, created_at, task_ttl_s, metadata) VALUES ('s1', 1, 60, '{}')"
        )
        conn.execute(
            "INSERT INTO turns(session_id, turn, role, content, metadata, created_at, embedding) "
            "VALUES ('s1', 1, 'user', 'hello', '{}', 2, ?)",
            (vecs[0].astype(np.float32).tobytes(),),
        )
        conn.execute("INSERT INTO vector_collections(name, dim, created_at) VALUES ('c', 3, 1)")
        conn.execute(
            "INSERT INTO vectors(collection, id, vector, metadata, updated_at) "
            "VALUES ('c', 'v', ?, '{}', 1)",
            (raw.tobytes(),),
        )
    conn.close()

    prof = Profile(path, embedder, clock=SystemClock())
    try:
        assert int(prof.db.meta("schema_version")) == SCHEMA_VERSION
        assert prof.txid == 3  # the migration takes no txid
        stored = prof.db.conn.execute("SELECT embedding FROM memories ORDER BY rid").fetchall()
        assert [len(b) for (b,) in stored] == [2 * embedder.dim] * 3
        got = rows.embedding_matrix([b for (b,) in stored], embedder.dim)
        assert np.array_equal(got, vecs.astype(np.float16).astype(np.float32))
        (turn,) = prof.db.conn.execute("SELECT embedding FROM turns").fetchone()
        assert len(turn) == 2 * embedder.dim
        (vec,) = prof.db.conn.execute("SELECT vector FROM vectors").fetchone()
        assert vec == raw.tobytes()  # raw vectors are the caller's: float32, untouched
        hits = prof.recall("which city does the user live in", k=1, mode="vector").results
        assert hits[0].memory.content == "the user lives in Lisbon"
        query = prof.vector_query("c", [0.1, -0.25, 1 / 3], k=1)
        assert query.results[0].id == "v"
    finally:
        prof.close()


def test_a_live_index_equals_a_reloaded_one(tmp_path: Path, embedder) -> None:
    """The in-memory index rounds each new vector as the database stores it (float16)."""
    from memoturn.core.clock import SystemClock

    path = tmp_path / "p.db"
    prof = Profile(path, embedder, clock=SystemClock())
    try:
        prof.ingest("fact", "the user lives in Lisbon")
        prof.append_turn(prof.open_session("s1").session.id, "user", "hello there")
        prof.add_document("Painting classes in spring")
        live = prof.indexes()
        fresh = prof._load_indexes()
        for a, b in zip(live, fresh, strict=True):
            n = len(a)
            assert n == len(b) and n > 0
            assert (a._mat[:n] == b._mat[:n]).all()
    finally:
        prof.close()
