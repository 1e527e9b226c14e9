"""Hybrid recall: FTS5 BM25 and embedding cosine, fused by score (see ``ranking.fuse``).

Filters are applied before ranking, in SQL for the keyword list and as a mask for the
vector list, so a filter never empties a result that has matches. Each scope (memories,
transcript turns, document chunks) is ranked on its own and the fused lists are merged.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import apsw
import numpy as np

from memoturn.core import limits, ranking, validate
from memoturn.core.errors import InvalidInput
from memoturn.core.model import MemoryType, RecallHit, RecallResult, Scope, Why
from memoturn.profile import rows
from memoturn.profile.schema import CONTEXT_TURNS
from memoturn.profile.vectorindex import VectorIndex

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile

MODES = ("hybrid", "keyword", "vector")

TRANSCRIPT_DEPTH = 2
"""How many times deeper hybrid transcript recall reads each list before fusion (100 for
the usual 50): a turn is also credited for its neighbours, so a turn below a list's top
50 can end in the top 10. Chosen on LoCoMo conversations 0-4 only (1x 81.1, 2x 81.6, 3x
and 4x no better, R@10), as the smallest depth of the plateau."""


@dataclasses.dataclass(frozen=True, slots=True)
class RecallQuery:
    """A validated recall request."""

    query: str
    k: int = 10
    types: tuple[str, ...] | None = None
    topic: str | None = None
    session_id: str | None = None
    source: str | None = None
    scopes: tuple[str, ...] = (Scope.MEMORIES.value,)
    include_history: bool = False
    as_of: float | None = None
    created_after: float | None = None
    created_before: float | None = None
    metadata: tuple[tuple[str, Any], ...] = ()
    recency_half_life_s: float | None = None
    recency_weight: float = 0.3
    mode: str = "hybrid"
    min_score: float | None = None
    """Drop hits whose calibrated ``relevance`` is below this; ``None``: keep every hit."""

    @classmethod
    def build(cls, query: str, **kw: Any) -> RecallQuery:
        unknown = set(kw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidInput(f"unknown recall fields: {', '.join(sorted(unknown))}")
        q = validate.text(query, "query", max_bytes=limits.MAX_QUERY_CHARS)
        k = validate.integer(kw.get("k", 10), "k", low=1, high=limits.MAX_RECALL_K)
        types = kw.get("types")
        if types is not None:
            if not isinstance(types, list | tuple) or not types:
                raise InvalidInput("types must be a non-empty list")
            types = tuple(
                validate.choice(t, "types[]", [m.value for m in MemoryType]) for t in types
            )
        scopes = kw.get("scopes") or [Scope.MEMORIES.value]
        if not isinstance(scopes, list | tuple):
            raise InvalidInput("scopes must be a list")
        scopes = tuple(
            dict.fromkeys(validate.choice(s, "scopes[]", [x.value for x in Scope]) for s in scopes)
        )
        meta = validate.metadata_filter(kw.get("metadata"))
        half_life = kw.get("recency_half_life_s")
        if half_life is not None and (
            isinstance(half_life, bool) or not isinstance(half_life, int | float) or half_life <= 0
        ):
            raise InvalidInput("recency_half_life_s must be a positive number of seconds")
        weight = kw.get("recency_weight", 0.3)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
            raise InvalidInput("recency_weight must be a number between 0 and 1")
        min_score = kw.get("min_score")
        if min_score is not None and (
            isinstance(min_score, bool)
            or not isinstance(min_score, int | float)
            or not 0 <= min_score <= 1
        ):
            raise InvalidInput(
                "min_score must be a number between 0 and 1",
                hint=f"the recommended threshold is {ranking.RECOMMENDED_MIN_SCORE}",
            )
        include_history = kw.get("include_history", False)
        if not isinstance(include_history, bool):
            raise InvalidInput("include_history must be true or false")
        return cls(
            query=q,
            k=k,
            types=types,
            topic=validate.short(kw.get("topic"), "topic", max_chars=limits.MAX_TOPIC_CHARS),
            session_id=validate.session_id(kw.get("session_id")),
            source=validate.short(kw.get("source"), "source", max_chars=limits.MAX_SOURCE_CHARS),
            scopes=scopes,
            include_history=include_history,
            as_of=validate.timestamp(kw.get("as_of"), "as_of"),
            created_after=validate.timestamp(kw.get("created_after"), "created_after"),
            created_before=validate.timestamp(kw.get("created_before"), "created_before"),
            metadata=tuple(sorted(meta.items())),
            recency_half_life_s=half_life,
            recency_weight=float(weight),
            mode=validate.choice(kw.get("mode", "hybrid"), "mode", MODES),
            min_score=None if min_score is None else float(min_score),
        )

    @property
    def candidates(self) -> int:
        """How deep each list is read before fusion. Not tied to ``k`` (up to 50), so
        asking for more hits never reorders the first ones."""
        return max(50, self.k)


@dataclasses.dataclass(slots=True)
class _ScopeSql:
    """How one scope is searched: its tables, the filter SQL and the fetch query."""

    table: str
    fts: str
    conds: list[str]
    params: list[Any]
    narrowing: bool
    """Whether the filters go beyond what the vector index can mask by itself."""
    index: Callable[[], VectorIndex]
    """The scope's vector index, loaded on first call: keyword recall never needs it."""
    time_col: str
    bm25: str
    """The BM25 expression of the scope's index, with its column weights."""


