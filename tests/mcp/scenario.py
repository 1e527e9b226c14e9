"""One walk through every tool, run over each transport and backend: the results must be
the same whether the tools run in process, through a node, over stdio or over HTTP."""

from __future__ import annotations

from tests.mcp.conftest import Session

from memoturn.core.ranking import RECOMMENDED_MIN_SCORE
from memoturn.mcp import TOOL_NAMES

EXPECTED_TOOLS = [
    "memory_ingest",
    "memory_recall",
    "memory_forget",
    "memory_history",
    "memory_get",
    "memory_list",
    "transcript_append",
    "transcript_append_many",
    "transcript_read",
    "session_end",
    "document_add",
    "document_get",
    "document_delete",
    "kv_set",
    "kv_get",
    "kv_delete",
    "kv_list",
    "vector_upsert",
    "vector_query",
    "checkpoint_create",
    "checkpoint_list",
    "rewind",
    "branch_create",
    "branch_list",
    "branch_delete",
    "memory_extract",
]


async def list_tools_of_profile_session(s: Session) -> None:
    tools = await s.tools()
    assert list(tools) == EXPECTED_TOOLS == list(TOOL_NAMES)
    for tool in tools.values():
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert "profile" not in schema["properties"]  # a profile token binds the session
        assert tool.description and "Example:" in tool.description
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    assert "branch" in tools["memory_recall"].input_schema["properties"]
    assert tools["memory_recall"].input_schema["required"] == ["query"]
    assert tools["memory_recall"].annotations.read_only_hint is True
    assert tools["memory_forget"].annotations.destructive_hint is True


async def memories(s: Session) -> None:
    first = await s.call(
        "memory_ingest", type="fact", content="Alice is vegetarian", topic="diet", source="t"
    )
    assert first["txid"] >= 1 and first["duplicate"] is False
    again = await s.call("memory_ingest", type="fact", content="Alice is vegetarian", topic="diet")
    assert again["duplicate"] is True and again["memory"]["id"] == first["memory"]["id"]
    vegan = await s.call("memory_ingest", type="fact", content="Alice is vegan", topic="diet")
    assert vegan["superseded"] == [first["memory"]["id"]] and vegan["txid"] > first["txid"]

    hits = await s.call("memory_recall", query="what does Alice eat?", k=5)
    assert hits["txid"] >= vegan["txid"]
    top = hits["results"][0]
    assert top["scope"] == "memories" and top["memory"]["content"] == "Alice is vegan"
    assert {"score", "relevance", "why"} <= set(top)
    rec = RECOMMENDED_MIN_SCORE
    relevant = await s.call("memory_recall", query="what does Alice eat?", min_score=rec)
    assert [h["memory"]["content"] for h in relevant["results"]] == ["Alice is vegan"]
    unrelated = await s.call("memory_recall", query="capital of Australia", min_score=rec)
    assert unrelated["results"] == []

    history = await s.call("memory_history", topic="diet")
    versions = history["versions"]
    assert [v["content"] for v in versions] == ["Alice is vegetarian", "Alice is vegan"]
    assert versions[0]["superseded_by"] == vegan["memory"]["id"]

    forgot = await s.call("memory_forget", memory_id=vegan["memory"]["id"], reason="asked to")
    assert forgot["count"] == 1 and forgot["txid"] > vegan["txid"]
    hits = await s.call("memory_recall", query="what does Alice eat?", types=["fact"])
    assert vegan["memory"]["id"] not in [h["memory"]["id"] for h in hits["results"]]
    history = await s.call("memory_history", topic="diet")
    assert history["versions"][-1]["forgotten_reason"] == "asked to"
    moved = await s.call(
        "memory_ingest",
        type="event",
        content="Alice moved to Lyon",
        valid_from="2020-01-01T00:00:00Z",
    )
    assert moved["memory"]["valid_from"] == "2020-01-01T00:00:00Z"

    got = await s.call("memory_get", memory_id=first["memory"]["id"])
    assert got["memory"]["superseded_by"] == vegan["memory"]["id"] and got["txid"] >= forgot["txid"]
    listed = await s.call("memory_list", include_history=True, limit=1)
    assert [m["id"] for m in listed["memories"]] == [first["memory"]["id"]]
    rest = await s.call("memory_list", include_history=True, cursor=listed["next_cursor"])
    assert [m["id"] for m in rest["memories"]] == [vegan["memory"]["id"], moved["memory"]["id"]]
    assert rest["next_cursor"] is None
    current = (await s.call("memory_list"))["memories"]  # both diet versions are retired
    assert [m["id"] for m in current] == [moved["memory"]["id"]]


