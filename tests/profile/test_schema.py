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
        assert SCHEMA_VERSION == 7
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
