"""Extraction in process: the per-turn report, idempotence, supersession, the egress
check before anything is sent, bounded retries, budgets and resuming, the lock released
while the model runs, previews on burner branches, and automatic extraction."""

from __future__ import annotations

import threading

import pytest
from tests.extraction.chat_server import completion, memories
from tests.extraction.conftest import chat_extractor

import memoturn
from memoturn.core.errors import (
    Conflict,
    EgressDenied,
    ExtractorFailed,
    InvalidInput,
    NotFound,
    TooLarge,
)
from memoturn.models import MEMORY_SCHEMA
from memoturn.models.chat import SYSTEM_PROMPT

TURNS = [
    {"role": "user", "content": "I'm vegetarian and I live in Lisbon."},
    {"role": "assistant", "content": "Noted! Any favourite dish?"},
    {"role": "user", "content": "What's the weather like?"},
    {"role": "user", "content": "My favourite colour is blue."},
]


def _session(engine, sid: str = "chat-1"):
    p = engine.profile("acme", "alice")
    p.append_turns(sid, TURNS)
    return p


def test_the_report_says_what_came_of_every_turn_and_the_request_is_the_documented_one(
    engine, chat
) -> None:
    p = _session(engine)
    chat.answers.append(
        memories(
            ("preference", "The user is vegetarian", "diet", [1]),
            ("fact", "The user lives in Lisbon", "home", [1]),
            ("fact", "The user's favourite colour is blue", "favourite-colour", [4]),
        )
    )
    before = p.txid
    r = p.extract("chat-1")
    assert [(o.turn, o.action) for o in r.report] == [
        (1, "ADD"),
        (1, "ADD"),
        (2, "SKIP"),
        (3, "SKIP"),
        (4, "ADD"),
    ]
    assert r.report[2].reason == "the chat:scripted-model extractor found nothing here"
    assert r.txid == before + 1 and r.extracted_through == 4 and r.pending == 0
    assert r.extractor == "chat:scripted-model" and r.preview is False and r.branch is None
    stored = {m.content: m for m in p.list_memories().memories}
    diet = stored["The user is vegetarian"]
    assert (diet.type, diet.topic, diet.session_id, diet.turn_ids) == (
        "preference",
        "diet",
        "chat-1",
        [1],
    )
    assert diet.source == "extractor:chat:scripted-model"
    assert r.report[0].memory_id == diet.id
    # What the model was sent: one request, the prompt, every turn, the schema.
    (request,) = chat.requests
    assert chat.paths == ["/v1/chat/completions"]
    assert chat.headers[0]["Authorization"] == "Bearer sk-test"
    assert request["model"] == "scripted-model" and request["temperature"] == 0
    assert request["max_tokens"] == 2000
    assert request["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert request["messages"][1] == {
        "role": "user",
        "content": "[turn 1] user: I'm vegetarian and I live in Lisbon.\n"
        "[turn 2] assistant: Noted! Any favourite dish?\n"
        "[turn 3] user: What's the weather like?\n"
        "[turn 4] user: My favourite colour is blue.",
    }
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "memories", "strict": True, "schema": MEMORY_SCHEMA},
    }


def test_running_it_again_changes_nothing_and_sends_nothing(engine, chat) -> None:
    p = _session(engine)
    chat.answers.append(memories(("fact", "The user lives in Lisbon", "home", [1])))
    p.extract("chat-1")
    txid, count = p.txid, len(p.list_memories().memories)
    again = p.extract("chat-1")
    assert again.report == [] and again.txid == txid == p.txid
    assert (again.extracted_through, again.pending) == (4, 0)
    assert len(chat.requests) == 1 and len(p.list_memories().memories) == count


def test_new_turns_supersede_on_a_topic_and_repeat_as_duplicates(engine, chat) -> None:
    p = _session(engine)
    chat.answers.append(memories(("fact", "The user lives in Lisbon", "home", [1])))
    first = p.extract("chat-1").report[0].memory_id
    p.append_turns(
        "chat-1",
        [
            {"role": "user", "content": "I moved to Porto last month."},
            {"role": "user", "content": "Still vegetarian, by the way."},
        ],
    )
    chat.answers.append(
        memories(
            ("fact", "The user lives in Porto", "home", [5]),
            ("fact", "The user lives in Porto", "home", [6]),
        )
    )
    r = p.extract("chat-1")
    assert [(o.turn, o.action) for o in r.report] == [(5, "SUPERSEDE"), (6, "DUPLICATE")]
    assert r.report[0].superseded == [first]
    assert r.report[1].memory_id == r.report[0].memory_id
    # Only the new turns were sent.
    assert "[turn 4]" not in chat.user_messages()[1] and "[turn 5]" in chat.user_messages()[1]
    (old,) = [m for m in p.topic_history("home").versions if m.id == first]
    assert old.superseded_by == r.report[0].memory_id


