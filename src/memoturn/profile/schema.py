"""The schema of a profile database, as an ordered list of migrations.

A profile database holds everything of one profile-branch — memories, transcript, sessions,
KV, documents, vectors — so it checkpoints, rewinds and branches as one unit. Migration *n*
takes ``meta.schema_version`` from n-1 to n. Opening a database that is behind runs the
missing migrations in one transaction that takes no txid: on the writer, its pages ship
with the next txid's segment; a reader or an older restored state migrates its own copy.
"""

from __future__ import annotations

from typing import Final

F32_TO_F16: Final = "memoturn_f32_to_f16"
"""The SQL function migration v8 calls: a float32 blob as a float16 blob."""

CONTEXT_TURNS: Final = 2
"""How many turns before a transcript turn (same session) its keyword index entry also holds.
Written into migration v5 (its view and triggers): changing it takes a new migration."""


def _context_trigger(when: str, event: str) -> str:
    """A v5 trigger: before a turn is inserted or deleted, drop the index entries of the turn
    and of the turns after it whose context it changes (with the values they were indexed
    with, which the view still gives); after, index them again from the view. An append
    changes no earlier entry, so it costs one index insert, as before."""
    row = "new" if event == "INSERT" else "old"
    near = (
        f"WHERE session_id = {row}.session_id "
        f"AND turn BETWEEN {row}.turn AND {row}.turn + {CONTEXT_TURNS}"
    )
    if when == "BEFORE":
        body = (
            "INSERT INTO turns_fts(turns_fts, rowid, content, context) "
            f"SELECT 'delete', rid, content, context FROM turns_context {near};"
        )
    else:
        body = (
            "INSERT INTO turns_fts(rowid, content, context) "
            f"SELECT rid, content, context FROM turns_context {near};"
        )
    name = f"turns_{when[0].lower()}{event[0].lower()}"
    return f"CREATE TRIGGER {name} {when} {event} ON turns BEGIN {body} END"


MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID""",
        # rid is the rowid FTS5 and the in-memory vector index key on; id is the public ULID.
        """CREATE TABLE memories (
            rid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            content TEXT NOT NULL,
            topic TEXT,
            session_id TEXT,
            source TEXT,
            metadata TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            valid_from REAL NOT NULL,
            valid_to REAL,
            superseded_by TEXT,
            forgotten_reason TEXT,
            expires_at REAL,
            turn_ids TEXT NOT NULL,
            txid INTEGER NOT NULL,
            embedding BLOB
        )""",
        "CREATE INDEX memories_hash ON memories(content_hash) WHERE valid_to IS NULL",
        "CREATE INDEX memories_topic ON memories(topic, valid_from) WHERE topic IS NOT NULL",
        "CREATE INDEX memories_session ON memories(session_id) WHERE session_id IS NOT NULL",
        "CREATE INDEX memories_expiry ON memories(expires_at) WHERE expires_at IS NOT NULL",
        """CREATE VIRTUAL TABLE memories_fts USING fts5(
            content, topic, content='memories', content_rowid='rid',
            tokenize='unicode61 remove_diacritics 2')""",
        """CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts(rowid, content, topic)
            VALUES (new.rid, new.content, coalesce(new.topic, ''));
        END""",
        """CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, content, topic)
            VALUES ('delete', old.rid, old.content, coalesce(old.topic, ''));
        END""",
        """CREATE TABLE idempotency (
            key TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            memory_id TEXT NOT NULL,
            txid INTEGER NOT NULL,
            duplicate INTEGER NOT NULL,
            superseded TEXT NOT NULL,
            created_at REAL NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            ended_at REAL,
            task_ttl_s INTEGER NOT NULL,
            metadata TEXT NOT NULL,
            next_turn INTEGER NOT NULL DEFAULT 1
        ) WITHOUT ROWID""",
        """CREATE TABLE turns (
            rid INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            turn INTEGER NOT NULL,
            role TEXT NOT NULL,
            name TEXT,
            content TEXT NOT NULL,
            metadata TEXT NOT NULL,
            created_at REAL NOT NULL,
            embedding BLOB,
            UNIQUE (session_id, turn)
        )""",
        """CREATE VIRTUAL TABLE turns_fts USING fts5(
            content, content='turns', content_rowid='rid',
            tokenize='unicode61 remove_diacritics 2')""",
        """CREATE TRIGGER turns_ai AFTER INSERT ON turns BEGIN
            INSERT INTO turns_fts(rowid, content) VALUES (new.rid, new.content);
        END""",
        """CREATE TRIGGER turns_ad AFTER DELETE ON turns BEGIN
            INSERT INTO turns_fts(turns_fts, rowid, content)
            VALUES ('delete', old.rid, old.content);
        END""",
        """CREATE TABLE kv (
            space TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            expires_at REAL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (space, key)
        ) WITHOUT ROWID""",
        """CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            title TEXT,
            content TEXT NOT NULL,
            metadata TEXT NOT NULL,
            created_at REAL NOT NULL,
            chunks INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE chunks (
            rid INTEGER PRIMARY KEY,
            document_id TEXT NOT NULL,
            chunk INTEGER NOT NULL,
            content TEXT NOT NULL,
            embedding BLOB,
            UNIQUE (document_id, chunk)
        )""",
        """CREATE VIRTUAL TABLE chunks_fts USING fts5(
            content, content='chunks', content_rowid='rid',
            tokenize='unicode61 remove_diacritics 2')""",
        """CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, content) VALUES (new.rid, new.content);
        END""",
        """CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, content)
            VALUES ('delete', old.rid, old.content);
        END""",
        """CREATE TABLE vector_collections (
            name TEXT PRIMARY KEY,
            dim INTEGER NOT NULL,
            created_at REAL NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE vectors (
            collection TEXT NOT NULL,
            id TEXT NOT NULL,
            vector BLOB NOT NULL,
            metadata TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (collection, id)
        ) WITHOUT ROWID""",
        # Erasure (governance) needs deleted text gone from the FTS index pages too.
        "INSERT INTO memories_fts(memories_fts, rank) VALUES ('secure-delete', 1)",
        "INSERT INTO turns_fts(turns_fts, rank) VALUES ('secure-delete', 1)",
        "INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('secure-delete', 1)",
    ],
    [
        # Memories ingested with defer_embedding wait here for the background embedder.
        "CREATE INDEX memories_unembedded ON memories(rid) WHERE embedding IS NULL",
    ],
    # v3: the keyword indexes stem words with FTS5's Porter stemmer, on both the indexed
    # text and the query ("painting" and "painted" both index as "paint"). Each index is
    # rebuilt from its content table (about 0.1 s per 10,000 rows); the insert/delete
    # triggers name the index only, so they keep working.
    [
        stmt
        for table, columns in (
            ("memories", "content, topic"),
            ("turns", "content"),
            ("chunks", "content"),
        )
        for stmt in (
            f"DROP TABLE {table}_fts",
            f"""CREATE VIRTUAL TABLE {table}_fts USING fts5(
                {columns}, content='{table}', content_rowid='rid',
                tokenize='porter unicode61 remove_diacritics 2')""",
            f"INSERT INTO {table}_fts({table}_fts) VALUES ('rebuild')",
            f"INSERT INTO {table}_fts({table}_fts, rank) VALUES ('secure-delete', 1)",
        )
    ],
    # v4: extraction of memories from transcripts. A session may ask for it to run on its
    # own (auto_extract, JSON); extracted_turns is how far extraction got in each session:
    # one row per turn handled, with the hash of the turn it read (so a re-run sends nothing
    # twice and an apply checks the turns did not change), in the profile's own history.
    [
        "ALTER TABLE sessions ADD COLUMN auto_extract TEXT",
        """CREATE TABLE extracted_turns (
            session_id TEXT NOT NULL,
            turn INTEGER NOT NULL,
            turn_hash TEXT NOT NULL,
            txid INTEGER NOT NULL,
            extractor TEXT NOT NULL,
            reason TEXT,
            memory_ids TEXT NOT NULL,
            PRIMARY KEY (session_id, turn)
        ) WITHOUT ROWID""",
    ],
    # v5: a turn's keyword index entry also holds the words of the turns before it. A reply
    # seldom names its subject ("Yes! Last spring, the tarts were amazing"); the turns it
    # answers do. The index gets a second column, `context`: the text of the CONTEXT_TURNS
    # turns before it in the same session, read from the view `turns_context` (so nothing is
    # stored twice: purging a turn takes its words out of the entries after it too). Only
    # earlier turns, so an append never rewrites an entry: an FTS5 delete with secure-delete
    # on costs about 5-20 ms here, and re-indexing the turns before each appended one made
    # ingest several times slower. Triggers keep each entry equal to what the view says now:
    # before a turn is inserted or deleted, the entries whose context it changes are removed
    # with the values they were indexed with; after, they are indexed again. Recall weighs a
    # context word at ranking.KEYWORD_CONTEXT_WEIGHT of a turn's own word.
    [
        "DROP TRIGGER turns_ai",
        "DROP TRIGGER turns_ad",
        "DROP TABLE turns_fts",
        f"""CREATE VIEW turns_context AS SELECT t.rid, t.session_id, t.turn, t.content,
            (SELECT group_concat(n.content, char(10) ORDER BY n.turn) FROM turns n
             WHERE n.session_id = t.session_id
             AND n.turn BETWEEN t.turn - {CONTEXT_TURNS} AND t.turn - 1) AS context
            FROM turns t""",
        """CREATE VIRTUAL TABLE turns_fts USING fts5(
            content, context, content='turns_context', content_rowid='rid',
            tokenize='porter unicode61 remove_diacritics 2')""",
        "INSERT INTO turns_fts(turns_fts) VALUES ('rebuild')",
        "INSERT INTO turns_fts(turns_fts, rank) VALUES ('secure-delete', 1)",
        *(
            _context_trigger(when, event)
            for event in ("INSERT", "DELETE")
            for when in ("BEFORE", "AFTER")
        ),
    ],
    # v6: the keyword index's own statistics, for recall. `turns_vocab` reads turns_fts's
    # index directly (an fts5vocab table stores nothing and needs no triggers: the v5
    # triggers that keep turns_fts equal to its view keep this equal too, inserts, deletes
    # and erasures alike). Transcript recall drops from the query it embeds the words most
    # of the profile's turns hold ("Caroline" in a chat between Caroline and Melanie, where
    # every turn starts with a speaker's name): they carry no topic here, yet weigh on
    # the cosine of every turn.
    [
        "CREATE VIRTUAL TABLE turns_vocab USING fts5vocab(turns_fts, col)",
    ],
    # v7: re-embedding a profile to another model (`memoturn reembed`). The new vectors
    # collect in `reembed`, a batch per transaction, so a re-embedding stopped anywhere
    # (SIGINT, kill -9) resumes where its last batch committed; the last transaction moves
    # them into place and swaps meta's embed_model/embed_dim at once. meta's reembed_model
    # and reembed_dim name the model under way. A deleted item (forget, purge, erasure)
    # takes its pending vector with it, by the same kind of trigger as its index entry.
    [
        """CREATE TABLE reembed (
            scope TEXT NOT NULL,
            rid INTEGER NOT NULL,
            embedding BLOB NOT NULL,
            PRIMARY KEY (scope, rid)
        ) WITHOUT ROWID""",
        *(
            f"""CREATE TRIGGER {table}_reembed_ad AFTER DELETE ON {table} BEGIN
                DELETE FROM reembed WHERE scope = '{table}' AND rid = old.rid;
            END"""
            for table in ("memories", "turns", "chunks")
        ),
    ],
    # v8: embeddings of memories, turns and chunks are stored as float16 (rows.EMBEDDING_DTYPE),
    # half the bytes of float32: a 10k-memory profile's image drops from ~22 MB to ~14 MB,
    # and a wake reads, checks and copies the image. They are still scored as float32. The
    # conversion is a SQL function the migration registers (F32_TO_F16). Raw vectors (the
    # `vectors` table) stay float32. Pages freed by the conversion stay in the file (no
    # VACUUM inside a transaction); profiles written after it are compact.
    [
        f"UPDATE {table} SET embedding = {F32_TO_F16}(embedding) WHERE embedding IS NOT NULL"
        for table in ("memories", "turns", "chunks")
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
