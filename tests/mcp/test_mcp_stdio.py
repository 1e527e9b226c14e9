"""`memoturn mcp` over stdio, spawned as a subprocess and driven by the real mcp client:
in process (``--data DIR``) and through a node (``--url``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.mcp.conftest import stdio_session
from tests.mcp.scenario import exercise

import memoturn
from memoturn.engine.tokens import TokenAuthority
from memoturn.mcp import main

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, embedder) -> tuple[Path, dict[str, str]]:
    """A data directory as `memoturn serve` leaves it (root.token, DATA/store) with acme/alice
    and acme/bob, and a profile token for each."""
    data = tmp_path_factory.mktemp("mcp-data")
    with memoturn.open(data, embedder=embedder) as engine:
        authority = TokenAuthority(engine)
        authority.ensure_root_token()
        engine.create_namespace("acme")
        root = authority.verify(authority.mint_root())
        tokens = {}
        for p in ("alice", "bob"):
            engine.create_profile("acme", p)
            tokens[p] = authority.mint(root, "acme", profile=p).token
    return data, tokens


async def test_every_tool_in_process(data_dir) -> None:
    data, tokens = data_dir
    async with stdio_session("--data", str(data), "--token", tokens["alice"]) as s:
        await exercise(s)


async def test_in_process_another_profiles_token_is_refused(data_dir) -> None:
    data, tokens = data_dir
    args = ("--data", str(data), "--token", tokens["bob"], "--profile", "alice")
    async with stdio_session(*args) as s:
        refused = await s.fail("memory_recall", query="Alice")
        assert refused["code"] == "forbidden"
        assert refused["message"] == "this token may not act on this profile"


async def test_in_process_with_the_root_token_of_the_directory(
    data_dir, tmp_path, embedder
) -> None:
    """No token: DATA/root.token; the profile named by the flags is created."""
    data, _ = data_dir
    async with stdio_session("--data", str(data), "--namespace", "me", "--profile", "p") as s:
        wrote = await s.call("memory_ingest", type="fact", content="I run in process")
        assert wrote["txid"] == 1
    # What it wrote is in DATA/store, where a node on DATA (here: another engine) reads it.
    store = (data / "store").as_uri()
    with memoturn.open(tmp_path, object_store=store, embedder=embedder) as engine:
        memories = engine.profile("me", "p").list_memories().memories
        assert [m.content for m in memories] == ["I run in process"]


async def test_every_tool_through_a_node(node) -> None:
    node.provision("remote", "carol", "dave")
    async with stdio_session("--url", node.url, "--token", node.token("remote", "carol")) as s:
        await exercise(s)
    args = ("--url", node.url, "--token", node.token("remote", "dave"), "--profile", "carol")
    async with stdio_session(*args, mode="auto") as s:
        refused = await s.fail("memory_recall", query="anything")
        assert refused["code"] == "forbidden" and refused["hint"]


def test_help_explains_with_examples(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "memoturn mcp --url http://127.0.0.1:8765 --token" in out
    assert "memoturn mcp --data" in out and "mcpServers" in out


def test_startup_errors_are_clear(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("MEMOTURN_TOKEN", raising=False)
    assert main(["--url", "http://127.0.0.1:9", "--data", "x"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["--url", "http://127.0.0.1:9", "--token", "not-a-jwt"]) == 1
    err = capsys.readouterr().err
    assert "error: the token is not a Memoturn token" in err and "hint:" in err
    (tmp_path / "root.token").write_text("eyJ...\n")  # a node whose store is elsewhere (S3)
    assert main(["--data", str(tmp_path)]) == 1
    assert "has no local object store" in capsys.readouterr().err


async def test_stdio_tool_allow_list(data_dir) -> None:
    data, tokens = data_dir
    args = ("--data", str(data), "--token", tokens["alice"], "--tools", "memory_recall,memory_list")
    async with stdio_session(*args, "--compact") as s:
        assert sorted(await s.tools()) == ["memory_list", "memory_recall"]
        assert (await s.fail("memory_ingest", type="fact", content="x"))["code"] == "not_found"


def test_an_unknown_tool_in_the_allow_list_is_a_clear_error(capsys, tmp_path) -> None:
    from memoturn.mcp.command import main

    data = tmp_path / "never-made"
    assert main(["--data", str(data), "--tools", "memory_recal"]) == 1
    err = capsys.readouterr().err
    assert "unknown tools: memory_recal" in err and "memory_recall" in err
    assert not data.exists()  # refused before anything was opened