def test_a_deny_namespace_sends_nothing_and_says_so(engine, chat) -> None:
    p = _session(engine)
    engine.set_policy("acme", {"ai_egress": "deny"})
    txid = p.txid
    with pytest.raises(EgressDenied, match=r"ai_egress='deny'.*nothing was read or sent") as e:
        p.extract("chat-1")
    assert "rules" in e.value.hint
    with pytest.raises(EgressDenied):
        p.extract("chat-1", preview=True)  # no burner branch either
    assert len(chat.requests) == 0 and p.txid == txid
    assert [b.name for b in engine.list_branches("acme", "alice")] == ["main"]
    # The in-process extractor works under deny.
    r = p.extract("chat-1", extractor="rules")
    assert r.extractor == "rules" and len(chat.requests) == 0
    assert {m.content for m in r.memories} >= {"The user's favourite colour is blue"}


def test_the_declared_location_is_checked_against_each_egress_level(
    tmp_path, embedder, chat
) -> None:
    for location, policy, allowed in [
        ("self_hosted", "self_hosted", True),
        ("third_party", "self_hosted", False),
        ("third_party", "any", True),
        ("self_hosted", "deny", False),
    ]:
        extractor = chat_extractor(chat, location=location)
        with memoturn.open(
            tmp_path / f"{location}-{policy}", embedder=embedder, extractor=extractor
        ) as eng:
            eng.create_namespace("acme")
            eng.create_profile("acme", "alice")
            eng.set_policy("acme", {"ai_egress": policy})
            p = _session(eng)
            sent = len(chat.requests)
            chat.answers.append(memories())
            if allowed:
                assert len(p.extract("chat-1").report) == 4
                assert len(chat.requests) == sent + 1
            else:
                with pytest.raises(EgressDenied):
                    p.extract("chat-1")
                assert len(chat.requests) == sent
                chat.answers.clear()


def test_a_profile_override_that_denies_is_enforced_too(engine, chat) -> None:
    p = _session(engine)
    engine.set_profile_policy("acme", "alice", {"ai_egress": "deny"})
    with pytest.raises(EgressDenied):
        p.extract("chat-1")
    assert chat.requests == []


@pytest.mark.parametrize(
    "bad",
    [
        completion("this is not JSON"),
        completion('{"memories": [{"type": "fact", "content": "x", "topic": null}]}'),
        completion(
            '{"memories": [{"type": "opinion", "content": "x", "topic": null, "turn_ids": [1]}]}'
        ),
        completion(
            '{"memories": [{"type": "fact", "content": "x", "topic": null, "turn_ids": [99]}]}'
        ),
        completion(
            '{"memories": [{"type": "fact", "content": "  ", "topic": null, "turn_ids": [1]}]}'
        ),
        completion('{"memories": []}', finish_reason="length"),
        completion(None),
        (200, {"choices": []}),
        (500, {"error": {"message": "overloaded"}}),
        (429, {"error": {"message": "slow down"}}),
    ],
    ids=[
        "not-json",
        "no-turn-ids",
        "bad-type",
        "unsent-turn",
        "blank",
        "cut-off",
        "no-content",
        "no-choices",
        "http-500",
        "http-429",
    ],
)
def test_malformed_answers_are_retried_a_bounded_number_of_times_then_nothing_applied(
    engine, chat, bad
) -> None:
    p = _session(engine)
    chat.answers.extend([bad, bad, bad])
    txid = p.txid
    with pytest.raises(ExtractorFailed, match=r"in 3 attempts.*nothing was applied"):
        p.extract("chat-1")
    assert len(chat.requests) == 3 and p.txid == txid
    assert p.list_memories().memories == []
    # The turns are still pending: a later call with a good answer extracts them.
    chat.answers.append(memories(("fact", "The user lives in Lisbon", "home", [1])))
    r = p.extract("chat-1")
    assert len(r.report) == 4 and len(chat.requests) == 4


