"""Transcript recall's vector side: the query is embedded without the words most of the
profile's turns hold (schema v6's `turns_vocab`), and a turn is credited half the best cosine
of the two turns after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoturn.core import ranking
from memoturn.profile.profile import Profile
from memoturn.profile.recall import common_turn_words


def test_without_words_drops_whole_words_case_blind() -> None:
    assert ranking.without_words("What did Caroline research?", {"caroline"}) == (
        "What did research?"
    )
    assert ranking.without_words("Carolines car", {"caroline"}) == "Carolines car"
    # Nothing left: the query as it was.
    assert ranking.without_words("Caroline?", {"caroline"}) == "Caroline?"
    assert ranking.without_words("anything", set()) == "anything"


def test_credit_next_turns_adds_half_the_best_later_cosine() -> None:
    cosine = {1: 0.2, 2: 0.8, 3: 0.1, 4: -0.3}
    credited = ranking.credit_next_turns(cosine, [(1, 2), (1, 3), (3, 4)])
    assert credited == pytest.approx({1: 0.6, 2: 0.8, 3: 0.1, 4: -0.3})


def _chat(prof: Profile) -> None:
    prof.append_turns(
        "s1",
        [
            {"role": "user", "content": "Ann: Have you been to Lisbon?"},
            {"role": "assistant", "content": "Bob: Yes, Ann, the custard tarts were amazing"},
            {"role": "user", "content": "Ann: I am repainting my kitchen this weekend"},
            {"role": "assistant", "content": "Bob: Which colour, Ann?"},
            {"role": "user", "content": "Ann: A pale green, like sage"},
        ],
    )


def test_common_words_come_from_the_profile_and_follow_deletes(tmp_path: Path, embedder) -> None:
    prof = Profile(tmp_path / "p.db", embedder)
    try:
        _chat(prof)
        with prof.db.read() as cur:
            # "Ann" is in all five turns, "Bob" in two of five, "tarts" in one.
            assert common_turn_words(cur, "Did Ann and Bob like the tarts?") == {"ann"}
            assert common_turn_words(cur, "?!") == set()
        # The statistics are the index's own: deleting turns changes them at once.
        prof.db.conn.execute("DELETE FROM turns WHERE content LIKE 'Ann: %'")
        with prof.db.read() as cur:
            assert common_turn_words(cur, "Did Ann and Bob like the tarts?") == {"ann", "bob"}
        prof.db.conn.execute("INSERT INTO turns_fts(turns_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        prof.close()


def test_a_question_is_found_by_the_meaning_of_its_answer(tmp_path: Path, embedder) -> None:
    prof = Profile(tmp_path / "p.db", embedder)
    question, answer = "Have you been to Lisbon?", "Yes, the custard tarts were amazing"
    other = "I am repainting my kitchen this weekend"
    try:
        prof.append_turn("s1", "user", question)
        prof.append_turn("s1", "assistant", answer)
        prof.append_turn("s2", "user", other)
        hits = prof.recall("pastries", scopes=["transcript"], mode="vector").results
        query = embedder.embed_query("pastries")
        # What each turn was embedded as: itself, then the turn before it. Stored as float16,
        # so the cosines recall reads are within 1e-3 of these.
        texts = {question: question, answer: f"{answer}\n{question}", other: other}
        own = {t: float(query @ embedder.embed([x])[0]) for t, x in texts.items()}
        credited = {**own, question: own[question] + 0.5 * own[answer]}
        best = max(credited.values())
        assert {h.memory.content: h.score for h in hits} == pytest.approx(
            {t: c / best for t, c in credited.items()}, abs=1e-3
        )
        # A hit reports its own cosine, not the credited one.
        assert {h.memory.content: h.why.similarity for h in hits} == pytest.approx(own, abs=1e-3)
    finally:
        prof.close()
