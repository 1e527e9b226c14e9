"""Score fusion and query shaping for hybrid recall. Pure functions, no I/O."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence, Set

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
WORD = re.compile(r"\w+", re.UNICODE)
"""A word of a query, as keyword search splits it."""

# Irregular verbs: a question asks "what did she buy?", the transcript says "I bought".
# Each form of a group also matches the others. Groups of stopwords (be, do, have) are left out.
_IRREGULAR_VERBS = """
begin began begun; bite bit bitten; blow blew blown; break broke broken; bring brought;
build built; buy bought; catch caught; choose chose chosen; come came; dig dug; draw drew drawn;
drink drank drunk; drive drove driven; eat ate eaten; fall fell fallen; feed fed; feel felt;
fight fought; find found; fly flew flown; forget forgot forgotten; forgive forgave forgiven;
freeze froze frozen; get got gotten; give gave given; go went gone; grow grew grown;
hang hung; hear heard; hide hid hidden; hold held; keep kept; know knew known; lead led;
leave left; lend lent; lose lost; make made; mean meant; meet met; pay paid; ride rode ridden;
rise rose risen; run ran; say said; see saw seen; sell sold; send sent; shake shook shaken;
shoot shot; sing sang sung; sit sat; sleep slept; speak spoke spoken; spend spent; stand stood;
steal stole stolen; swim swam swum; take took taken; teach taught; tear tore torn; tell told;
think thought; throw threw thrown; wake woke woken; wear wore worn; win won; write wrote written
"""
_OTHER_FORMS: dict[str, tuple[str, ...]] = {
    form: tuple(f for f in group.split() if f != form)
    for group in _IRREGULAR_VERBS.split(";")
    for form in group.split()
}


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text, OR-ing one term per distinct word.

    Every word is quoted, so no user text is ever parsed as FTS syntax. Stemming is the
    index's: the schema's ``porter`` tokenizer stems the indexed text and these query words
    alike, so "painting" finds "painted". An irregular verb also matches its other forms,
    which no suffix stemmer relates ("buy" finds "bought"). Stopwords are dropped unless
    nothing else is left. ``None`` when the text has no words.
    """
    terms = [_quoted(form) for group in query_words(text) for form in group]
    if not terms:
        return None
    return " OR ".join(dict.fromkeys(terms))


def query_words(text: str) -> list[tuple[str, ...]]:
    """The distinct words of a query that keyword search looks for, each with the other
    forms it also matches (irregular verbs): stopwords dropped unless nothing else is left."""
    words = [w.lower() for w in WORD.findall(text)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    return [(word, *_OTHER_FORMS.get(word, ())) for word in dict.fromkeys(kept)]


KEYWORD_WEIGHT = 0.5
"""Share of the fused score that comes from BM25; the rest comes from cosine similarity."""

KEYWORD_CONTEXT_WEIGHT = 0.5
"""What a query word found in a transcript turn's neighbours (the index's ``context`` column)
counts for in BM25, against 1 for a word of the turn itself: half, so a turn that says it
outranks a turn next to one that does."""


def credit_earlier_turns(
    keyword: Sequence[tuple[int, float]],
    earlier: Iterable[tuple[int, int]],
    *,
    weight: float = KEYWORD_CONTEXT_WEIGHT,
) -> list[tuple[int, float]]:
    """A transcript keyword list ``(key, bm25)`` in which each turn also scores ``weight``
    times the best BM25 of the turns just after it that matched: ``earlier`` pairs a matched
    turn's key with the key of a turn before it. The mirror of the index's context column
    (a turn holds the words of the turns before it): a question is found by the words of its
    answer ("Lisbon? ... Yes, the tarts were amazing" for "tarts"). Best first, ties in the
    list's order."""
    own = dict(keyword)
    credit: dict[int, float] = {}
    for later, key in earlier:
        if later in own:
            credit[key] = max(credit.get(key, 0.0), own[later])
    order = {key: i for i, key in enumerate([*own, *(k for k in credit if k not in own)])}
    scores = {key: own.get(key, 0.0) + weight * credit.get(key, 0.0) for key in order}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def without_words(text: str, drop: Set[str]) -> str:
    """``text`` without the words (case-insensitive) in ``drop``, spaces tidied; ``text``
    itself when nothing would be left."""
    if not drop:
        return text
    kept = WORD.sub(lambda m: "" if m.group(0).lower() in drop else m.group(0), text)
    kept = re.sub(r"\s+", " ", kept).strip()
    return kept if WORD.search(kept) else text


def credit_next_turns(
    cosine: Mapping[int, float],
    later: Iterable[tuple[int, int]],
    *,
    weight: float = KEYWORD_CONTEXT_WEIGHT,
) -> dict[int, float]:
    """Each turn's cosine plus ``weight`` times the best (positive) cosine of the turns just
    after it: ``later`` pairs a turn's key with the key of a turn after it, ``cosine`` holds
    the cosine of every key. The vector mirror of :func:`credit_earlier_turns`: a question
    ("Have you been to Lisbon?") is found by the meaning of its answer."""
    best: dict[int, float] = {}
    for key, after in later:
        if after in cosine:
            best[key] = max(best.get(key, 0.0), cosine[after])
    return {key: sim + weight * max(best.get(key, 0.0), 0.0) for key, sim in cosine.items()}


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
    similarity: Mapping[int, float] | None = None,
    keyword_weight: float = KEYWORD_WEIGHT,
) -> list[Fused]:
    """Score fusion of a keyword list ``(key, bm25)`` and a vector list ``(key, cosine)``,
    both best first (BM25 here is higher-is-better).

    Each candidate scores ``w * bm25 / best_bm25 + (1 - w) * max(cosine, 0) / best_cosine``:
    each signal is scaled so that this query's best hit is 1 and "no evidence" is 0 (no
    keyword match; a cosine of 0 or below). ``similarity`` holds the cosine of keyword
    candidates missing from the vector list, so a keyword hit keeps its vector evidence
    however deep it lies (a vector hit outside the keyword list matches few or no query
    words, and gets no keyword share).

    Scores, unlike ranks, keep how far the top hits stand above the rest: the best keyword
    hit outranks every item that matches no keyword (it has ``w`` or more, they have at most
    ``1 - w``, and ties go to it), so a product code the embedder cannot read is never
    drowned; an item both signals rate well rises above either list's top. Ties break on the
    keyword rank, then the vector rank, then the key.
    """
    out: dict[int, Fused] = {}
    for rank, (key, score) in enumerate(keyword, start=1):
        out[key] = Fused(key, 0.0, bm25_rank=rank, bm25=score)
    for rank, (key, sim) in enumerate(vector, start=1):
        f = out.setdefault(key, Fused(key, 0.0))
        f.vector_rank, f.similarity = rank, sim
    for key, sim in (similarity or {}).items():
        if key in out and out[key].similarity is None:
            out[key].similarity = sim
    best_bm25 = max((f.bm25 for f in out.values() if f.bm25 is not None), default=0.0)
    best_sim = max((f.similarity for f in out.values() if f.similarity is not None), default=0.0)
    for f in out.values():
        if f.bm25 is not None and best_bm25 > 0:
            f.score += keyword_weight * max(f.bm25, 0.0) / best_bm25
        if f.similarity is not None and best_sim > 0:
            f.score += (1.0 - keyword_weight) * max(f.similarity, 0.0) / best_sim
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