def test_a_bad_answer_then_a_good_one_succeeds(engine, chat) -> None:
    p = _session(engine)
    chat.answers.extend(
        [completion("{"), memories(("fact", "The user lives in Lisbon", None, [1]))]
    )
    assert p.extract("chat-1").report[0].action == "ADD"
    assert len(chat.requests) == 2


def test_a_client_error_of_the_server_is_not_retried(engine, chat) -> None:
    p = _session(engine)
    chat.answers.append((401, {"error": {"message": "bad key"}}))
    with pytest.raises(ExtractorFailed, match="HTTP 401") as e:
        p.extract("chat-1")
    assert "API key" in e.value.hint and len(chat.requests) == 1


def test_an_unreachable_server_is_a_clear_error(tmp_path, embedder) -> None:
    from memoturn.models import ChatExtractor

    dead = ChatExtractor(
        "http://127.0.0.1:9/v1",
        "m",
        location="self_hosted",
        backoff_s=0.0,
        max_attempts=2,
        timeout=2.0,
    )
    with memoturn.open(tmp_path, embedder=embedder, extractor=dead) as eng:
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        p = _session(eng)
        with pytest.raises(ExtractorFailed, match="unreachable"):
            p.extract("chat-1")
        assert p.list_memories().memories == []


def test_batches_follow_the_per_request_limit_and_the_call_budget_leaves_the_rest_pending(
    tmp_path, embedder, chat
) -> None:
    # Each rendered turn here is 10 estimated tokens: two fit in a request of 25.
    extractor = chat_extractor(chat, max_input_tokens=25)
    with memoturn.open(
        tmp_path, embedder=embedder, extractor=extractor, extraction_token_budget=40
    ) as eng:
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        p = eng.profile("acme", "alice")
        p.append_turns(
            "s", [{"role": "user", "content": f"I like colour number {i}."} for i in range(1, 8)]
        )
        p.append_turn("s", "user", "x" * 200)  # alone over the per-request limit
        chat.answers.extend([memories(), memories(), memories(), memories()])
        r = p.extract("s")
        assert [m.count("[turn") for m in chat.user_messages()] == [2, 2]
        assert (r.extracted_through, r.pending) == (4, 4)  # the budget ran out
        r = p.extract("s")
        assert [m.count("[turn") for m in chat.user_messages()] == [2, 2, 2, 1]
        assert r.extracted_through == 8 and r.pending == 0
        assert (
            r.report[-1].action == "SKIP"
            and "over the chat:scripted-model extractor's limit of 25 per request"
            in r.report[-1].reason
        )
        assert "x" * 200 not in "".join(chat.user_messages())


def test_max_turns_stops_early_and_the_next_call_resumes(engine, chat) -> None:
    p = _session(engine)
    chat.answers.extend([memories(("fact", "The user lives in Lisbon", "home", [1])), memories()])
    r = p.extract("chat-1", max_turns=2)
    assert [o.turn for o in r.report] == [1, 1 + 1] and (r.extracted_through, r.pending) == (2, 2)
    r = p.extract("chat-1")
    assert [o.turn for o in r.report] == [3, 4]
    assert "[turn 1]" not in chat.user_messages()[1]


def test_a_failure_midway_keeps_the_batches_applied_and_the_next_call_resumes(
    tmp_path, embedder, chat
) -> None:
    extractor = chat_extractor(chat, max_input_tokens=30)  # two turns per request
    with memoturn.open(tmp_path, embedder=embedder, extractor=extractor) as eng:
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        p = _session(eng)
        chat.answers.extend(
            [
                memories(("fact", "The user lives in Lisbon", None, [1])),
                completion("oops"),
                completion("oops"),
                completion("oops"),
            ]
        )
        with pytest.raises(ExtractorFailed):
            p.extract("chat-1")
        assert [m.content for m in p.list_memories().memories] == ["The user lives in Lisbon"]
        chat.answers.append(memories(("fact", "The user's favourite colour is blue", None, [4])))
        r = p.extract("chat-1")
        assert [o.turn for o in r.report] == [3, 4]
        assert chat.user_messages()[-1].startswith("[turn 3]")


