"""Transcript keyword search: a turn's index entry also holds the words of the turns before it
(schema v5), weighed at half its own, and stays equal to what those turns say now."""

from __future__ import annotations

from pathlib import Path

from memoturn.core import ranking
from memoturn.core.clock import ManualClock
from memoturn.profile.profile import Profile
from memoturn.profile.schema import CONTEXT_TURNS


def _keyword(prof: Profile, query: str, **kw) -> list[str]:  # type: ignore[no-untyped-def]
    hits = prof.recall(query, scopes=["transcript"], mode="keyword", k=20, **kw).results
    return [h.memory.content for h in hits]


def _check_index(prof: Profile) -> None:
    # rank 1: also compare every entry with what the content view gives now.
    prof.db.conn.execute("INSERT INTO turns_fts(turns_fts, rank) VALUES ('integrity-check', 1)")


def test_a_reply_is_found_by_the_words_of_the_turns_before_it(tmp_path: Path, embedder) -> None:
    prof = Profile(tmp_path / "p.db", embedder)
    try:
        prof.append_turn("s1", "user", "Have you been to Lisbon?")
        prof.append_turn("s1", "assistant", "Yes! Last spring, the tarts were amazing")
        prof.append_turns(
            "s1",
            [
                {"role": "user", "content": "Which ones?"},
                {"role": "assistant", "content": "The custard ones, near the river"},
                {"role": "user", "content": "Sounds lovely"},
            ],
        )
        prof.append_turn("s2", "user", "Unrelated chat about the weather")
        # The turn that says it ranks first; the two after it follow; other sessions never.
        found = _keyword(prof, "Lisbon")
        assert found[0] == "Have you been to Lisbon?"
        assert set(found) == {
            "Have you been to Lisbon?",
            "Yes! Last spring, the tarts were amazing",
            "Which ones?",
        }
        # And a turn is found by the words of the turns just after it: the question by its
        # answer, below the answer itself.
        found = _keyword(prof, "tarts")
        assert found[0] == "Yes! Last spring, the tarts were amazing"
        assert "Have you been to Lisbon?" in found
        # A turn appended later holds the turns before it, across appends.
        prof.append_turn("s1", "assistant", "Absolutely")
        found = _keyword(prof, "river")
        assert found[0] == "The custard ones, near the river"
        assert set(found) == {
            "Yes! Last spring, the tarts were amazing",  # two turns before: credited
            "Which ones?",
            "The custard ones, near the river",
            "Sounds lovely",  # two turns after: context
            "Absolutely",
        }
        assert _keyword(prof, "weather") == ["Unrelated chat about the weather"]
        assert "Unrelated chat about the weather" not in _keyword(prof, "Lisbon tarts")
        # Each hit's own words still decide its relevance: a context match holds none.
        hits = {
            h.memory.content: h
            for h in prof.recall("Lisbon", scopes=["transcript"], mode="keyword").results
        }
        assert hits["Have you been to Lisbon?"].relevance > hits["Which ones?"].relevance
        _check_index(prof)
    finally:
        prof.close()


def test_purged_turns_leave_their_neighbours_entries(tmp_path: Path, embedder) -> None:
    """Retention deletes old turns; their words leave the entries of the turns that remain,
    and the index stays equal to the view through appends and deletes in two sessions."""
    clock = ManualClock()
    prof = Profile(tmp_path / "p.db", embedder, clock=clock)
    try:
        for i in range(4):  # interleaved appends to two sessions
            prof.append_turn("a", "user", f"alpha{i} apple")
            prof.append_turn("b", "user", f"beta{i} banana")
        _check_index(prof)
        clock.advance(100)
        prof.append_turn("a", "user", "alpha4 apricot")
        assert "alpha4 apricot" in _keyword(prof, "alpha3")
        # The retention period ends between the first eight turns and the last one.
        prof.retention_s = 50
        assert prof.sweep().count == 8
        _check_index(prof)
        assert _keyword(prof, "alpha3") == []
        assert _keyword(prof, "apple") == []
        assert _keyword(prof, "apricot") == ["alpha4 apricot"]
        prof.append_turn("a", "user", "alpha5 avocado")
        assert _keyword(prof, "apricot") == ["alpha4 apricot", "alpha5 avocado"]
        _check_index(prof)
    finally:
        prof.close()


def test_context_reaches_the_stated_number_of_turns(tmp_path: Path, embedder) -> None:
    prof = Profile(tmp_path / "p.db", embedder)
    try:
        words = [f"word{i}" for i in range(2 * CONTEXT_TURNS + 3)]
        prof.append_turns("s", [{"role": "user", "content": w} for w in words])
        middle = CONTEXT_TURNS + 1
        found = set(_keyword(prof, words[middle]))
        # Its context makes the turns after it match; the credit, the turns before it.
        assert found == set(words[middle - CONTEXT_TURNS : middle + CONTEXT_TURNS + 1])
        _check_index(prof)
    finally:
        prof.close()


def test_credit_earlier_turns_adds_half_the_best_later_match() -> None:
    keyword = [(10, 4.0), (11, 2.0), (20, 1.0)]
    # 11 and 12 come after 10; 9 comes before 10 and 11; 19 before 20.
    earlier = [(10, 9), (11, 10), (11, 9), (20, 19), (20, 18)]
    ranked = ranking.credit_earlier_turns(keyword, earlier, weight=0.5)
    assert dict(ranked) == {10: 5.0, 11: 2.0, 9: 2.0, 20: 1.0, 19: 0.5, 18: 0.5}
    # Best first; a tie keeps the list's order (matched turns before credited ones).
    assert [k for k, _ in ranked] == [10, 11, 9, 20, 19, 18]
    assert ranking.credit_earlier_turns([], earlier) == []
