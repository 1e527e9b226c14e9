"""Hybrid recall: keyword hits survive fusion, paraphrases are found, filters apply first."""

from __future__ import annotations

import random

import pytest

from memoturn import InvalidInput

SUBJECTS = ["The team", "Our client", "My manager", "The vendor", "A colleague", "The user"]
VERBS = ["prefers", "asked about", "mentioned", "scheduled", "cancelled", "reviewed"]
OBJECTS = [
    "the quarterly report",
    "a meeting on Friday",
    "the new laptop",
    "lunch options",
    "the travel budget",
    "a code review",
    "the onboarding plan",
    "weekend hiking",
    "the marketing launch",
    "database backups",
    "the holiday party",
    "coffee beans",
]


def _filler(n: int, seed: int = 7) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    return [
        {
            "type": "fact",
            "content": f"{rnd.choice(SUBJECTS)} {rnd.choice(VERBS)} {rnd.choice(OBJECTS)} "
            f"(note {i})",
        }
        for i in range(n)
    ]


@pytest.mark.slow
def test_rare_product_code_found_among_thousands(profile) -> None:
    items = _filler(3000)
    items.insert(1777, {"type": "fact", "content": "Order ZX-9000 shipped with a cracked case"})
    for start in range(0, len(items), 1000):
        profile.ingest_many(items[start : start + 1000])
    hits = profile.recall("ZX-9000", k=5).results
    assert hits[0].memory.content.startswith("Order ZX-9000")
    assert hits[0].why.bm25_rank == 1
    keyword = profile.recall("ZX-9000", k=5, mode="keyword").results
    assert keyword[0].memory.content.startswith("Order ZX-9000")


def test_paraphrase_found_by_meaning(profile) -> None:
    profile.ingest_many(_filler(200))
    profile.ingest("preference", "Alice is allergic to peanuts", topic="allergy")
    hits = profile.recall("which nuts must she avoid eating?", k=3).results
    assert hits[0].memory.content == "Alice is allergic to peanuts"
    assert hits[0].why.vector_rank == 1
    assert hits[0].why.similarity is not None and hits[0].why.similarity > 0.3


def test_filters_apply_before_ranking(profile) -> None:
    profile.ingest_many(_filler(100))
    profile.ingest(
        "instruction", "Always answer in French", source="planner", metadata={"lang": "fr"}
    )
    profile.ingest("instruction", "Always answer briefly", source="writer", metadata={"lang": "en"})
    only = profile.recall("quarterly report", types=["instruction"], k=10).results
    assert {h.memory.type for h in only} == {"instruction"} and len(only) == 2
    by_source = profile.recall("answer", source="planner").results
    assert [h.memory.content for h in by_source] == ["Always answer in French"]
    by_meta = profile.recall("answer", metadata={"lang": "en"}).results
    assert [h.memory.content for h in by_meta] == ["Always answer briefly"]


def test_why_and_modes(profile) -> None:
    profile.ingest("fact", "Quokkas live on Rottnest Island")
    profile.ingest("fact", "The meeting moved to Tuesday")
    hybrid = profile.recall("quokkas island", k=2).results[0]
    assert hybrid.why.bm25_rank == 1 and hybrid.why.vector_rank == 1
    assert hybrid.why.bm25 is not None and hybrid.why.bm25 > 0
    vec = profile.recall("quokkas island", k=2, mode="vector").results[0]
    assert vec.why.bm25_rank is None and vec.why.vector_rank == 1
    kw = profile.recall("quokkas", mode="keyword").results
    assert len(kw) == 1 and kw[0].why.vector_rank is None


def test_recency_weighting_prefers_newer(profile, clock) -> None:
    profile.ingest("event", "Went running in the park")
    clock.advance(30 * 86400)
    profile.ingest("event", "Went running by the river")
    plain = profile.recall("running", k=2, mode="keyword").results
    recent = profile.recall(
        "running", k=2, mode="keyword", recency_half_life_s=86400, recency_weight=0.9
    ).results
    assert recent[0].memory.content == "Went running by the river"
    assert recent[0].why.recency is not None and recent[0].why.recency > recent[1].why.recency
    assert {h.memory.content for h in plain} == {h.memory.content for h in recent}