def test_the_profile_is_not_locked_while_the_model_answers(engine, chat) -> None:
    p = _session(engine)
    seen: list[object] = []

    def meanwhile(body: dict) -> tuple[int, object]:
        # Runs while the engine waits for the model: another call on the profile goes
        # through (it would wait forever if the extraction held the profile's lock).
        worker = threading.Thread(
            target=lambda: seen.append(p.append_turn("chat-1", "user", "I like tea.").txid)
        )
        worker.start()
        worker.join(10)
        seen.append(worker.is_alive())
        return memories(("fact", "The user lives in Lisbon", "home", [1]))

    chat.answers.extend([meanwhile, memories()])
    r = p.extract("chat-1")
    assert seen[-1] is False and isinstance(seen[0], int)
    # The turn appended meanwhile was not in the first batch; the call went on with it.
    assert chat.user_messages()[1] == "[turn 5] user: I like tea."
    assert r.extracted_through == 5 and r.pending == 0


def test_a_change_while_the_model_answers_is_a_conflict_and_nothing_is_applied(
    engine, chat
) -> None:
    p = _session(engine)

    def race(body: dict) -> tuple[int, object]:
        p.extract("chat-1", extractor="rules")  # another call extracts the same turns
        return memories(("fact", "Lisbon is the user's home city", "city", [1]))

    chat.answers.append(race)
    with pytest.raises(Conflict, match="extracted by another call"):
        p.extract("chat-1")
    assert "Lisbon is the user's home city" not in {m.content for m in p.list_memories().memories}


def test_preview_writes_to_a_burner_branch_and_apply_lands_it_without_a_model_call(
    engine, chat
) -> None:
    p = _session(engine)
    chat.answers.append(
        memories(
            ("fact", "The user lives in Lisbon", "home", [1]),
            ("preference", "The user is vegetarian", "diet", [1]),
        )
    )
    txid = p.txid
    pv = p.extract("chat-1", preview=True)
    assert pv.preview is True and pv.branch is not None and pv.branch.startswith("extract-")
    assert pv.txid == txid and pv.branch_txid is not None and pv.branch_txid > txid
    assert [(o.turn, o.action) for o in pv.report][:2] == [(1, "ADD"), (1, "ADD")]
    # main is untouched; the burner branch holds the memories and expires.
    assert p.txid == txid and p.list_memories().memories == []
    (burner,) = [b for b in engine.list_branches("acme", "alice") if b.name == pv.branch]
    assert burner.expires_at is not None and burner.parent == "main"
    on_branch = engine.profile("acme", "alice", pv.branch).list_memories().memories
    assert {m.content for m in on_branch} == {"The user lives in Lisbon", "The user is vegetarian"}
    applied = p.extract_apply("chat-1", pv.branch)
    assert len(chat.requests) == 1  # no second model call
    assert [(o.turn, o.action) for o in applied.report] == [(o.turn, o.action) for o in pv.report]
    assert {m.content for m in p.list_memories().memories} == {
        "The user lives in Lisbon",
        "The user is vegetarian",
    }
    assert applied.extracted_through == 4 and applied.pending == 0
    assert [b.name for b in engine.list_branches("acme", "alice")] == ["main"]
    # main now counts the turns as extracted: nothing is sent again.
    assert p.extract("chat-1").report == [] and len(chat.requests) == 1


def test_a_preview_is_discarded_by_deleting_its_branch(engine, chat) -> None:
    p = _session(engine)
    chat.answers.append(memories(("fact", "The user lives in Lisbon", "home", [1])))
    pv = p.extract("chat-1", preview=True)
    engine.delete_branch("acme", "alice", pv.branch)
    assert p.list_memories().memories == [] and p.extract("chat-1", extractor="rules").report


def test_applying_a_stale_preview_is_a_conflict(engine, chat) -> None:
    p = _session(engine)
    chat.answers.extend([memories(("fact", "The user lives in Lisbon", "home", [1])), memories()])
    pv = p.extract("chat-1", preview=True)
    p.extract("chat-1")  # main extracted the same turns meanwhile
    txid = p.txid
    with pytest.raises(Conflict):
        p.extract_apply("chat-1", pv.branch)
    assert p.txid == txid


