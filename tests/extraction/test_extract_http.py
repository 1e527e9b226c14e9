"""Extraction over REST, the SDK (sync and async) and the CLI, on a node on loopback whose
extractor is the scripted chat server (a fake: no real chat model can run here)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from tests.extraction.chat_server import completion, memories
from tests.extraction.conftest import chat_extractor

from memoturn import Client
from memoturn.cli import main as cli_main
from memoturn.client import AsyncClient
from memoturn.http import ThrowawayNode

P = "/v1/namespaces/acme/profiles/alice"
TURNS = [
    {"role": "user", "content": "I live in Lisbon."},
    {"role": "assistant", "content": "Nice city!"},
]


@pytest.fixture
def node(tmp_path, embedder, chat) -> Iterator[ThrowawayNode]:
    with ThrowawayNode(tmp_path / "node", embedder=embedder, extractor=chat_extractor(chat)) as n:
        n.engine.create_namespace("acme")
        n.engine.create_profile("acme", "alice")
        n.engine.profile("acme", "alice").append_turns("chat-1", TURNS)
        yield n


@pytest.fixture
def root(node) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=node.url, headers={"Authorization": f"Bearer {node.root_token}"}
    ) as c:
        yield c


def test_rest_extract_answers_the_report(node, root, chat) -> None:
    chat.answers.append(memories(("fact", "The user lives in Lisbon", "home", [1])))
    r = root.post(f"{P}/sessions/chat-1/extract", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(o["turn"], o["action"]) for o in body["report"]] == [(1, "ADD"), (2, "SKIP")]
    assert body["report"][1]["reason"].endswith("found nothing here")
    assert body["memories"][0]["content"] == "The user lives in Lisbon"
    assert (body["extracted_through"], body["pending"], body["preview"]) == (2, 0, False)
    again = root.post(f"{P}/sessions/chat-1/extract", json={}).json()
    assert again["report"] == [] and again["txid"] == body["txid"] and len(chat.requests) == 1


def test_a_deny_namespace_is_403_and_the_model_gets_nothing(node, root, chat) -> None:
    node.engine.set_policy("acme", {"ai_egress": "deny"})
    for body in ({}, {"preview": True}, {"extractor": "node"}):
        r = root.post(f"{P}/sessions/chat-1/extract", json=body)
        assert r.status_code == 403, r.text
        error = r.json()["error"]
        assert error["code"] == "egress_denied" and "nothing was read or sent" in error["message"]
    assert chat.requests == []
    r = root.post(f"{P}/sessions/chat-1/extract", json={"extractor": "rules"})
    assert r.status_code == 200 and r.json()["report"][0]["action"] == "ADD"
    assert chat.requests == []


def test_malformed_model_output_is_502_and_nothing_is_applied(node, root, chat) -> None:
    chat.answers.extend([completion("nope")] * 3)
    r = root.post(f"{P}/sessions/chat-1/extract", json={})
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "extractor_failed" and len(chat.requests) == 3
    assert root.get(f"{P}/memories").json()["memories"] == []


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/sessions/chat-1/extract", {"preview": "yes"}, "preview must be a boolean"),
        ("/sessions/chat-1/extract", {"extractor": "gpt"}, "extractor must be one of"),
        ("/sessions/chat-1/extract", {"max_turns": 0}, "max_turns must be between 1 and 100000"),
        ("/sessions/chat-1/extract", {"max_turns": True}, "max_turns must be an integer"),
        ("/sessions/chat-1/extract", {"turns": 3}, "unknown field: turns"),
        ("/sessions/chat-1/extract", [], "the request body"),
        ("/sessions/bad%20id/extract", {}, "invalid session_id"),
        ("/sessions/chat-1/extract/apply", {}, "missing required field: branch"),
        ("/sessions/chat-1/extract/apply", {"branch": "Bad--x"}, "branch"),
        ("/sessions/chat-1/extract/apply", {"branch": "main"}, "not forked from"),
        ("/sessions", {"session_id": "s", "auto_extract": "often"}, "auto_extract"),
        ("/sessions", {"session_id": "s", "auto_extract": {"every_turns": 0}}, "every_turns"),
        ("/sessions", {"session_id": "s", "auto_extract": {"every": 2}}, "unknown field"),
        ("/sessions", {"session_id": "s", "auto_extract": {"at_end": "y"}}, "at_end"),
    ],
)
def test_bad_input_is_400_and_changes_nothing(node, root, chat, path, body, message) -> None:
    before = root.get(f"{P}/branches").json()
    txid = node.engine.profile("acme", "alice").txid
    r = root.post(P + path, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid" and message in error["message"], error
    assert chat.requests == [] and node.engine.profile("acme", "alice").txid == txid
    assert root.get(f"{P}/branches").json() == before


def test_an_unknown_session_is_404(node, root, chat) -> None:
    r = root.post(f"{P}/sessions/nope/extract", json={"preview": True})
    assert r.status_code == 404 and chat.requests == []
    assert [b["name"] for b in root.get(f"{P}/branches").json()["branches"]] == ["main"]


def test_sdk_preview_then_apply(node, chat) -> None:
    chat.answers.append(memories(("fact", "The user lives in Lisbon", "home", [1])))
    with Client(node.url, node.root_token) as client:
        alice = client.profile("acme", "alice")
        pv = alice.extract("chat-1", preview=True)
        assert pv.preview and pv.branch and [o.action for o in pv.report] == ["ADD", "SKIP"]
        assert alice.list_memories().memories == []
        burner = client.profile("acme", "alice", pv.branch).list_memories().memories
        assert [m.content for m in burner] == ["The user lives in Lisbon"]
        done = alice.extract_apply("chat-1", pv.branch)
        assert [o.action for o in done.report] == ["ADD", "SKIP"] and done.branch == pv.branch
        assert [m.content for m in alice.list_memories().memories] == ["The user lives in Lisbon"]
        assert [b.name for b in client.list_branches("acme", "alice")] == ["main"]
    assert len(chat.requests) == 1


def test_async_sdk_extract_and_auto_extract_setting(node, chat) -> None:
    chat.answers.append(memories())

    async def run() -> None:
        async with AsyncClient(node.url, node.root_token) as client:
            alice = client.profile("acme", "alice")
            s = await alice.open_session("auto", auto_extract={"every_turns": 5})
            assert s.session.auto_extract == {"every_turns": 5, "at_end": False}
            got = await alice.get_session("auto")
            assert got.session.auto_extract == {"every_turns": 5, "at_end": False}
            r = await alice.extract("chat-1", max_turns=1)
            assert [o.turn for o in r.report] == [1] and r.pending == 1

    asyncio.run(run())


def test_a_branch_locked_token_may_not_preview_or_apply(node, chat) -> None:
    with Client(node.url, node.root_token) as client:
        locked = client.mint_token("acme", "alice", branch="main").token
    with httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {locked}"}) as c:
        r = c.post(f"{P}/sessions/chat-1/extract", json={"preview": True})
        assert r.status_code == 403, r.text
        r = c.post(f"{P}/sessions/chat-1/extract/apply", json={"branch": "extract-x"})
        assert r.status_code == 403, r.text
    assert chat.requests == []


def test_a_read_only_token_may_not_extract(node, chat) -> None:
    with Client(node.url, node.root_token) as client:
        reader = client.mint_token("acme", "alice", scopes=["read"]).token
    with httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {reader}"}) as c:
        assert c.post(f"{P}/sessions/chat-1/extract", json={}).status_code == 403
    assert chat.requests == []


def test_the_openapi_document_names_the_operations(node, root) -> None:
    doc = root.get("/openapi.json").json()
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert {"extract", "extract_apply"} <= ops


def test_the_cli_prints_the_report(node, chat, capsys) -> None:
    chat.answers.append(memories(("fact", "The user lives in Lisbon", "home", [1])))
    base = ["--url", node.url, "--token", node.root_token]
    assert cli_main(["extract", "acme/alice", "chat-1", "--preview", *base]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("chat:scripted-model: extracted through turn 2, 0 pending; preview")
    assert out[1].startswith("turn 1\tADD\t") and out[1].endswith("\tfact\ttopic home")
    assert out[2] == "turn 2\tSKIP\tthe chat:scripted-model extractor found nothing here"
    branch = out[0].split("preview on branch ")[1].split(" ")[0]
    assert cli_main(["extract", "acme/alice", "chat-1", "--apply", branch, "--json", *base]) == 0
    applied = json.loads(capsys.readouterr().out)
    assert [o["action"] for o in applied["report"]] == ["ADD", "SKIP"]
    assert cli_main(["extract", "acme/alice", "chat-1", *base]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "(no new turns)"
    assert cli_main(["extract", "acme/alice", "chat-1", "--apply", branch, "--rules", *base]) == 1
    assert "--apply takes no" in capsys.readouterr().err
