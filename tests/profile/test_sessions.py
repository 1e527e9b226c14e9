"""Sessions: transcript order, task expiry, end deletes tasks in one transaction."""

from __future__ import annotations

import pytest

from memoturn import Conflict, InvalidInput, NotFound, TooLarge
from memoturn.core import limits


def test_transcript_in_order_verbatim(profile) -> None:
    _r = profile.open_session("chat-1")
    session, _ = _r.session, _r.txid
    assert session.task_ttl_s == limits.DEFAULT_TASK_TTL_S
    text = "  Hello,\n\tworld!  😀 "
    profile.append_turn("chat-1", "user", text, name="alice", metadata={"lang": "en"})
    profile.append_turn("chat-1", "assistant", "Hi Alice")
    profile.append_turns(
        "chat-1", [{"role": "tool", "content": "42"}, {"role": "user", "content": "ok"}]
    )
    turns = profile.read_turns("chat-1").turns
    assert [t.turn for t in turns] == [1, 2, 3, 4]
    assert (
        turns[0].content == text
        and turns[0].name == "alice"
        and turns[0].metadata == {"lang": "en"}
    )
    assert [t.role for t in turns] == ["user", "assistant", "tool", "user"]
    assert [t.turn for t in profile.read_turns("chat-1", after=2).turns] == [3, 4]


def test_tasks_expire_and_end_deletes_them(profile, clock) -> None:
    profile.open_session("s", task_ttl_s=3600)
    profile.append_turn("s", "user", "Please book the train and email Bob")
    t1 = profile.ingest("task", "Book the train", session_id="s").memory
    profile.ingest("task", "Email Bob", session_id="s")
    profile.ingest("fact", "Bob's email is bob@example.com", session_id="s")
    assert t1.expires_at == pytest.approx(clock.now() + 3600)
    assert len(profile.list_memories(type="task").memories) == 2
    before = profile.txid
    ended = profile.end_session("s")
    assert ended.deleted_tasks == 2 and ended.txid == before + 1
    assert profile.list_memories(type="task").memories == []
    assert [m.type for m in profile.list_memories(session_id="s").memories] == ["fact"]
    assert len(profile.read_turns("s").turns) == 1  # the transcript itself stays
    with pytest.raises(Conflict):
        profile.append_turn("s", "user", "too late")
    with pytest.raises(Conflict):
        profile.ingest("task", "another", session_id="s")
    assert profile.end_session("s").deleted_tasks == 0


def test_task_ttl_default_24h(profile, clock) -> None:
    profile.ingest("task", "Water the plants", session_id="garden")
    clock.advance(limits.DEFAULT_TASK_TTL_S - 1)
    assert len(profile.list_memories(type="task").memories) == 1
    clock.advance(2)
    assert profile.list_memories(type="task").memories == []
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
    assert profile.txid == txid and len(profile.read_turns("s").turns) == 1


def test_unknown_session(profile) -> None:
    with pytest.raises(NotFound):
        profile.read_turns("nope")
    with pytest.raises(NotFound):
        profile.end_session("nope")


# -- what a turn's embedding covers --------------------------------------------------------


def test_embedding_texts_put_the_turn_before_its_context() -> None:
    from memoturn.profile.sessions import embedding_texts

    assert embedding_texts(None, ["a", "b", "c"]) == ["a", "b\na", "c\nb"]
    assert embedding_texts("z", ["a"]) == ["a\nz"]


def _stored_turn_vectors(tmp_path, embedder, appends):  # type: ignore[no-untyped-def]
    from memoturn.profile.profile import Profile
    from memoturn.profile.rows import embedding_matrix

    prof = Profile(tmp_path / "p.db", embedder)
    try:
        appends(prof)
        with prof.db.read() as cur:
            rows = cur.execute(
                "SELECT session_id, content, embedding FROM turns ORDER BY session_id, turn"
            ).fetchall()
    finally:
        prof.close()
    return [
        (sid, content, embedding_matrix([blob], embedder.dim)[0]) for sid, content, blob in rows
    ]


def test_reply_embedding_carries_the_turn_before_it(tmp_path, embedder) -> None:
    """Each turn is embedded with the session's previous turn after it, across separate
    appends, and never with a turn of another session."""

    def appends(prof):  # type: ignore[no-untyped-def]
        prof.append_turn("s1", "user", "Have you ever been to Lisbon?")
        prof.append_turns(
            "s1",
            [
                {"role": "assistant", "content": "Yes! Last spring. The tarts were amazing."},
                {"role": "user", "content": "Which bakery?"},
            ],
        )
        prof.append_turn("s2", "user", "Which bakery?")

    got = _stored_turn_vectors(tmp_path, embedder, appends)
    expected = embedder.embed(
        [
            "Have you ever been to Lisbon?",
            "Yes! Last spring. The tarts were amazing.\nHave you ever been to Lisbon?",
            "Which bakery?\nYes! Last spring. The tarts were amazing.",
            "Which bakery?",
        ]
    )
    assert [c for _, c, _ in got] == [
        "Have you ever been to Lisbon?",
        "Yes! Last spring. The tarts were amazing.",
        "Which bakery?",
        "Which bakery?",
    ]
    for (_, _, vec), want in zip(got, expected, strict=True):
        assert float(vec @ want) > 0.999
    # The same words in another session got no context, so a different vector.
    assert float(got[2][2] @ got[3][2]) < 0.99


def test_concurrent_appends_embed_with_the_turn_that_really_came_before(tmp_path, embedder) -> None:
    """Appends racing on one session: whichever order they land in, every turn's
    embedding carries the turn stored just before it."""
    import threading

    texts = [f"turn {i} about topic {i % 3} and the weather" for i in range(24)]

    def appends(prof):  # type: ignore[no-untyped-def]
        def worker(part: list[str]) -> None:
            for t in part:
                prof.append_turn("s", "user", t)

        threads = [threading.Thread(target=worker, args=(texts[i::3],)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    got = _stored_turn_vectors(tmp_path, embedder, appends)
    contents = [c for _, c, _ in got]
    assert sorted(contents) == sorted(texts)
    expected = embedder.embed(
        [c if i == 0 else f"{c}\n{contents[i - 1]}" for i, c in enumerate(contents)]
    )
    for (_, _, vec), want in zip(got, expected, strict=True):
        assert float(vec @ want) > 0.999