def test_extraction_state_rewinds_with_the_profile(engine, chat) -> None:
    p = _session(engine)
    engine.create_checkpoint("acme", "alice", "before")
    chat.answers.extend([memories(("fact", "The user lives in Lisbon", "home", [1]))] * 2)
    p.extract("chat-1")
    engine.rewind("acme", "alice", checkpoint="before")
    assert p.list_memories().memories == []
    r = p.extract("chat-1")  # pending again after the rewind
    assert r.report[0].action == "ADD" and len(chat.requests) == 2


def test_an_ended_session_extracts_its_facts_but_not_its_tasks(engine, chat) -> None:
    p = _session(engine)
    p.end_session("chat-1")
    chat.answers.append(
        memories(
            ("task", "Book a table", None, [3]), ("fact", "The user lives in Lisbon", "home", [1])
        )
    )
    r = p.extract("chat-1")
    by_turn = {o.turn: o for o in r.report}
    assert by_turn[3].action == "SKIP" and "session that has ended" in by_turn[3].reason
    assert by_turn[1].action == "ADD"
    assert p.get_memory(by_turn[1].memory_id).memory.session_id == "chat-1"


def test_session_tasks_extracted_while_open_end_with_the_session(engine, chat) -> None:
    p = _session(engine)
    chat.answers.append(memories(("task", "Book a table", None, [3])))
    r = p.extract("chat-1")
    assert p.get_memory(r.report[2].memory_id).memory.expires_at is not None
    assert p.end_session("chat-1").deleted_tasks == 1


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda p: p.extract(None), InvalidInput, "session_id is required"),
        (lambda p: p.extract("bad id!"), InvalidInput, "invalid session_id"),
        (lambda p: p.extract("x" * 200), TooLarge, "session_id is 200 characters"),
        (lambda p: p.extract("chat-1", extractor="gpt"), InvalidInput, "extractor must be one of"),
        (lambda p: p.extract("chat-1", max_turns=0), InvalidInput, "max_turns"),
        (lambda p: p.extract("chat-1", max_turns=True), InvalidInput, "max_turns"),
        (lambda p: p.extract("chat-1", preview="yes"), InvalidInput, "preview must be"),
        (lambda p: p.extract("nope"), NotFound, "no session 'nope'"),
        (lambda p: p.extract("nope", preview=True), NotFound, "no session 'nope'"),
        (lambda p: p.extract_apply("chat-1", "Bad--Name"), InvalidInput, "branch"),
        (lambda p: p.extract_apply("chat-1", "nosuch"), NotFound, "nosuch"),
        (lambda p: p.extract_apply("chat-1", "main"), InvalidInput, "not forked from"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(engine, chat, call, error, message) -> None:
    p = _session(engine)
    txid = p.txid
    with pytest.raises(error, match=message):
        call(p)
    assert p.txid == txid and chat.requests == []
    assert [b.name for b in engine.list_branches("acme", "alice")] == ["main"]


def test_applying_a_branch_without_an_extraction_is_refused(engine, chat) -> None:
    p = _session(engine)
    engine.create_branch("acme", "alice", "plain", ttl_s=60)
    with pytest.raises(InvalidInput, match="holds no extraction of session 'chat-1'"):
        p.extract_apply("chat-1", "plain")


def test_auto_extract_every_n_turns_and_at_the_end(engine, chat) -> None:
    p = engine.profile("acme", "alice")
    s = p.open_session("auto", auto_extract={"every_turns": 2, "at_end": True}).session
    assert s.auto_extract == {"every_turns": 2, "at_end": True}
    p.append_turn("auto", "user", "I live in Lisbon.")
    engine.maintain()
    assert chat.requests == []  # one turn waits: fewer than every_turns
    chat.answers.extend([memories(("fact", "The user lives in Lisbon", "home", [1])), memories()])
    p.append_turn("auto", "user", "Nice day.")
    engine.maintain()
    assert len(chat.requests) == 1
    assert [m.content for m in p.list_memories().memories] == ["The user lives in Lisbon"]
    p.append_turn("auto", "user", "Bye!")
    engine.maintain()
    assert len(chat.requests) == 1  # one pending turn, still fewer than 2
    p.end_session("auto")
    engine.maintain()
    assert len(chat.requests) == 2 and "[turn 3] user: Bye!" in chat.user_messages()[1]
    engine.maintain()
    assert len(chat.requests) == 2  # nothing left


def test_auto_extract_is_off_by_default_and_can_be_turned_off(engine, chat) -> None:
    p = engine.profile("acme", "alice")
    assert p.open_session("plain").session.auto_extract is None
    p.append_turns("plain", TURNS)
    p.open_session("later", auto_extract={"every_turns": 1})
    off = p.open_session("later", auto_extract={"at_end": False})
    assert off.session.auto_extract is None
    p.append_turns("later", TURNS)
    engine.maintain()
    assert chat.requests == []


def test_a_failing_automatic_extraction_waits_before_trying_again(engine, chat) -> None:
    p = engine.profile("acme", "alice")
    p.open_session("auto", auto_extract={"every_turns": 1})
    p.append_turn("auto", "user", "I live in Lisbon.")
    chat.answers.extend([completion("no")] * 3)
    engine.maintain()
    assert len(chat.requests) == 3
    engine.maintain()
    assert len(chat.requests) == 3  # backing off, not one model call per second


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("often", "auto_extract must be an object"),
        ({"every": 3}, "unknown fields: every"),
        ({"every_turns": 0}, "every_turns must be 1 to 10000"),
        ({"every_turns": "3"}, "every_turns must be 1 to 10000"),
        ({"every_turns": True}, "every_turns must be 1 to 10000"),
        ({"at_end": "yes"}, "at_end must be true or false"),
    ],
)
def test_bad_auto_extract_settings_are_refused(engine, setting, message) -> None:
    p = engine.profile("acme", "alice")
    txid = p.txid
    with pytest.raises(InvalidInput, match=message):
        p.open_session("s", auto_extract=setting)
    assert p.txid == txid


