"""Calibrated relevance and ``min_score``: an unrelated query can come back empty, and a
hit's relevance depends on that hit alone (real embedder)."""

from __future__ import annotations

import math

import pytest

from memoturn import InvalidInput
from memoturn.core import ranking
from memoturn.core.ranking import RECOMMENDED_MIN_SCORE

FACTS = [
    "Alice is allergic to peanuts",
    "Alice's cat is named Miso",
    "Alice works night shifts as a nurse in Leeds",
    "Alice prefers the window seat on trains",
    "Alice is learning to play the banjo",
    "Alice's brother Tomasz lives in Gdansk",
]


def _fill(profile, facts=FACTS) -> None:  # type: ignore[no-untyped-def]
    profile.ingest_many([{"type": "fact", "content": f} for f in facts])


def test_unrelated_query_comes_back_empty_at_the_recommended_threshold(profile) -> None:
    _fill(profile)
    unrelated = "What is the capital of Australia?"
    hits = profile.recall(unrelated).results
    # Without min_score the best hit still gets a high fused score: scores are relative.
    assert len(hits) == len(FACTS) and hits[0].score >= 0.5
    assert all(0 <= h.relevance < RECOMMENDED_MIN_SCORE for h in hits)
    assert profile.recall(unrelated, min_score=RECOMMENDED_MIN_SCORE).results == []

    found = profile.recall("which nuts must she avoid?", min_score=RECOMMENDED_MIN_SCORE)
    assert [h.memory.content for h in found.results][:1] == ["Alice is allergic to peanuts"]
    assert all(h.relevance >= RECOMMENDED_MIN_SCORE for h in found.results)


def test_min_score_keeps_hits_at_or_above_it_only(profile) -> None:
    _fill(profile)
    every = profile.recall("where does her brother live?").results
    for threshold in (0.0, every[0].relevance, 1.0):
        kept = profile.recall("where does her brother live?", min_score=threshold).results
        assert [h.memory.id for h in kept] == [
            h.memory.id for h in every if h.relevance >= threshold
        ]
    assert every[0].memory.content == "Alice's brother Tomasz lives in Gdansk"


def test_relevance_depends_on_the_hit_alone(engine) -> None:
    engine.create_namespace("acme")
    for name in ("small", "big"):
        engine.create_profile("acme", name)
    small, big = engine.profile("acme", "small"), engine.profile("acme", "big")
    target = "Alice's cat is named Miso"
    small.ingest("fact", target)
    _fill(big, [*FACTS, "Bob's cat is named Pixel", "The office cat sleeps on the printer"])
    big.ingest_many([{"type": "fact", "content": f"Meeting note {i}: budget"} for i in range(50)])
    for mode in ("hybrid", "keyword", "vector"):
        alone = small.recall("what is the cat called", mode=mode).results
        among = big.recall("what is the cat called", mode=mode, k=50).results
        mine = [h for h in among if h.memory.content == target]
        assert len(alone) == 1 and len(mine) == 1
        assert mine[0].relevance == pytest.approx(alone[0].relevance, abs=1e-6), mode
        # The fused score moves with the company the hit keeps; relevance does not.
        assert alone[0].score == pytest.approx(1.0)


def test_a_code_the_embedder_cannot_read_keeps_its_relevance_from_the_words(profile) -> None:
    _fill(profile)
    profile.ingest("fact", "Order ZX-9000 shipped with a cracked case")
    for mode in ("hybrid", "keyword"):
        hits = profile.recall("ZX-9000", mode=mode, min_score=RECOMMENDED_MIN_SCORE).results
        assert [h.memory.content for h in hits] == ["Order ZX-9000 shipped with a cracked case"]
    # Keyword-only recall has no cosine: relevance comes from the words model alone.
    hit = profile.recall("ZX-9000", mode="keyword").results[0]
    assert hit.why.similarity is None
    assert hit.relevance == pytest.approx(ranking.relevance(None, 1.0))


def test_transcript_and_document_hits_carry_relevance(profile) -> None:
    profile.open_session("chat-1")
    profile.append_turn("chat-1", "user", "Remind me to call the plumber about the boiler")
    profile.add_document("Boiler manual. Bleed the radiators once a year.", title="Boiler")
    hits = profile.recall("boiler", scopes=["transcript", "documents"]).results
    assert {h.scope for h in hits} == {"transcript", "documents"}
    assert all(0 < h.relevance < 1 for h in hits)
    assert profile.recall("capital of Peru", scopes=["transcript", "documents"],
                          min_score=RECOMMENDED_MIN_SCORE).results == []  # fmt: skip


@pytest.mark.parametrize(
    "bad", [-0.01, 1.01, 2, math.nan, math.inf, True, False, "0.5", [0.5], {"x": 1}]
)
def test_min_score_must_be_a_number_between_0_and_1(profile, bad) -> None:
    _fill(profile)
    with pytest.raises(InvalidInput, match="min_score must be a number between 0 and 1"):
        profile.recall("cat", min_score=bad)


def test_relevance_model_is_a_probability() -> None:
    for sim in (None, -1.0, 0.0, 0.3, 1.0):
        for cov in (0.0, 0.5, 1.0):
            assert 0.0 < ranking.relevance(sim, cov) < 1.0
    assert ranking.relevance(0.8, 0.0) > ranking.relevance(0.2, 0.0)
    assert ranking.relevance(0.2, 1.0) > ranking.relevance(0.2, 0.5)
    assert ranking.relevance(None, 1.0) > ranking.relevance(None, 0.5)