class RecallOps:
    """Mixin of :class:`~memoturn.profile.profile.Profile`: hybrid recall."""

    def recall(self: Profile, query: str, **options: Any) -> RecallResult:
        """Hybrid recall; see :class:`RecallQuery` for the options."""
        q = RecallQuery.build(query, **options)
        vectors = self._query_vectors(q)
        now = self.clock.now()
        words = query_tokens(q.query)
        hits: list[RecallHit] = []
        with self.db.read() as cur:
            txid = self.db.txid
            for scope in q.scopes:
                qvec = vectors.get(scope)
                hits.extend(self._recall_scope(cur, scope, q, qvec, now, words))
        hits.sort(key=lambda h: -h.score)
        return RecallResult(hits[: q.k], txid)

    def _query_vectors(self: Profile, q: RecallQuery) -> dict[str, np.ndarray]:
        """The embedded query of each scope (none in keyword mode). Transcript recall embeds
        the query without the words most of the profile's turns hold (:func:`common_words`);
        every text is embedded once, outside the profile lock."""
        if q.mode == "keyword":
            return {}
        texts = dict.fromkeys(q.scopes, q.query)
        if Scope.TRANSCRIPT in texts:
            with self.db.read() as cur:
                common = common_turn_words(cur, q.query)
            texts[Scope.TRANSCRIPT] = ranking.without_words(q.query, common)
        embedded = {text: self.embedder.embed_query(text) for text in dict.fromkeys(texts.values())}
        return {scope: embedded[text] for scope, text in texts.items()}

    def _scope_sql(self: Profile, scope: str, q: RecallQuery, now: float) -> _ScopeSql:
        conds: list[str] = []
        params: list[Any] = []
        narrowing = False

        def add(cond: str, *values: Any, narrows: bool = True) -> None:
            nonlocal narrowing
            conds.append(cond)
            params.extend(values)
            narrowing = narrowing or narrows

        if scope == Scope.MEMORIES:
            add("(t.expires_at IS NULL OR t.expires_at > ?)", now, narrows=False)
            if q.as_of is not None:
                add(
                    "t.valid_from <= ? AND (t.valid_to IS NULL OR t.valid_to > ?)",
                    q.as_of,
                    q.as_of,
                    narrows=False,
                )
            elif not q.include_history:
                add("t.valid_to IS NULL", narrows=False)
            if q.types:
                add(f"t.type IN ({','.join('?' * len(q.types))})", *q.types)
            for col in ("topic", "session_id", "source"):
                if getattr(q, col) is not None:
                    add(f"t.{col} = ?", getattr(q, col))
            meta_col, time_col, table, fts, index = (
                "t.metadata",
                "t.created_at",
                "memories",
                "memories_fts",
                lambda: self.memory_index,
            )
        elif scope == Scope.TRANSCRIPT:
            if q.session_id is not None:
                add("t.session_id = ?", q.session_id)
            meta_col, time_col, table, fts, index = (
                "t.metadata",
                "t.created_at",
                "turns",
                "turns_fts",
                lambda: self.turn_index,
            )
        else:
            meta_col, time_col, table, fts, index = (
                "(SELECT metadata FROM documents d WHERE d.id = t.document_id)",
                "(SELECT created_at FROM documents d WHERE d.id = t.document_id)",
                "chunks",
                "chunks_fts",
                lambda: self.chunk_index,
            )
        cutoff = self.retained_after(now)
        if cutoff is not None:  # the policy's retention period: older items are never read
            add(f"{time_col} > ?", cutoff)
        if q.created_after is not None:
            add(f"{time_col} >= ?", q.created_after)
        if q.created_before is not None:
            add(f"{time_col} < ?", q.created_before)
        for key, value in q.metadata:
            add(f"json_extract({meta_col}, ?) IS ?", "$." + _json_path_key(key), value)
        # A transcript turn's index entry also holds its neighbours' words (schema v5).
        weights = f", 1.0, {ranking.KEYWORD_CONTEXT_WEIGHT}" if scope == Scope.TRANSCRIPT else ""
        bm25 = f"bm25({fts}{weights})"
        return _ScopeSql(table, fts, conds, params, narrowing, index, time_col, bm25)

    def _recall_scope(
        self: Profile,
        cur: Any,
        scope: str,
        q: RecallQuery,
        qvec: np.ndarray | None,
        now: float,
        words: list[frozenset[str]],
    ) -> list[RecallHit]:
        s = self._scope_sql(scope, q, now)
        where = " AND ".join(s.conds) or "1"
        # Fusion needs deeper lists than it returns; a single list needs only k. Transcript
        # lists go deeper still: the neighbour credits lift turns from below the top.
        depth = q.candidates if q.mode == "hybrid" else q.k
        if scope == Scope.TRANSCRIPT and q.mode == "hybrid":
            depth *= TRANSCRIPT_DEPTH
        keyword: list[tuple[int, float]] = []
        match = ranking.fts_query(q.query) if q.mode != "vector" else None
        if match is not None:
            keyword = self._keyword_list(cur, s, where, match, depth)
            if scope == Scope.TRANSCRIPT and keyword:
                keyword = self._credit_earlier_turns(cur, s, where, keyword, depth)
        vector: list[tuple[int, float]] = []
        similarity: dict[int, float] = {}
        if qvec is not None:
            index = s.index()
            allowed = None
            if s.narrowing:
                allowed = np.fromiter(
                    (
                        r
                        for (r,) in cur.execute(
                            f"SELECT t.rid FROM {s.table} t WHERE {where}", s.params
                        )
                    ),
                    dtype=np.int64,
                )
            vector = index.search(
                qvec,
                depth,
                now=now if scope == Scope.MEMORIES else None,
                as_of=q.as_of if scope == Scope.MEMORIES else None,
                current_only=scope == Scope.MEMORIES and q.as_of is None and not q.include_history,
                allowed=allowed,
            )
            # Fusion judges every candidate on both signals: keyword hits the vector list
            # missed get their exact cosine however deep they lie.
            listed = {rid for rid, _ in vector}
            missed = [rid for rid, _ in keyword if rid not in listed]
            if missed:
                similarity = index.similarity(missed, qvec)
        cosine: dict[int, float] = {}
        if scope == Scope.TRANSCRIPT and vector:
            cosine = {**dict(vector), **similarity}
            vector, similarity = self._credit_earlier_turns_vector(
                cur, s, where, vector, keyword, qvec, depth, cosine
            )
        weight = {"keyword": 1.0, "vector": 0.0}.get(q.mode, ranking.KEYWORD_WEIGHT)
        fused = ranking.fuse(keyword, vector, similarity=similarity, keyword_weight=weight)
        for f in fused:  # a hit reports (and is judged relevant on) its own cosine
            if f.key in cosine:
                f.similarity = cosine[f.key]
        if q.recency_half_life_s is None and q.min_score is None:
            fused = fused[: q.k]
        records = self._hydrate(cur, scope, [f.key for f in fused])
        # When the keyword list holds every match, a hit outside it holds no query word.
        every_match = match is not None and len(keyword) < depth
        hits = []
        for f in fused:
            record = records.get(f.key)
            if record is None:
                continue
            score, factor = f.score, None
            if q.recency_half_life_s is not None:
                created = record.valid_from if scope == Scope.MEMORIES else record.created_at
                factor = ranking.recency_factor(
                    now - created, q.recency_half_life_s, q.recency_weight
                )
                score *= factor
            held = 0.0
            if f.bm25 is not None or not every_match:
                held = ranking.coverage(words, item_tokens(scope, record))
            relevance = ranking.relevance(f.similarity, held)
            if q.min_score is not None and relevance < q.min_score:
                continue
            why = Why(f.bm25_rank, f.vector_rank, f.similarity, f.bm25, factor)
            hits.append(RecallHit(scope, record, score, relevance, why))
        if q.recency_half_life_s is not None:
            hits.sort(key=lambda h: -h.score)
        return hits[: q.k]

    def _keyword_list(
        self: Profile, cur: Any, s: _ScopeSql, where: str, match: str, depth: int
    ) -> list[tuple[int, float]]:
        """The ``depth`` best BM25 hits that pass the scope's filters, best first, with
        BM25 as higher-is-better.

        Joining every match to its row to test the filters costs more than the match itself
        (a common word matches thousands of rows). Unless a filter narrows the search (type,
        topic, session, time, metadata), nearly every match passes, so: take the best
        ``2 * depth`` matches from the index alone and test only those. That is exact when
        ``depth`` of them pass (any other passing match ranks below all of them) or when the
        index had no more; otherwise the joined query runs.
        """
        top = f"SELECT rowid, {s.bm25} FROM {s.fts} WHERE {s.fts} MATCH ? ORDER BY {s.bm25} LIMIT ?"
        if not s.conds:
            return [(rid, -score) for rid, score in cur.execute(top, (match, depth))]
        if not s.narrowing:
            over = 2 * depth
            # One statement: the best matches, each with whether its row passes the filters
            # (a wake's first recall pays for preparing every statement it runs).
            ranked = (
                f"SELECT rowid, {s.bm25} AS score FROM {s.fts} WHERE {s.fts} MATCH ? "
                f"ORDER BY {s.bm25} LIMIT ?"
            )
            best = cur.execute(
                f"SELECT b.rowid, b.score, t.rid IS NOT NULL FROM ({ranked}) b "
                f"LEFT JOIN {s.table} t ON t.rid = b.rowid AND {where} ORDER BY b.score",
                (match, over, *s.params),
            ).fetchall()
            kept = [(r, -b) for r, b, passes in best if passes][:depth]
            if len(kept) == depth or len(best) < over:
                return kept
        return [
            (rid, -score)
            for rid, score in cur.execute(
                f"SELECT f.rowid, {s.bm25} FROM {s.fts} f JOIN {s.table} t "
                f"ON t.rid = f.rowid WHERE {s.fts} MATCH ? AND {where} "
                f"ORDER BY {s.bm25} LIMIT ?",
                (match, *s.params, depth),
            )
        ]

    def _credit_earlier_turns(
        self: Profile,
        cur: Any,
        s: _ScopeSql,
        where: str,
        keyword: list[tuple[int, float]],
        depth: int,
    ) -> list[tuple[int, float]]:
        """The keyword list with each turn also credited for the turns just after it that
        matched (``ranking.credit_earlier_turns``); the credited turns pass the same filters."""
        earlier = _neighbours(cur, s, where, [rid for rid, _ in keyword], after=False)
        return ranking.credit_earlier_turns(keyword, earlier)[:depth]

    def _credit_earlier_turns_vector(
        self: Profile,
        cur: Any,
        s: _ScopeSql,
        where: str,
        vector: list[tuple[int, float]],
        keyword: list[tuple[int, float]],
        qvec: np.ndarray,
        depth: int,
        cosine: dict[int, float],
    ) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """The vector side of :meth:`_credit_earlier_turns`: each turn also scores
        ``ranking.KEYWORD_CONTEXT_WEIGHT`` times the best cosine of the turns just after it
        (``ranking.credit_next_turns``), so the question is found by its answer's meaning.
        The turns just before the vector list's join it. Returns the credited vector list
        and the credited similarity of the keyword hits outside it; ``cosine`` (every
        candidate's own cosine) is filled in for the turns that joined."""
        earlier = _neighbours(cur, s, where, [rid for rid, _ in vector], after=False)
        pool = list(dict.fromkeys([*(r for r, _ in vector), *(t for _, t in earlier)]))
        candidates = list(dict.fromkeys([*pool, *(r for r, _ in keyword)]))
        later = _neighbours(cur, s, where, candidates, after=True)
        unknown = [r for r in {*candidates, *(t for _, t in later)} if r not in cosine]
        if unknown:
            cosine.update(s.index().similarity(unknown, qvec))
        credited = ranking.credit_next_turns(cosine, later)
        ranked = sorted(
            ((r, credited[r]) for r in pool if r in credited), key=lambda item: -item[1]
        )[:depth]
        listed = {r for r, _ in ranked}
        missed = {r: credited[r] for r, _ in keyword if r not in listed and r in credited}
        return ranked, missed

    def _hydrate(self: Profile, cur: Any, scope: str, keys: Sequence[int]) -> dict[int, Any]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        if scope == Scope.MEMORIES:
            sql = f"SELECT rid, {rows.MEMORY_COLUMNS} FROM memories WHERE rid IN ({marks})"
            convert = rows.memory
        elif scope == Scope.TRANSCRIPT:
            sql = f"SELECT rid, {rows.TURN_COLUMNS} FROM turns WHERE rid IN ({marks})"
            convert = rows.turn
        else:
            sql = (
                "SELECT c.rid, c.document_id, c.chunk, d.title, c.content, d.metadata, "
                f"d.created_at FROM chunks c JOIN documents d ON d.id = c.document_id "
                f"WHERE c.rid IN ({marks})"
            )
            convert = rows.chunk
        return {row[0]: convert(row[1:]) for row in cur.execute(sql, list(keys))}