def test_the_rule_extractor_is_the_default_and_reads_user_turns_only(tmp_path, embedder) -> None:
    with memoturn.open(tmp_path, embedder=embedder) as eng:
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        eng.set_policy("acme", {"ai_egress": "deny"})
        p = _session(eng)
        r = p.extract("chat-1")
        assert r.extractor == "rules"
        assert [(o.turn, o.action, o.topic) for o in r.report] == [
            (1, "ADD", None),
            (1, "ADD", "home"),
            (2, "SKIP", None),
            (3, "SKIP", None),
            (4, "ADD", "favourite-colour"),
        ]
        assert "reads user turns only" in r.report[2].reason
        assert [m.content for m in r.memories] == [
            "The user is vegetarian",
            "The user lives in Lisbon",
            "The user's favourite colour is blue",
        ]


def test_the_background_thread_runs_automatic_extraction_off_the_request(
    tmp_path, embedder, chat
) -> None:
    import time

    with memoturn.open(tmp_path, embedder=embedder, extractor=chat_extractor(chat),
                       background=True, maintenance_interval=0.05) as eng:  # fmt: skip
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        p = eng.profile("acme", "alice")
        p.open_session("auto", auto_extract={"at_end": True})
        chat.answers.append(memories(("fact", "The user lives in Lisbon", "home", [1])))
        p.append_turn("auto", "user", "I live in Lisbon.")
        p.end_session("auto")  # answers at once; the extraction follows in the background
        deadline = time.monotonic() + 30
        while not p.list_memories().memories and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.content for m in p.list_memories().memories] == ["The user lives in Lisbon"]
        assert len(chat.requests) == 1


def test_erasing_a_session_takes_its_extraction_progress_and_turn_hashes_too(
    engine, chat, tmp_path
) -> None:
    from memoturn.profile.extraction import turn_hash

    p = _session(engine, "chat-2")
    p.append_turns("chat-3", TURNS[:1])
    chat.answers.append(memories(("preference", "The user is vegetarian", "diet", [1])))
    p.extract("chat-2")
    hashes = [turn_hash(t["role"], None, t["content"]).encode() for t in TURNS]

    def found() -> list[bytes]:  # in the node's local files (the store's history goes later)
        files = [f for f in tmp_path.rglob("*") if f.is_file() and "store" not in f.parts]
        blobs = [f.read_bytes() for f in files]
        return [h for h in hashes if any(h in b for b in blobs)]

    assert found()  # the hashes are in the profile's files until the erasure
    p.erase(session_id="chat-2")
    assert found() == []
    chat.answers.append(memories(("preference", "The user is vegetarian", "diet", [1])))
    assert [o.turn for o in p.extract("chat-3").report] == [1]  # other sessions extract