def test_scopes_transcript_and_documents(profile) -> None:
    profile.append_turn("s1", "user", "My flight to Osaka leaves at 7am")
    profile.add_document(
        "The Osaka office opens at nine. Visitors sign in at reception.", title="Office"
    )
    profile.ingest("fact", "Osaka is in Japan")
    hits = profile.recall("Osaka", scopes=["memories", "transcript", "documents"], k=10).results
    assert {h.scope for h in hits} == {"memories", "transcript", "documents"}
    turn = next(h for h in hits if h.scope == "transcript").memory
    assert turn.session_id == "s1" and turn.turn == 1
    chunk = next(h for h in hits if h.scope == "documents").memory
    assert chunk.title == "Office"
    assert all(h.scope == "memories" for h in profile.recall("Osaka").results)


@pytest.mark.parametrize(
    "options",
    [
        {"k": 0},
        {"k": 10_000},
        {"types": ["nope"]},
        {"types": []},
        {"scopes": ["everything"]},
        {"as_of": "yesterday"},
        {"metadata": {"a": {"b": 1}}},
        {"mode": "magic"},
        {"recency_half_life_s": -1},
    ],
)
def test_bad_recall_options(profile, options) -> None:
    with pytest.raises(InvalidInput):
        profile.recall("x", **options)


def test_query_text_is_never_fts_syntax(profile) -> None:
    profile.ingest("fact", 'He said "NEAR(a b)" AND OR NOT * ^ - :')
    for q in ['"', "NEAR(", "AND", "*", "a:b", "(((", "-x", "^"]:
        profile.recall(q)  # must not raise
    assert profile.recall("NEAR(a b)", mode="keyword").results


# -- stemming -----------------------------------------------------------------------------


def test_keyword_recall_matches_inflections_in_every_scope(profile) -> None:
    """The keyword indexes stem with Porter: "painting" finds "painted" and "paints"."""
    profile.ingest("fact", "Melanie painted a sunrise over the lake")
    profile.append_turn("s1", "user", "She paints every weekend")
    profile.add_document("The club organises painting classes in spring.", title="Hobbies")
    for scope, found in [
        ("memories", "Melanie painted a sunrise over the lake"),
        ("transcript", "She paints every weekend"),
        ("documents", "The club organises painting classes in spring."),
    ]:
        hits = profile.recall("painting", scopes=[scope], mode="keyword").results
        assert [h.memory.content for h in hits] == [found], scope
    # An irregular verb matches its other forms, which no suffix stemmer relates.
    profile.ingest("fact", "Caroline bought a used car")
    hits = profile.recall("what did caroline buy", mode="keyword").results
    assert [h.memory.content for h in hits] == ["Caroline bought a used car"]


def test_keyword_recall_skips_history_however_much_of_it_ranks_first(profile) -> None:
    """Superseded memories that outrank every current one in BM25 (short texts) are still
    filtered out, and the current ones fill the k hits."""
    profile.ingest_many(
        [{"type": "fact", "content": f"coffee {i}", "topic": "order"} for i in range(40)]
    )
    current = [
        f"We bought coffee beans from farm number {i} in the hills last week" for i in range(12)
    ]
    profile.ingest_many([{"type": "fact", "content": c} for c in current])
    history = profile.recall("coffee", k=10, mode="keyword", include_history=True).results
    assert all(h.memory.content.startswith("coffee ") for h in history)  # history ranks first
    hits = profile.recall("coffee", k=10, mode="keyword").results
    assert len(hits) == 10 and all(h.memory.valid_to is None for h in hits)
    hits = profile.recall("coffee", k=20, mode="keyword").results
    assert sorted(h.memory.content for h in hits) == sorted([*current, "coffee 39"])
    hits = profile.recall("coffee", k=20, mode="hybrid").results
    assert all(h.memory.valid_to is None for h in hits)