COMMON_SHARE = 0.5
"""A word is common in a profile's transcript when more than this share of its turns hold it
(as the index's ``content`` column, stemmed). Not fitted: "most of the turns"."""


def common_turn_words(cur: Any, query: str) -> set[str]:
    """The words of ``query`` (lower-cased, as written) that more than ``COMMON_SHARE`` of
    the profile's turns hold, read from the keyword index's statistics (``turns_vocab``,
    schema v6); a word counts when each of its index tokens is that common."""
    forms = {w.lower() for w in ranking.WORD.findall(query)}
    if not forms:
        return set()
    stems = {form: tokens(form) for form in forms}
    wanted = sorted(set().union(*stems.values()))
    if not wanted:
        return set()
    (turns,) = cur.execute("SELECT count(*) FROM turns").fetchone()
    if not turns:
        return set()
    marks = ",".join("?" * len(wanted))
    common = {
        term
        for (term,) in cur.execute(
            f"SELECT term FROM turns_vocab WHERE col = 'content' AND term IN ({marks}) AND doc > ?",
            (*wanted, COMMON_SHARE * turns),
        )
    }
    return {form for form, toks in stems.items() if toks and toks <= common}


def _neighbours(
    cur: Any, s: _ScopeSql, where: str, rids: Sequence[int], *, after: bool
) -> list[tuple[int, int]]:
    """``(turn, neighbour)`` pairs: for each of ``rids``, the turns of its session up to
    ``CONTEXT_TURNS`` after it (or before it) that pass the scope's filters ``where``."""
    span = (
        f"h.turn + 1 AND h.turn + {CONTEXT_TURNS}"
        if after
        else f"h.turn - {CONTEXT_TURNS} AND h.turn - 1"
    )
    marks = ",".join("?" * len(rids))
    return cur.execute(
        f"SELECT h.rid, t.rid FROM turns h JOIN turns t ON t.session_id = h.session_id "
        f"AND t.turn BETWEEN {span} WHERE h.rid IN ({marks}) AND {where}",
        (*rids, *s.params),
    ).fetchall()