async def transcripts_and_sessions(s: Session) -> None:
    await s.call("transcript_append", session_id="chat-1", role="user", content="Book a table")
    turn = await s.call(
        "transcript_append", session_id="chat-1", role="assistant", content="For how many?"
    )
    assert turn["turn"]["turn"] == 2 and turn["txid"] >= 1
    read = await s.call("transcript_read", session_id="chat-1")
    assert [(t["role"], t["content"]) for t in read["turns"]] == [
        ("user", "Book a table"),
        ("assistant", "For how many?"),
    ]
    assert (await s.call("transcript_read", session_id="chat-1", after=1))["turns"][0]["turn"] == 2
    many = await s.call(
        "transcript_append_many",
        session_id="chat-2",
        turns=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    )
    assert [t["turn"] for t in many["turns"]] == [1, 2] and many["txid"] > turn["txid"]
    noted = await s.call(
        "memory_ingest", type="fact", content="Alice said hi", session_id="chat-2", turn_ids=[1]
    )
    assert noted["memory"]["turn_ids"] == [1]

    task = await s.call(
        "memory_ingest", type="task", content="Find a vegan restaurant", session_id="chat-1"
    )
    hits = await s.call("memory_recall", query="restaurant", types=["task"])
    assert [h["memory"]["id"] for h in hits["results"]] == [task["memory"]["id"]]
    ended = await s.call("session_end", session_id="chat-1")
    assert ended["deleted_tasks"] == 1 and ended["txid"] > task["txid"]
    assert (await s.call("memory_recall", query="restaurant", types=["task"]))["results"] == []
    assert len((await s.call("transcript_read", session_id="chat-1"))["turns"]) == 2


async def documents(s: Session) -> None:
    text = "Travel policy. Economy class for flights under six hours. Hotels up to 180 EUR."
    added = await s.call("document_add", content=text, title="Travel policy")
    doc = added["document"]
    assert added["txid"] >= 1 and doc["chunks"] == 1 and "content" not in doc
    got = await s.call("document_get", document_id=doc["id"])
    assert got["document"]["content"] == text and got["document"]["title"] == "Travel policy"
    hits = await s.call("memory_recall", query="hotel budget", scopes=["documents"])
    assert hits["results"][0]["memory"]["document_id"] == doc["id"]
    deleted = await s.call("document_delete", document_id=doc["id"])
    assert deleted["count"] == 1 and deleted["txid"] > added["txid"]
    gone = await s.fail("document_get", document_id=doc["id"])
    assert gone["code"] == "not_found"


async def kv_and_vectors(s: Session) -> None:
    item = await s.call("kv_set", space="scratch", key="plan/1", value={"step": 2}, ttl_s=3600)
    assert item["value"] == {"step": 2} and item["expires_at"] and item["txid"] >= 1
    await s.call("kv_set", space="scratch", key="plan/2", value=[1, "two"])
    await s.call("kv_set", space="scratch", key="other", value=None)
    assert (await s.call("kv_get", space="scratch", key="plan/1"))["value"] == {"step": 2}
    listed = await s.call("kv_list", space="scratch", prefix="plan/")
    assert [(i["key"], i["value"]) for i in listed["items"]] == [
        ("plan/1", {"step": 2}),
        ("plan/2", [1, "two"]),
    ]
    assert (await s.call("kv_delete", space="scratch", key="plan/1"))["count"] == 1
    assert (await s.call("kv_delete", space="scratch", key="plan/1"))["count"] == 0
    assert (await s.fail("kv_get", space="scratch", key="plan/1"))["code"] == "not_found"

    await s.call("vector_upsert", collection="img", id="a", vector=[1, 0, 0], metadata={"n": 1})
    await s.call("vector_upsert", collection="img", id="b", vector=[0, 1, 0])
    written = await s.call("vector_upsert", collection="img", id="c", vector=[0.9, 0.1, 0])
    assert written["txid"] >= 1
    hits = await s.call("vector_query", collection="img", vector=[1, 0.05, 0], k=2)
    assert [h["id"] for h in hits["results"]] == ["a", "c"]
    assert hits["results"][0]["metadata"] == {"n": 1}
    wrong = await s.fail("vector_query", collection="img", vector=[1, 0])
    assert wrong["code"] == "invalid" and "3-dimensional" in wrong["message"]


