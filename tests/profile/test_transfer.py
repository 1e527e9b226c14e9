"""Export and import of a whole profile-branch: an import into an empty profile round-trips
exactly (random op sequences, Hypothesis), and every bad input is refused whole."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoturn import Conflict, InvalidInput, MemoturnError, NotFound
from memoturn.core.clock import ManualClock
from memoturn.profile.profile import Profile

TOPICS = [None, "diet", "home", "work"]
WORDS = ["tea", "coffee", "Paris", "Berlin", "vegan", "cats", "café", "naïve\u2028line"]
SESSIONS = [None, "s1", "s2"]
COLLECTIONS = {"c2": 2, "c3": 3}
SPACES = ["scratch", "flags"]

_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
_meta = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(-3, 3) | st.text(max_size=3)),
)
_ttl = st.one_of(st.none(), st.integers(1, 30))
_chars = st.text(st.characters(blacklist_categories=("Cs",)), max_size=5)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _chars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_chars, inner, max_size=3),
    max_leaves=6,
)
_vec = st.floats(-1e6, 1e6, allow_nan=False, width=32)

op = st.one_of(
    st.tuples(
        st.just("ingest"),
        st.sampled_from(["fact", "preference", "task", "event"]),
        _text,
        st.sampled_from(TOPICS),
        st.sampled_from(SESSIONS),
        _ttl,
        _meta,
        st.booleans(),  # with an idempotency key
    ),
    st.tuples(st.just("forget"), st.integers(0, 9)),
    st.tuples(
        st.just("turns"),
        st.sampled_from(["s1", "s2", "s3"]),
        st.lists(_text, min_size=1, max_size=3),
    ),
    st.tuples(st.just("end"), st.sampled_from(["s1", "s2", "s3"])),
    st.tuples(
        st.just("kv"), st.sampled_from(SPACES), st.sampled_from(["k1", "k/2", "%"]), _json, _ttl
    ),
    st.tuples(st.just("kv_del"), st.sampled_from(SPACES), st.sampled_from(["k1", "k/2", "%"])),
    st.tuples(
        st.just("doc"),
        st.lists(_text, min_size=1, max_size=60).map(". ".join),
        st.sampled_from([None, "Guide"]),
    ),
    st.tuples(st.just("doc_del"), st.integers(0, 3)),
    st.tuples(
        st.just("vec"),
        st.sampled_from(sorted(COLLECTIONS)),
        st.sampled_from(["v1", "v2", "v3"]),
        st.lists(_vec, min_size=3, max_size=3),
    ),
    st.tuples(
        st.just("vec_del"), st.sampled_from(sorted(COLLECTIONS)), st.sampled_from(["v1", "v2"])
    ),
    st.tuples(st.just("time"), st.floats(0.001, 20, allow_nan=False)),
)


def _apply(p: Profile, clock: ManualClock, step: tuple[Any, ...], keys: itertools.count) -> None:
    kind = step[0]
    try:
        if kind == "ingest":
            _, mtype, content, topic, session, ttl, meta, keyed = step
            fields = {"topic": topic, "session_id": session, "ttl_s": ttl, "metadata": meta}
            if keyed:
                fields["idempotency_key"] = f"key-{next(keys)}"
            p.ingest(mtype, content, **{k: v for k, v in fields.items() if v is not None})
        elif kind == "forget":
            found = p.list_memories(include_history=True).memories
            if found:
                p.forget(found[step[1] % len(found)].id, reason=None if step[1] % 2 else "wrong")
        elif kind == "turns":
            p.append_turns(step[1], [{"role": "user", "content": c} for c in step[2]])
        elif kind == "end":
            p.end_session(step[1])
        elif kind == "kv":
            p.kv_set(step[1], step[2], step[3], ttl_s=step[4])
        elif kind == "kv_del":
            p.kv_delete(step[1], step[2])
        elif kind == "doc":
            p.add_document(step[1], title=step[2], metadata={"n": len(step[1])})
        elif kind == "doc_del":
            lines = [json.loads(x) for x in p.export_profile().split("\n")[:-1]]
            docs = [x["id"] for x in lines if x["kind"] == "document"]
            if docs:
                p.delete_document(docs[step[1] % len(docs)])
        elif kind == "vec":
            try:
                values = step[3][: COLLECTIONS[step[1]]]
                p.vector_upsert(step[1], step[2], values, metadata={"v": step[2]})
            except InvalidInput:
                pass  # all zeros (or a norm that underflows)
        elif kind == "vec_del":
            p.vector_delete(step[1], step[2])
        elif kind == "time":
            clock.advance(step[1])
    except (NotFound, Conflict):
        pass  # forgetting what is gone, a session that has ended: not this test's business


def _no_txid(record: Any) -> Any:
    """A record without the txid it was written at: an import writes everything as one."""
    if dataclasses.is_dataclass(record) and hasattr(record, "txid") and hasattr(record, "id"):
        return dataclasses.replace(record, txid=0)
    return record


def visible(p: Profile) -> dict[str, Any]:
    """Everything a caller can read of a profile, through the read operations."""
    export = [json.loads(x) for x in p.export_profile().split("\n")[:-1]]
    ids = {
        k: [r.get("id") or r.get("name") for r in export if r["kind"] == k]
        for k in ("session", "document", "collection")
    }
    memories = [_no_txid(m) for m in p.list_memories(include_history=True, limit=1000).memories]
    state: dict[str, Any] = {
        "memories": memories,
        "current": [_no_txid(m) for m in p.list_memories(limit=1000).memories],
        "topics": {t: [_no_txid(m) for m in p.topic_history(t).versions] for t in TOPICS if t},
        "sessions": {s: p.get_session(s).session for s in ids["session"]},
        "turns": {s: p.read_turns(s).turns for s in ids["session"]},
        "kv": {s: p.kv_list(s).items for s in SPACES},
        "documents": {d: p.get_document(d).document for d in ids["document"]},
        "vectors": {
            c: p.vector_query(c, [1.0] + [0.5] * (COLLECTIONS[c] - 1), k=10).results
            for c in ids["collection"]
        },
        "pending": p.pending_embeddings(),
    }
    for query in ("vegan cats", "Paris tea", "guide"):
        for history in (False, True):
            hits = p.recall(
                query,
                k=200,
                scopes=["memories", "transcript", "documents"],
                include_history=history,
            ).results
            state[f"recall {query} {history}"] = [
                (h.scope, _no_txid(h.memory), h.score, h.why) for h in hits
            ]
    return state


def _profiles(root: Path, embedder, clock) -> tuple[Profile, Profile]:
    return (
        Profile(root / "source.db", embedder, clock=clock),
        Profile(root / "target.db", embedder, clock=clock),
    )


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=16))
def test_import_into_an_empty_profile_round_trips_exactly(tmp_path_factory, embedder, ops) -> None:
    clock = ManualClock(1_800_000_000.123)
    source, target = _profiles(tmp_path_factory.mktemp("transfer"), embedder, clock)
    try:
        keys = itertools.count()
        for step in ops:
            _apply(source, clock, step, keys)
        exported = source.export_profile()
        before = target.txid
        result = target.import_profile(exported)
        assert result.txid == (before + 1 if any(result.counts.values()) else before)
        assert target.export_profile() == exported
        # Recall equals the source's as it reads after a wake: purged of expired rows (which
        # count in the keyword statistics until the sweeper runs) and with its embedding
        # matrix reloaded (rows of deleted items shift the last bits of the similarities).
        source.sweep()
        source.close()
        source = Profile(source.db.path, embedder, clock=clock)
        assert visible(target) == visible(source)
        # And the import's txid is the one every imported memory carries.
        assert {m.txid for m in target.list_memories(include_history=True).memories} <= {
            result.txid
        }
    finally:
        source.close()
        target.close()


@pytest.fixture
def pair(tmp_path, embedder, clock):
    source, target = _profiles(tmp_path, embedder, clock)
    yield source, target
    source.close()
    target.close()


def _sample(p: Profile, clock: ManualClock) -> str:
    first = p.ingest("preference", "Alice is vegetarian", topic="diet", idempotency_key="k")
    clock.advance(1.5)
    p.ingest("preference", "Alice is vegan", topic="diet", metadata={"by": "chat"}, turn_ids=[1])
    p.forget(p.ingest("fact", "Alice lives in Paris").memory.id, "moved")
    p.append_turns(
        "s1",
        [
            {"role": "user", "content": "I went vegan"},
            {"role": "assistant", "content": "Noted!", "name": "bot"},
        ],
    )
    p.ingest("task", "buy tofu", session_id="s1")
    p.kv_set("scratch", "plan", {"step": 1}, ttl_s=60)
    p.add_document("Tofu is made from soy milk. " * 80, title="Tofu")
    p.vector_upsert("emb", "x", [0.1, 0.2, 0.3], metadata={"k": 1})
    assert first.memory.valid_to is None
    return p.export_profile()


def test_an_export_names_its_format_and_holds_every_kind(pair, clock) -> None:
    source, _ = pair
    lines = [json.loads(x) for x in _sample(source, clock).splitlines()]
    assert lines[0] == {
        "kind": "header",
        "format": 1,
        "schema_version": 4,
        "embedder": source.embedder.name,
        "dim": source.embedder.dim,
    }
    assert lines[-1] == {"kind": "end", "records": len(lines) - 2}
    kinds = [x["kind"] for x in lines[1:-1]]
    assert kinds == sorted(
        kinds,
        key=[
            "session",
            "turn",
            "memory",
            "idempotency",
            "document",
            "kv",
            "collection",
            "vector",
        ].index,
    )
    assert set(kinds) == {
        "session",
        "turn",
        "memory",
        "idempotency",
        "document",
        "kv",
        "collection",
        "vector",
    }
    old, new, forgotten = (x for x in lines if x["kind"] == "memory" and x["type"] != "task")
    assert old["superseded_by"] == new["id"] and old["valid_to"] == new["valid_from"]
    assert forgotten["forgotten_reason"] == "moved" and new["turn_ids"] == [1]
    assert all("embedding" not in x and "txid" not in x for x in lines)


def test_expired_items_are_left_out(pair, clock) -> None:
    source, target = pair
    source.ingest("fact", "short-lived", ttl_s=5)
    source.kv_set("scratch", "gone", 1, ttl_s=5)
    source.kv_set("scratch", "kept", 2)
    clock.advance(6)
    lines = source.export_profile().splitlines()
    assert [json.loads(x).get("key") for x in lines[1:-1]] == ["kept"]
    # An "empty" profile that still holds unswept expired rows takes the import.
    target.ingest("fact", "also short-lived", ttl_s=1, idempotency_key="k")
    clock.advance(2)
    assert target.import_profile("\n".join(lines)).counts["kv"] == 1
    assert [m.content for m in target.list_memories(include_history=True).memories] == []


def test_a_non_empty_profile_is_refused_and_unchanged(pair, clock) -> None:
    source, target = pair
    exported = _sample(source, clock)
    target.kv_set("flags", "x", True)
    before = (target.txid, target.export_profile())
    with pytest.raises(Conflict, match="not empty: it holds 1 KV key"):
        target.import_profile(exported)
    assert (target.txid, target.export_profile()) == before
    with pytest.raises(Conflict, match="it holds 4 memories, 1 session, 1 document, 1 KV key"):
        source.import_profile(exported)


def _lines(exported: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in exported.splitlines()]


def _text_of(lines: list[dict[str, Any]]) -> str:
    """The lines as an export, with a true record count when the last line is the end."""
    if lines[-1]["kind"] == "end":
        lines = [*lines[:-1], {"kind": "end", "records": len(lines) - 2}]
    return "".join(json.dumps(x) + "\n" for x in lines)


def _without(lines: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [x for x in lines if x["kind"] != kind]


def _edit(lines: list[dict[str, Any]], which: str, **fields: Any) -> list[dict[str, Any]]:
    """The lines with the first record of kind ``which`` changed (``_DROP`` removes a field)."""
    out = [dict(x) for x in lines]
    first = next(x for x in out if x["kind"] == which)
    first.update(fields)
    for k, v in list(first.items()):
        if v is _DROP:
            del first[k]
    return out


_DROP = object()


def _bad_cases(exported: str) -> list[tuple[str | bytes, str]]:
    lines = _lines(exported)
    text = exported.splitlines(keepends=True)
    n_turn = next(i for i, x in enumerate(lines, 1) if x["kind"] == "turn")
    return [
        ("", "the import is empty"),
        ("".join(text[:-1]), "without its end line"),
        ("".join(text[:3] + text[4:]), "the end line counts"),
        ("".join([*text[:2], "{not json\n", *text[2:]]), "line 3: not JSON"),
        ("".join([*text[:2], "\n", *text[2:]]), "line 3: empty line"),
        ("".join([*text[:2], "[1, 2]\n", *text[2:]]), "line 3: expected a JSON object"),
        ("".join([*text[:2], '{"id": 1}\n', *text[2:]]), 'line 3: the object has no "kind"'),
        (exported.encode()[:-3] + b"\xff}\n", "not UTF-8"),
        ("".join(text[1:]), 'line 1: expected the header (kind "header") first'),
        (_text_of(_edit(lines, "header", format=2)), "format version 2 is not supported"),
        (_text_of(_edit(lines, "header", format=True)), "format version True is not supported"),
        (_text_of(_edit(lines, "header", format="1")), "format version '1' is not supported"),
        (_text_of(_edit(lines, "header", schema_version=99)), "schema version 99"),
        (_text_of(_edit(lines, "header", embedder=_DROP)), "missing fields for a header"),
        (_text_of(_edit(lines, "turn", kind="tern")), f"line {n_turn}: unknown kind 'tern'"),
        (_text_of(_edit(lines, "turn", extra=1)), f"line {n_turn}: unknown fields for a turn"),
        (
            _text_of(_edit(lines, "turn", role=_DROP)),
            f"line {n_turn}: missing fields for a turn: role",
        ),
        (
            _text_of(_edit(lines, "turn", role="narrator")),
            f"line {n_turn} (turn): role must be one of",
        ),
        (_text_of(_edit(lines, "memory", type="opinion")), "(memory): type must be one of"),
        (_text_of(_edit(lines, "memory", content="")), "(memory): content must not be empty"),
        (
            _text_of(_edit(lines, "memory", content="x" * 40_000)),
            "(memory): content is 40000 bytes",
        ),
        (_text_of(_edit(lines, "memory", created_at="yesterday")), "created_at must be a finite"),
        (_text_of(_edit(lines, "memory", created_at=-1)), "created_at must not be negative"),
        (_text_of(_edit(lines, "memory", valid_to=True)), "valid_to must be a finite"),
        (_text_of(_edit(lines, "memory", turn_ids=[0])), "turn_ids must be a list of positive"),
        (_text_of(_edit(lines, "memory", metadata=[1])), "metadata must be a JSON object"),
        (_text_of(_edit(lines, "memory", session_id="nope")), "memory of session 'nope', not in"),
        (_text_of(_edit(lines, "memory", id=None)), "id must be a string, got null"),
        (_text_of(_edit(lines, "idempotency", memory_id="nope")), "key for memory 'nope', not in"),
        (_text_of(_edit(lines, "turn", session_id="nope")), "turn of session 'nope', not in"),
        (_text_of(_edit(lines, "turn", turn=99)), "is not below the session's next_turn"),
        (_text_of(_edit(lines, "session", next_turn=0)), "next_turn must be between"),
        (_text_of(_edit(lines, "document", chunks=[])), "chunks must be a non-empty list"),
        (_text_of(_edit(lines, "kv", space="Bad Space")), "invalid KV space 'Bad Space'"),
        (_text_of(_edit(lines, "kv", value=float("nan"))), "JSON cannot carry"),
        (_text_of(_edit(lines, "vector", vector=[0, 0, 0])), "vector must not be all zeros"),
        (_text_of(_edit(lines, "vector", vector=[1.0, 2.0])), "holds 3-dimensional vectors; got 2"),
        (_text_of(_edit(lines, "vector", collection="other")), "collection 'other', not in"),
        (_text_of(_without(lines, "session")), "turn of session 's1', not in the export"),
        (_text_of([*lines[:-1], lines[2], lines[-1]]), "a second turn with (session, turn)"),
        (_text_of([*lines, lines[1]]), "a line after the end line"),
    ]


def test_bad_input_is_a_400_naming_the_line_and_changes_nothing(pair, clock) -> None:
    source, target = pair
    exported = _sample(source, clock)
    cases = _bad_cases(exported)
    for data, message in cases:
        with pytest.raises(InvalidInput) as refused:
            target.import_profile(data)
        assert message in str(refused.value), (message, str(refused.value))
        assert target.txid == 0 and target.export_profile().count("\n") == 2
    # The intact export still goes in, as one transaction.
    assert target.import_profile(exported).txid == 1
    assert target.export_profile() == exported


def test_an_import_reads_lines_too_and_says_what_it_wrote(pair, clock, tmp_path) -> None:
    source, target = pair
    exported = _sample(source, clock)
    path = tmp_path / "alice.jsonl"
    path.write_text(exported)
    with path.open() as lines:
        result = target.import_profile(lines)
    assert result.counts == {
        "session": 1,
        "turn": 2,
        "memory": 4,
        "idempotency": 1,
        "document": 1,
        "kv": 1,
        "collection": 1,
        "vector": 1,
    }
    # Imported items behave like their originals: supersession, dedup, sessions, TTLs.
    assert target.ingest("preference", "Alice is vegan", topic="diet").duplicate
    again = target.ingest("preference", "Alice is vegetarian", topic="diet", idempotency_key="k")
    assert again.txid == result.txid and again.memory.valid_to is not None  # the first answer
    assert target.append_turn("s1", "user", "and you?").turn.turn == 3
    assert target.end_session("s1").deleted_tasks == 1  # its task
    clock.advance(61)
    with pytest.raises(NotFound):
        target.kv_get("scratch", "plan")


def test_an_empty_export_imports_as_nothing(pair) -> None:
    source, target = pair
    result = target.import_profile(source.export_profile())
    assert result.txid == 0 and not any(result.counts.values())


def test_errors_are_the_family(pair) -> None:
    _, target = pair
    with pytest.raises(MemoturnError):
        target.import_profile(12)  # type: ignore[arg-type]