def _json_path_key(key: str) -> str:
    # Quote the key so dots or brackets in it are not read as path syntax.
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The tokenizer of the keyword indexes (schema v3): word coverage compares the same stems the
# index matches on. Tokenizing needs no database; one private connection serves all profiles.
_TOKENIZER_ARGS = ["unicode61", "remove_diacritics", "2"]


@functools.cache
def _tokenizer() -> apsw.FTS5Tokenizer:
    return apsw.Connection(":memory:").fts5_tokenizer("porter", _TOKENIZER_ARGS)


def tokens(text: str) -> set[str]:
    """The index tokens (stems) of a text, as the keyword indexes see it."""
    return set(
        _tokenizer()(
            text.encode(),
            apsw.FTS5_TOKENIZE_DOCUMENT,
            None,
            include_offsets=False,
            include_colocated=False,
        )
    )


@functools.lru_cache(maxsize=16384)
def _word_tokens(forms: tuple[str, ...]) -> frozenset[str]:
    # Queries reuse a small vocabulary: a cached word costs no tokenizer call.
    return frozenset(tokens(" ".join(forms)))


def query_tokens(query: str) -> list[frozenset[str]]:
    """The query's keyword-search words as index tokens, one set per word (its stem and the
    stems of its other forms), duplicates after stemming dropped."""
    groups = (_word_tokens(forms) for forms in ranking.query_words(query))
    return list(dict.fromkeys(g for g in groups if g))


def item_tokens(scope: str, record: Any) -> set[str]:
    """The index tokens of what the scope's keyword index holds for an item."""
    if scope == Scope.MEMORIES and record.topic:
        return tokens(f"{record.content} {record.topic}")
    return tokens(record.content)