async def checkpoints_and_rewind(s: Session) -> None:
    cp = await s.call("checkpoint_create", name="before")
    assert cp["name"] == "before" and cp["branch"] == "main"
    await s.call("kv_set", space="rw", key="k", value="after the checkpoint")
    rewound = await s.call("rewind", checkpoint="before")
    assert rewound["undo_checkpoint"].startswith("undo-rewind-") and rewound["txid"] > cp["txid"]
    assert (await s.fail("kv_get", space="rw", key="k"))["code"] == "not_found"
    names = [c["name"] for c in (await s.call("checkpoint_list"))["checkpoints"]]
    assert "before" in names and rewound["undo_checkpoint"] in names
    await s.call("rewind", checkpoint=rewound["undo_checkpoint"])  # undo the rewind
    assert (await s.call("kv_get", space="rw", key="k"))["value"] == "after the checkpoint"
    both = await s.fail("rewind", checkpoint="before", txid=1)
    assert both["code"] == "invalid" and "exactly one" in both["message"]


async def branches(s: Session) -> None:
    made = await s.call("branch_create", name="what-if", ttl_s=3600)
    assert made["name"] == "what-if" and made["parent"] == "main" and made["expires_at"]
    await s.call("kv_set", space="exp", key="k", value="only on the branch", branch="what-if")
    assert (await s.call("kv_get", space="exp", key="k", branch="what-if"))["value"]
    assert (await s.fail("kv_get", space="exp", key="k"))["code"] == "not_found"
    inherited = await s.call("kv_get", space="rw", key="k", branch="what-if")
    assert inherited["value"] == "after the checkpoint"  # the fork starts with main's state
    listed = [b["name"] for b in (await s.call("branch_list"))["branches"]]
    assert listed[0] == "main" and "what-if" in listed
    assert await s.call("branch_delete", name="what-if") == {"deleted": True, "name": "what-if"}
    assert "what-if" not in [b["name"] for b in (await s.call("branch_list"))["branches"]]
    main = await s.fail("branch_delete", name="main")
    assert main["code"] == "conflict" and main["hint"]


async def bad_arguments(s: Session) -> None:
    # One message for one error on every transport, phrased for the caller.
    k = await s.fail("memory_recall", query="x", k="five")
    assert k == {"code": "invalid", "message": "k must be an integer, got a string", "hint": ""}
    big = await s.fail("memory_recall", query="x", k=500)
    assert big["message"] == "k must be between 1 and 200, got 500"
    for bad in (1.5, -1):
        score = await s.fail("memory_recall", query="x", min_score=bad)
        assert score["code"] == "invalid" and "min_score" in score["message"]
    score = await s.fail("memory_recall", query="x", min_score=True)
    assert score["message"] == "min_score must be a number, got a boolean"
    kind = await s.fail("memory_ingest", type="opinion", content="x")
    assert kind["code"] == "invalid" and "fact, preference" in kind["message"]
    missing = await s.fail("memory_ingest", type="fact")
    assert missing["message"] == "missing required field: content"
    other = await s.fail("memory_recall", query="x", profile="bob")
    assert other["message"] == "unknown field: profile" and "query" in other["hint"]
    for answer in (k, big, kind, missing, other):
        assert "body." not in answer["message"] and "openapi" not in answer["hint"]
    empty = await s.fail("memory_ingest", type="fact", content="   ")
    assert empty["code"] == "invalid" and "content" in empty["message"]
    assert (await s.fail("no_such_tool"))["code"] == "not_found"


async def extraction(s: Session) -> None:
    await s.call(
        "transcript_append", session_id="chat-x", role="user", content="My home town is Braga."
    )
    await s.call("transcript_append", session_id="chat-x", role="assistant", content="Lovely!")
    done = await s.call("memory_extract", session_id="chat-x", extractor="rules")
    assert [(o["turn"], o["action"]) for o in done["report"]] == [(1, "ADD"), (2, "SKIP")]
    assert done["extracted_through"] == 2 and done["pending"] == 0 and "memories" not in done
    got = await s.call("memory_get", memory_id=done["report"][0]["memory_id"])
    assert got["memory"]["content"] == "The user's home town is Braga"
    assert got["memory"]["turn_ids"] == [1] and got["memory"]["session_id"] == "chat-x"
    again = await s.call("memory_extract", session_id="chat-x")
    assert again["report"] == [] and again["txid"] == done["txid"]
    bad = await s.fail("memory_extract", session_id="chat-x", extractor="gpt")
    assert bad["code"] == "invalid"
    missing = await s.fail("memory_extract", session_id="nope")
    assert missing["code"] == "not_found"


async def exercise(s: Session) -> None:
    """Every tool of a session bound to one fresh profile by a profile token."""
    await list_tools_of_profile_session(s)
    await memories(s)
    await transcripts_and_sessions(s)
    await documents(s)
    await kv_and_vectors(s)
    await checkpoints_and_rewind(s)
    await branches(s)
    await extraction(s)
    await bad_arguments(s)
