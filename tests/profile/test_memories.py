"""Typed memories: ingest, idempotency, supersession, history, forget."""

from __future__ import annotations

import pytest

from memoturn import Conflict, InvalidInput, NotFound, TooLarge
from memoturn.core import limits


def maintenance(handle, fn):  # type: ignore[no-untyped-def]
    """Run an engine-internal maintenance call (not on the public handle) on the branch."""
    return handle._engine._run(handle.key, fn)


def test_diet_story(profile) -> None:
    first = profile.ingest("preference", "Alice is vegetarian", topic="diet")
    assert not first.duplicate and first.superseded == []

    hits = profile.recall("what should I cook tonight?").results
    assert hits and hits[0].memory.content == "Alice is vegetarian"

    second = profile.ingest("preference", "Alice is vegan", topic="diet")
    assert second.superseded == [first.memory.id]
    assert second.txid == first.txid + 1

    contents = [h.memory.content for h in profile.recall("what should I cook tonight?").results]
    assert contents == ["Alice is vegan"]

    history = profile.topic_history("diet").versions
    assert [m.content for m in history] == ["Alice is vegetarian", "Alice is vegan"]
    assert history[0].valid_to == history[1].valid_from
    assert history[0].superseded_by == second.memory.id
    assert history[1].valid_to is None

    again = profile.ingest("preference", "alice is   VEGAN", topic="diet")
    assert again.duplicate and again.memory.id == second.memory.id
    assert again.txid == second.txid  # nothing was written
    assert len(profile.list_memories(include_history=True).memories) == 2


def test_duplicate_without_topic_and_distinct_types(profile) -> None:
    a = profile.ingest("fact", "The office is in Lyon")
    b = profile.ingest("fact", "the office is in lyon ")
    c = profile.ingest("event", "The office is in Lyon")
    assert b.duplicate and b.memory.id == a.memory.id
    assert not c.duplicate
    assert profile.txid == 2


def test_idempotency_key_returns_first_answer(profile) -> None:
    first = profile.ingest("fact", "Bob likes tea", topic="drink", idempotency_key="req-1")
    profile.ingest("fact", "Bob likes coffee", topic="drink")  # supersedes the first
    retry = profile.ingest("fact", "Bob likes tea", topic="drink", idempotency_key="req-1")
    assert retry.memory.id == first.memory.id
    assert retry.txid == first.txid and not retry.duplicate
    assert profile.txid == 2
    with pytest.raises(Conflict):
        profile.ingest("fact", "Bob likes milk", idempotency_key="req-1")


def test_as_of_and_include_history(profile, clock) -> None:
    profile.ingest("fact", "Carol lives in Paris", topic="home")
    t_paris = clock.now()
    clock.advance(100)
    profile.ingest("fact", "Carol lives in Berlin", topic="home")
    now = [h.memory.content for h in profile.recall("where does Carol live").results]
    assert now == ["Carol lives in Berlin"]
    past = profile.recall("where does Carol live", as_of=t_paris + 1).results
    assert [h.memory.content for h in past] == ["Carol lives in Paris"]
    both = profile.recall("where does Carol live", include_history=True).results
    assert {h.memory.content for h in both} == {"Carol lives in Paris", "Carol lives in Berlin"}


def test_forget_keeps_tombstone(profile) -> None:
    m = profile.ingest("fact", "Dan's PIN is 1234", topic="pin").memory
    w = profile.forget(m.id, reason="sensitive")
    assert w.count == 1
    assert profile.recall("PIN").results == []
    tomb = profile.get_memory(m.id).memory
    assert tomb.valid_to is not None and tomb.forgotten_reason == "sensitive"
    assert profile.topic_history("pin").versions[0].forgotten_reason == "sensitive"
    again = profile.forget(m.id)
    assert again.count == 0 and again.txid == w.txid
    with pytest.raises(NotFound):
        profile.forget("01NOTANID")


