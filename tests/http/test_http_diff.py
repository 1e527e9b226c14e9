"""``GET P/diff``: the current memories of two points of history compared, over REST, the
SDK (sync and async) and the CLI, with the 400/403/404 a client can cause."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
from tests.http.conftest import bearer

import memoturn
from memoturn.core.diff import parse_point
from memoturn.core.errors import InvalidInput, NotFound
from memoturn.http.auth import MAIN

P = "/v1/namespaces/diffs/profiles/alice"


def _ingest(root: httpx.Client, content: str, branch: str = MAIN, **fields: object) -> dict:
    r = root.post(
        P + "/memories",
        params={"branch": branch},
        json={"type": "fact", "content": content, **fields},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _diff(root: httpx.Client, frm: str, to: str, branch: str = MAIN) -> httpx.Response:
    return root.get(P + "/diff", params={"from": frm, "to": to, "branch": branch})


def _contents(memories: list[dict]) -> list[str]:
    return sorted(m["content"] for m in memories)


@pytest.fixture(scope="module")
def history(admin, root) -> dict[str, object]:
    """main: a, b(topic diet) | checkpoint one | b' supersedes b, c, a re-ingested with new
    metadata | checkpoint two | forget c; branch exp forked at one: d."""
    admin.provision("diffs", "alice")
    a = _ingest(root, "Alice lives in Lyon")["memory"]
    _ingest(root, "Alice eats meat", topic="diet")
    assert root.post(P + "/checkpoints", json={"name": "one"}).status_code == 201
    t_one = root.get(P + "/checkpoints").json()["checkpoints"][0]["txid"]
    _ingest(root, "Alice is vegetarian", topic="diet")
    c = _ingest(root, "Alice has a cat")["memory"]
    again = _ingest(root, "Alice lives in Lyon", metadata={"verified": True})
    assert again["duplicate"] and again["memory"]["id"] == a["id"]
    assert root.post(P + "/checkpoints", json={"name": "two"}).status_code == 201
    assert root.delete(P + f"/memories/{c['id']}").status_code == 200
    r = root.post(P + "/branches", json={"name": "exp", "from_checkpoint": "one"})
    assert r.status_code == 201, r.text
    _ingest(root, "Alice moved to Oslo", branch="exp")
    return {"a": a, "c": c, "t_one": t_one}


def test_diff_between_two_checkpoints(root, history) -> None:
    r = _diff(root, "checkpoint:one", "checkpoint:two")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["from_point"] == {"spec": "checkpoint:one", "branch": "main", "txid": history["t_one"]}
    assert d["to_point"]["branch"] == "main" and d["to_point"]["txid"] > history["t_one"]
    assert _contents(d["added"]) == ["Alice has a cat", "Alice is vegetarian"]
    assert _contents(d["removed"]) == ["Alice eats meat"]
    (changed,) = d["changed"]
    assert changed["id"] == history["a"]["id"] and changed["fields"] == ["metadata"]
    assert changed["before"]["metadata"] == {} and changed["after"]["metadata"] == {
        "verified": True
    }
    assert isinstance(d["txid"], int)


def test_diff_is_antisymmetric_and_empty_against_itself(root, history) -> None:
    there = _diff(root, "checkpoint:one", "checkpoint:two").json()
    back = _diff(root, "checkpoint:two", "checkpoint:one").json()
    assert _contents(back["added"]) == _contents(there["removed"])
    assert _contents(back["removed"]) == _contents(there["added"])
    same = _diff(root, "checkpoint:two", "checkpoint:two").json()
    assert (same["added"], same["removed"], same["changed"]) == ([], [], [])


def test_diff_to_the_head_sees_the_forget(root, history) -> None:
    d = _diff(root, "checkpoint:two", "branch:main").json()
    assert _contents(d["removed"]) == ["Alice has a cat"] and d["added"] == []


def test_diff_across_branches(root, history) -> None:
    d = _diff(root, "branch:main", "branch:exp").json()
    assert d["to_point"]["branch"] == "exp"
    # exp was forked at checkpoint one: it never got main's later writes, and has its own.
    assert _contents(d["added"]) == ["Alice eats meat", "Alice moved to Oslo"]
    assert _contents(d["removed"]) == ["Alice is vegetarian"]
    # A checkpoint of another branch, named from exp.
    d = _diff(root, "checkpoint:main/one", "branch:exp", branch="exp").json()
    assert d["from_point"]["branch"] == "main"
    assert _contents(d["added"]) == ["Alice moved to Oslo"] and d["removed"] == []


def test_diff_between_txids(root, history) -> None:
    d = _diff(root, "txid:0", f"txid:{history['t_one']}").json()
    assert d["from_point"]["txid"] == 0
    assert _contents(d["added"]) == ["Alice eats meat", "Alice lives in Lyon"]
    d = _diff(root, f"txid:main/{history['t_one']}", "branch:main", branch="exp").json()
    assert "Alice is vegetarian" in _contents(d["added"])


def test_diff_after_a_rewind_shows_what_it_undid(root, admin) -> None:
    admin.root.post("/v1/namespaces/diffs/profiles", json={"name": "rew"}).raise_for_status()
    base = "/v1/namespaces/diffs/profiles/rew"
    root.post(base + "/memories", json={"type": "fact", "content": "kept"}).raise_for_status()
    root.post(base + "/checkpoints", json={"name": "good"}).raise_for_status()
    root.post(base + "/memories", json={"type": "fact", "content": "mistake"}).raise_for_status()
    undo = root.post(base + "/rewind", json={"checkpoint": "good"}).json()["undo_checkpoint"]
    d = root.get(base + "/diff", params={"from": f"checkpoint:{undo}", "to": "branch:main"})
    assert d.status_code == 200, d.text
    assert _contents(d.json()["removed"]) == ["mistake"] and d.json()["added"] == []


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "one",
        "checkpoint:",
        "checkpoint:One",
        "tag:one",
        "txid:-1",
        "txid:1.5",
        "txid:abc",
        "txid:99999999999999999999",
        "branch:main/one",
        "branch:a--b",
        "checkpoint:main/",
        "checkpoint:/one",
        "x" * 200,
    ],
)
def test_a_bad_spec_is_400_naming_the_side(root, history, spec: str) -> None:
    for params in ({"from": spec, "to": "branch:main"}, {"from": "branch:main", "to": spec}):
        r = root.get(P + "/diff", params=params)
        assert r.status_code == 400, (spec, r.text)
        side = "from" if params["from"] == spec else "to"
        assert r.json()["error"]["code"] == "invalid"
        assert side in r.json()["error"]["message"]


def test_missing_points_are_400(root, history) -> None:
    for params in ({}, {"from": "branch:main"}, {"to": "branch:main"}):
        r = root.get(P + "/diff", params=params)
        assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "frm",
    ["checkpoint:nope", "checkpoint:exp/two", "branch:nope", "txid:100000", "txid:exp/1"],
)
def test_an_unknown_point_is_404(root, history, frm: str) -> None:
    r = _diff(root, frm, "branch:main")
    assert r.status_code == 404, (frm, r.text)
    assert r.json()["error"]["code"] == "not_found"


def test_a_branch_locked_token_names_only_its_branch(admin, node, history) -> None:
    token = admin.mint("diffs", profile="alice", branch="exp", scopes=["read"])
    with httpx.Client(base_url=node.url, headers=bearer(token)) as c:
        ok = c.get(P + "/diff", params={"from": "txid:exp/1", "to": "branch:exp", "branch": "exp"})
        assert ok.status_code == 404  # exp starts at main's txid 2: txid 1 is main's
        ok = c.get(P + "/diff", params={"from": "branch:exp", "to": "branch:exp", "branch": "exp"})
        assert ok.status_code == 200, ok.text
        for frm in ("branch:main", "checkpoint:main/one"):
            r = c.get(P + "/diff", params={"from": frm, "to": "branch:exp", "branch": "exp"})
            assert r.status_code == 403, r.text
    other = admin.mint("diffs", profile="rew")
    with httpx.Client(base_url=node.url, headers=bearer(other)) as c:
        r = c.get(P + "/diff", params={"from": "checkpoint:nope", "to": "branch:main"})
        assert r.status_code == 403  # reveals nothing about alice


def test_the_sdk_sync_and_async_answer_the_same(node, history) -> None:
    with memoturn.Client(node.url, node.root_token) as client:
        d = client.profile("diffs", "alice").diff("checkpoint:one", "checkpoint:two")
    assert sorted(m.content for m in d.added) == ["Alice has a cat", "Alice is vegetarian"]
    assert d.changed[0].fields == ["metadata"] and d.from_point.txid == history["t_one"]

    async def run() -> memoturn.core.model.MemoryDiff:
        async with memoturn.AsyncClient(node.url, node.root_token) as client:
            return await client.profile("diffs", "alice").diff("checkpoint:one", "checkpoint:two")

    assert asyncio.run(run()) == d
    with memoturn.Client(node.url, node.root_token) as client, pytest.raises(NotFound):
        client.profile("diffs", "alice").diff("checkpoint:nope", "branch:main")
    with memoturn.Client(node.url, node.root_token) as client, pytest.raises(InvalidInput):
        client.profile("diffs", "alice").diff("nope", "branch:main")


def test_the_engine_answers_the_same_in_process(node, history) -> None:
    d = node.engine.profile("diffs", "alice").diff("checkpoint:one", "checkpoint:two")
    assert sorted(m.content for m in d.removed) == ["Alice eats meat"]


def test_the_cli_prints_the_diff(node, history) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "memoturn.cli", "diff", "diffs/alice", "--from", "checkpoint:one",
         "--to", "checkpoint:two", "--url", node.url, "--token", node.root_token],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("from checkpoint:one (main@")
    assert any(line.startswith("+ ") and "Alice has a cat" in line for line in lines)
    assert any(line.startswith("- ") and "Alice eats meat" in line for line in lines)
    assert any(line.startswith("~ ") and "(changed: metadata)" in line for line in lines)


def test_parse_point_defaults_to_the_request_branch() -> None:
    assert parse_point("txid:7", "from", "exp").branch == "exp"
    assert parse_point("checkpoint:main/one", "from", "exp").branch == "main"
    assert parse_point("branch:exp", "to", "main").txid is None
    with pytest.raises(InvalidInput):
        parse_point(7, "from", "main")
