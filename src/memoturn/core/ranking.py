"""Rank fusion and query shaping for hybrid recall. Pure functions, no I/O."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence

RRF_K = 60
"""The usual reciprocal-rank-fusion constant: rank r contributes ``w / (RRF_K + r)``."""

# Words that carry no topic on their own. Dropped from the keyword query unless nothing else
# is left; BM25's idf would mostly ignore them anyway, but they cost posting-list reads.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "can",
        "could",
        "should",
        "shall",
        "may",
        "might",
        "must",
        "been",
        "being",
        "am",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text: every distinct word, quoted (so no user
    text is ever parsed as FTS syntax), OR-ed. ``None`` when the text has no words."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    unique = list(dict.fromkeys(kept))
    if not unique:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in unique)


@dataclasses.dataclass(slots=True)
class Fused:
    key: int
    score: float
    bm25_rank: int | None = None
    vector_rank: int | None = None
    bm25: float | None = None
    similarity: float | None = None


def fuse(
    keyword: Sequence[tuple[int, float]],
    vector: Sequence[tuple[int, float]],
    *,
    keyword_weight: float = 1.0,
    vector_weight: float = 1.0,
) -> list[Fused]:
    """Reciprocal rank fusion of two ranked lists of ``(key, score)``, best first.

    Each list adds ``weight / (RRF_K + rank)``; an item in only one list keeps that list's
    contribution, so a strong keyword-only hit (a product code the embedder cannot read) is
    never dropped. Ties break on the keyword rank, then the vector rank, then the key.
    """
    out: dict[int, Fused] = {}
    for rank, (key, score) in enumerate(keyword, start=1):
        out[key] = Fused(key, keyword_weight / (RRF_K + rank), bm25_rank=rank, bm25=score)
    for rank, (key, sim) in enumerate(vector, start=1):
        f = out.get(key)
        if f is None:
            f = out[key] = Fused(key, 0.0)
        f.score += vector_weight / (RRF_K + rank)
        f.vector_rank = rank
        f.similarity = sim
    return sorted(
        out.values(),
        key=lambda f: (
            -f.score,
            f.bm25_rank if f.bm25_rank is not None else math.inf,
            f.vector_rank if f.vector_rank is not None else math.inf,
            f.key,
        ),
    )


def recency_factor(age_s: float, half_life_s: float, weight: float) -> float:
    """Multiplier in ``[1 - weight, 1]``: 1 for a brand-new item, halfway down after one
    half-life. ``weight`` 0 turns recency off."""
    decay = 0.5 ** (max(age_s, 0.0) / half_life_s)
    return 1.0 - weight + weight * decay