# -- calibrated relevance -----------------------------------------------------------------------
#
# The fused score says how a hit ranks against the other hits of the same query (this query's
# best hit gets about 1 whatever it is); relevance says how likely a hit is to be what the
# query asks for, from that hit's own evidence alone: the cosine of the query and the item,
# and which of the query's keyword-search words the item holds. Neither depends on the rest
# of the profile (BM25 would: its idf moves as memories are added), so the same (query,
# item) pair always gets the same relevance.
#
# Logistic models, fitted offline by `memoturn eval relevance --fit` on the fit half of the
# labelled set in memoturn/bench/relevance_data.py (written for Memoturn; not LoCoMo): each
# related question's own memory (label 1) and every other hit of the top 10 that recall
# returns for the related and the unrelated questions (label 0). So relevance reads as "the
# share of hits like this one that were the memory the question was after". Refit and paste
# the printed coefficients here when the embedder or the keyword query changes.
#
# With a cosine, the keyword evidence is "the item holds every query word": the share of
# words held, fitted beside the cosine, got a negative weight (a hit sharing a generic word
# such as "favourite" but not the subject is a typical wrong hit, and shared words already
# raise the cosine), while holding them all (a name, a code) is evidence the embedder misses.

RELEVANCE_MODEL = (-9.145, 20.505, 5.652)
"""(intercept, cosine weight, all-words weight) of the model used when the hit has a cosine
(hybrid and vector recall). Fitted with `memoturn eval relevance --fit`."""

RELEVANCE_WORDS_MODEL = (-5.549, 8.598)
"""(intercept, word-coverage weight) of the model used without a cosine: keyword-only
recall, and items whose embedding is still pending. Fitted on keyword recall's hits."""

RECOMMENDED_MIN_SCORE = 0.16
"""The ``min_score`` the docs recommend: chosen on the fit half as the threshold with the
highest (share of unrelated questions answered with nothing + share of related questions
that still find their memory in the top 10); see docs/benchmarks.md for both shares on the
report half."""


def coverage(words: Sequence[frozenset[str]], item_tokens: Set[str]) -> float:
    """The share of the query's words (each a set of equivalent index tokens: its stem and
    those of its other forms) that occur among the item's index tokens; 0 for no words."""
    if not words:
        return 0.0
    return sum(1 for forms in words if not forms.isdisjoint(item_tokens)) / len(words)


def relevance(
    similarity: float | None,
    word_coverage: float,
    *,
    model: Sequence[float] = RELEVANCE_MODEL,
    words_model: Sequence[float] = RELEVANCE_WORDS_MODEL,
) -> float:
    """Calibrated relevance in [0, 1] of one hit, from its own evidence: the cosine of query
    and item (``None`` when the item has no embedding or the query was not embedded) and
    its word coverage (:func:`coverage`). The models default to the fitted ones."""
    if similarity is None:
        b0, b_cov = words_model
        z = b0 + b_cov * word_coverage
    else:
        b0, b_sim, b_all = model
        z = b0 + b_sim * similarity + b_all * (word_coverage >= 1.0)
    return 1.0 / (1.0 + math.exp(-z))
