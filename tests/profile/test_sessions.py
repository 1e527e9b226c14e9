"""Sessions: transcript order, task expiry, end deletes tasks in one transaction."""

from __future__ import annotations

import pytest

from memoturn import Conflict, InvalidInput, NotFound, TooLarge
from memoturn.core import limits


def test_transcript_in_order_verbatim(profile) -> None:
    session, _ = profile.open_session("chat-1")
    assert session.task_ttl_s == limits.DEFAULT_TASK_TTL_S
    text = "  Hello,\n\tworld!  😀 "
    profile.append_turn("chat-1", "user", text, name="alice", metadata={"lang": "en"})
    profile.append_turn("chat-1", "assistant", "Hi Alice")
    profile.append_turns(
        "chat-1", [{"role": "tool", "content": "42"}, {"role": "user", "content": "ok"}]
    )
    turns = profile.read_turns("chat-1")
    assert [t.turn for t in turns] == [1, 2, 3, 4]
    assert (
        turns[0].content == text
        and turns[0].name == "alice"
        and turns[0].metadata == {"lang": "en"}
    )
    assert [t.role for t in turns] == ["user", "assistant", "tool", "user"]
    assert [t.turn for t in profile.read_turns("chat-1", after=2)] == [3, 4]


def test_tasks_expire_and_end_deletes_them(profile, clock) -> None:
    profile.open_session("s", task_ttl_s=3600)
    profile.append_turn("s", "user", "Please book the train and email Bob")
    t1 = profile.ingest("task", "Book the train", session_id="s").memory
    profile.ingest("task", "Email Bob", session_id="s")
    profile.ingest("fact", "Bob's email is bob@example.com", session_id="s")
    assert t1.expires_at == pytest.approx(clock.now() + 3600)
    assert len(profile.list_memories(type="task")) == 2
    before = profile.txid
    ended = profile.end_session("s")
    assert ended.count == 2 and ended.txid == before + 1
    assert profile.list_memories(type="task") == []
    assert [m.type for m in profile.list_memories(session_id="s")] == ["fact"]
    assert len(profile.read_turns("s")) == 1  # the transcript itself stays
    with pytest.raises(Conflict):
        profile.append_turn("s", "user", "too late")
    with pytest.raises(Conflict):
        profile.ingest("task", "another", session_id="s")
    assert profile.end_session("s").count == 0


def test_task_ttl_default_24h(profile, clock) -> None:
    profile.ingest("task", "Water the plants", session_id="garden")
    clock.advance(limits.DEFAULT_TASK_TTL_S - 1)
    assert len(profile.list_memories(type="task")) == 1
    clock.advance(2)
    assert profile.list_memories(type="task") == []
    assert profile.recall("plants", types=["task"]).results == []


@pytest.mark.parametrize(
    ("role", "content", "error"),
    [
        ("robot", "hi", InvalidInput),
        ("user", "", InvalidInput),
        ("user", "x" * (limits.MAX_TURN_CONTENT_BYTES + 1), TooLarge),
    ],
)
def test_bad_turns_change_nothing(profile, role, content, error) -> None:
    profile.append_turn("s", "user", "first")
    txid = profile.txid
    with pytest.raises(error):
        profile.append_turn("s", role, content)
    assert profile.txid == txid and len(profile.read_turns("s")) == 1


def test_unknown_session(profile) -> None:
    with pytest.raises(NotFound):
        profile.read_turns("nope")
    with pytest.raises(NotFound):
        profile.end_session("nope")