def test_batch_is_one_transaction(profile) -> None:
    results = profile.ingest_many(
        [
            {"type": "fact", "content": "one"},
            {"type": "fact", "content": "two"},
            {"type": "fact", "content": "one"},
        ]
    ).results
    assert {r.txid for r in results} == {1}
    assert [r.duplicate for r in results] == [False, False, True]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"type": "opinion", "content": "x"}, InvalidInput),
        ({"type": "fact", "content": ""}, InvalidInput),
        ({"type": "fact", "content": "   "}, InvalidInput),
        ({"type": "fact", "content": 42}, InvalidInput),
        ({"type": "fact", "content": "x" * (limits.MAX_MEMORY_CONTENT_BYTES + 1)}, TooLarge),
        ({"type": "fact", "content": "é" * (limits.MAX_MEMORY_CONTENT_BYTES // 2 + 1)}, TooLarge),
        ({"type": "fact", "content": "x", "metadata": [1]}, InvalidInput),
        ({"type": "fact", "content": "x", "metadata": {"a": "b" * 9000}}, TooLarge),
        ({"type": "fact", "content": "x", "metadata": {"a": float("nan")}}, InvalidInput),
        ({"type": "fact", "content": "x", "ttl_s": 0}, InvalidInput),
        ({"type": "fact", "content": "x", "ttl_s": 1.5}, InvalidInput),
        ({"type": "fact", "content": "x", "ttl_s": True}, InvalidInput),
        ({"type": "fact", "content": "x", "topic": ""}, InvalidInput),
        ({"type": "fact", "content": "x", "topic": "t" * 300}, TooLarge),
        ({"type": "fact", "content": "x", "colour": "red"}, InvalidInput),
        ({"type": "fact", "content": "a\x00b"}, InvalidInput),
        ({"content": "x"}, InvalidInput),
    ],
)
def test_bad_input_is_rejected_and_changes_nothing(profile, fields, error) -> None:
    profile.ingest("fact", "existing")
    before = (profile.txid, profile.list_memories(include_history=True).memories)
    with pytest.raises(error):
        profile.ingest_many([fields])
    assert (profile.txid, profile.list_memories(include_history=True).memories) == before


def test_one_bad_item_rejects_the_batch(profile) -> None:
    with pytest.raises(InvalidInput, match=r"items\[1\]"):
        profile.ingest_many([{"type": "fact", "content": "ok"}, {"type": "nope", "content": "x"}])
    assert profile.txid == 0 and profile.list_memories().memories == []


def test_ttl_expiry_hides_then_sweeper_purges(profile, clock) -> None:
    m = profile.ingest("fact", "The door code is 4242 today", ttl_s=60).memory
    assert profile.get_memory(m.id).memory.expires_at == pytest.approx(clock.now() + 60)
    clock.advance(61)
    with pytest.raises(NotFound):
        profile.get_memory(m.id)
    assert profile.recall("door code").results == []
    assert profile.list_memories().memories == []
    assert maintenance(profile, lambda p: p.sweep()).count == 1
    assert maintenance(profile, lambda p: p.sweep()).count == 0


def test_deferred_embedding(profile) -> None:
    results = profile.ingest_many(
        [
            {"type": "fact", "content": "Alice is allergic to peanuts"},
            {"type": "fact", "content": "x"},
        ],
        defer_embedding=True,
    ).results
    assert maintenance(profile, lambda p: p.pending_embeddings()) == 2
    assert profile.recall("peanuts", mode="keyword").results  # keyword-recallable at once
    assert profile.recall("which nuts must she avoid?", mode="vector").results == []
    assert maintenance(profile, lambda p: p.embed_pending()) == 2
    assert profile.txid == results[0].txid + 1
    assert (
        maintenance(profile, lambda p: p.pending_embeddings()) == 0
        and maintenance(profile, lambda p: p.embed_pending()) == 0
    )
    hit = profile.recall("which nuts must she avoid?", mode="vector").results[0]
    assert hit.memory.content == "Alice is allergic to peanuts"


def test_valid_from_backdates_when_a_memory_became_true(profile, clock) -> None:
    three_weeks_ago = clock.now() - 21 * 86400
    old = profile.ingest(
        "preference", "Dan is vegetarian", topic="diet", valid_from=three_weeks_ago
    )
    assert old.memory.valid_from == three_weeks_ago
    assert old.memory.created_at == clock.now()  # the write itself is not backdated
    as_then = profile.recall("what does Dan eat?", as_of=three_weeks_ago + 1).results
    assert [h.memory.content for h in as_then] == ["Dan is vegetarian"]
    assert profile.recall("what does Dan eat?", as_of=three_weeks_ago - 1).results == []

    a_week_ago = clock.now() - 7 * 86400
    new = profile.ingest("preference", "Dan is vegan", topic="diet", valid_from=a_week_ago)
    first, second = profile.topic_history("diet").versions
    assert first.valid_to == second.valid_from == a_week_ago  # the old version ends then
    assert first.superseded_by == new.memory.id
    two_weeks_ago = [
        h.memory.content for h in profile.recall("diet", as_of=a_week_ago - 86400).results
    ]
    assert two_weeks_ago == ["Dan is vegetarian"]
    # ISO strings are accepted too; omitted means now.
    iso_from = profile.ingest("fact", "Dan lives in Porto", valid_from="2020-01-01T00:00:00Z")
    assert iso_from.memory.valid_from == 1577836800.0


def test_a_bad_valid_from_is_refused_and_changes_nothing(profile, clock) -> None:
    profile.ingest("preference", "Eve likes tea", topic="drink", valid_from=clock.now() - 100)
    before = profile.txid
    cases = [
        (clock.now() + 60, "valid_from is in the future"),
        (clock.now() - 200, "valid_from is before the current memory on topic 'drink'"),
        ("last tuesday", "valid_from is not an ISO-8601 timestamp"),
        (True, "valid_from must be a timestamp"),
        (float("nan"), "valid_from must be finite"),
    ]
    for value, message in cases:
        with pytest.raises(InvalidInput) as e:
            profile.ingest("preference", "Eve likes coffee", topic="drink", valid_from=value)
        assert e.value.message.startswith(message)
    assert profile.txid == before
    assert [m.content for m in profile.topic_history("drink").versions] == ["Eve likes tea"]
