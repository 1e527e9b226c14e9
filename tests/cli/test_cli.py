"""The ``memoturn`` command: help everywhere, docs for every command, and a real node
started with ``memoturn serve`` driven by the client commands."""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from memoturn import cli
from memoturn.http import ThrowawayNode

ROOT = Path(__file__).resolve().parents[2]
MEMOTURN = [sys.executable, "-m", "memoturn.cli"]


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator:
    """Every command path (e.g. ("checkpoint", "create")) with its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _commands(sub, (*prefix, name))


ALL = [path for path, _ in _commands(cli.build_parser())]


def test_the_command_set() -> None:
    tops = {p[0] for p in ALL}
    assert tops == {
        "serve", "ns", "profile", "token", "ingest", "recall", "checkpoint", "rewind",
        "branch", "bench", "mcp", "eval", "memories", "sessions", "kv", "documents", "vectors",
        "policy", "audit",
        "export", "import", "diff", "extract", "erasure", "reembed",
    }  # fmt: skip
    for group, actions in {
        "profile": {"create", "create-many", "list", "delete"},
        "checkpoint": {"create", "list", "delete"},
        "branch": {"create", "list", "delete"},
        "token": {"mint", "revoke"},
        "ns": {"create", "list"},
        "policy": {"get", "set"},
        "audit": {"verify", "export"},
        "erasure": {"verify"},
    }.items():
        assert {p[1] for p in ALL if p[0] == group and len(p) == 2} == actions


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_every_command_has_help_with_an_example(path, capsys) -> None:
    try:
        code = cli.main([*path, "--help"])
    except SystemExit as done:
        code = done.code
    assert code in (0, None)
    out = capsys.readouterr().out
    assert out.startswith("usage: memoturn " + " ".join(path))
    if path != ("bench",):  # bench's help is the benchmark's own
        assert "example:\n  memoturn " in out or "memoturn " in out.split("example:")[-1]


def test_top_level_help_in_a_subprocess() -> None:
    r = subprocess.run([*MEMOTURN, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for path in ALL:
        if len(path) == 1:
            assert path[0] in r.stdout


def test_docs_cover_every_command() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    for path in ALL:
        assert re.search(rf"`memoturn {' '.join(path)}\b", page), " ".join(path)


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["ingest", "no-slash", "text"])
    assert done.value.code == 2
    assert "NS/PROFILE" in capsys.readouterr().err


def test_bad_signing_key_and_lonely_s3_endpoint(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MEMOTURN_SIGNING_KEY", "tooshort")
    assert cli.main(["serve", "--data", str(tmp_path), "--port", "0"]) == 1
    assert "MEMOTURN_SIGNING_KEY" in capsys.readouterr().err
    monkeypatch.delenv("MEMOTURN_SIGNING_KEY")
    args = ["serve", "--data", str(tmp_path), "--s3-endpoint", "http://127.0.0.1:9"]
    assert cli.main(args) == 1
    assert "--object-store" in capsys.readouterr().err
    args = ["serve", "--data", str(tmp_path), "--port", "0", "--advertise", "10.0.0.7:8765"]
    assert cli.main(args) == 1
    assert "--advertise must be an http://" in capsys.readouterr().err


def test_advertised_address() -> None:
    assert cli._advertised(None, "127.0.0.1", 8765) == "http://127.0.0.1:8765"
    assert cli._advertised(None, "::1", 8765) == "http://[::1]:8765"
    assert cli._advertised(None, "0.0.0.0", 8765) == ""  # no forwarding to "every interface"
    assert cli._advertised("http://10.0.0.7:8765/", "0.0.0.0", 8765) == "http://10.0.0.7:8765"


class Served:
    """``memoturn serve`` in a subprocess on an OS-chosen port."""

    def __init__(self, data: Path, *options: str) -> None:
        env = {**os.environ, "MEMOTURN_LOG_LEVEL": "warning"}
        env.pop("MEMOTURN_TOKEN", None)
        self.proc = subprocess.Popen(
            [*MEMOTURN, "serve", "--data", str(data), "--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(self._first_lines(3)))
        reader.start()
        reader.join(60)
        assert len(lines) == 3, lines
        self.banner = lines
        match = re.search(r"http://[\d.]+:\d+", lines[0])
        assert match, lines
        self.url = match.group(0)
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"memoturn serve did not answer on {self.url}")

    def _first_lines(self, n: int) -> list[str]:
        assert self.proc.stdout is not None
        return [self.proc.stdout.readline() for _ in range(n)]

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[Served, Path]]:
    data = tmp_path_factory.mktemp("served")
    node = Served(data)
    yield node, data
    if node.proc.poll() is None:
        node.stop()


def _run(served: Served, data: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "MEMOTURN_URL": served.url, "MEMOTURN_DATA": str(data)}
    env.pop("MEMOTURN_TOKEN", None)
    r = subprocess.run(
        [*MEMOTURN, *args], capture_output=True, text=True, env=env, input=stdin, timeout=60
    )
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def test_serve_prints_url_and_root_token(served) -> None:
    node, data = served
    assert node.banner[0].startswith("Memoturn node listening on http://127.0.0.1:")
    token_file = data / "root.token"
    assert str(token_file.resolve()) in node.banner[1]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # Which signing key is in use, and what that means.
    assert node.banner[2].startswith("token-signing key: from the object store, in plain text")
    assert "MEMOTURN_KEY_ENCRYPTION_KEY" in node.banner[2]


def test_commands_end_to_end(served, monkeypatch, capsys) -> None:
    node, data = served
    assert _run(node, data, "ns", "create", "acme").strip() == "namespace created"
    assert _run(node, data, "profile", "create", "acme/alice").strip() == "profile created"
    out = _run(node, data, "ingest", "acme/alice", "-", "--type", "preference", "--topic",
               "diet", stdin="Alice is vegetarian")  # fmt: skip
    assert re.fullmatch(r"[0-9A-Z]{26} txid 1\n", out)
    hits = json.loads(_run(node, data, "recall", "acme/alice", "what should I cook?", "--json"))
    assert hits["results"][0]["memory"]["content"] == "Alice is vegetarian"

    # The rest in process: same code path, without a Python start-up per command.
    monkeypatch.setenv("MEMOTURN_URL", node.url)
    monkeypatch.setenv("MEMOTURN_DATA", str(data))
    monkeypatch.delenv("MEMOTURN_TOKEN", raising=False)

    def run(*args: str) -> str:
        capsys.readouterr()
        assert cli.main(list(args)) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    assert run("profile", "list", "acme") == "alice\n"
    assert run("checkpoint", "create", "acme/alice", "diet-v1") == "checkpoint diet-v1 at txid 1\n"
    run("ingest", "acme/alice", "Alice is vegan", "--type", "preference", "--topic", "diet")
    assert "diet-v1\ttxid 1" in run("checkpoint", "list", "acme/alice")
    assert run("branch", "create", "acme/alice", "exp", "--from-checkpoint", "diet-v1").startswith(
        "branch exp from main@1"
    )
    assert "exp\ttxid 1" in run("branch", "list", "acme/alice")
    assert "Alice is vegetarian" in run("recall", "acme/alice", "diet", "--branch", "exp")
    out = run("rewind", "acme/alice", "--checkpoint", "diet-v1")
    assert "undo with --checkpoint" in out
    assert "Alice is vegan" not in run("recall", "acme/alice", "diet")
    assert run("branch", "delete", "acme/alice", "exp") == "deleted\n"
    assert run("checkpoint", "delete", "acme/alice", "diet-v1") == "deleted\n"

    token = run("token", "mint", "acme", "--profile", "alice", "--scope", "read").strip()
    assert token.count(".") == 2
    monkeypatch.setenv("MEMOTURN_TOKEN", token)
    assert "Alice is vegetarian" in run("recall", "acme/alice", "diet")
    assert cli.main(["ingest", "acme/alice", "nope"]) == 1
    assert "error: this token lacks the 'write' scope" in capsys.readouterr().err
    monkeypatch.delenv("MEMOTURN_TOKEN")
    assert run("token", "revoke", "acme/alice").startswith("revoked")
    assert run("profile", "delete", "acme/alice", "--yes") == "deleted\n"


def test_the_inspector_commands(tmp_path, embedder, monkeypatch, capsys) -> None:
    """memories/sessions/kv/documents/vectors show what a profile holds, page by page, and
    say "(no results)" rather than nothing."""
    import memoturn

    with ThrowawayNode(tmp_path, embedder=embedder) as node:
        monkeypatch.setenv("MEMOTURN_URL", node.url)
        monkeypatch.setenv("MEMOTURN_TOKEN", node.root_token)

        def run(*args: str) -> str:
            capsys.readouterr()
            assert cli.main(list(args)) == 0, capsys.readouterr().err
            return capsys.readouterr().out

        with memoturn.Client(node.url, node.root_token) as client:
            client.create_namespace("acme")
            client.create_profile("acme", "alice")
            p = client.profile("acme", "alice")
            for prefix in ("", "vectors ", "kv ", "documents ", "sessions "):
                assert run(*f"{prefix or 'memories '}list acme/alice".split()) == "(no results)\n"
            old = p.ingest("preference", "Alice is vegetarian", topic="diet").memory
            new = p.ingest("preference", "Alice is vegan", topic="diet").memory
            p.append_turns(
                "chat",
                [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            )
            p.kv_set("scratch", "plan/1", {"step": 1})
            p.add_document("A manual", title="Kettle")
            p.vector_upsert("img", "a", [1.0, 0.0])

        listed = run("memories", "list", "acme/alice")
        assert listed == f"{new.id}\tpreference\t#diet\tAlice is vegan\n"
        page = run("memories", "list", "acme/alice", "--history", "--limit", "1")
        assert (
            page == f"{old.id}\tpreference\t#diet\tAlice is vegetarian\t[superseded]\n"
            f"(more: --cursor {old.id})\n"
        )
        rest = run("memories", "list", "acme/alice", "--history", "--cursor", old.id)
        assert rest.startswith(new.id)
        shown = run("memories", "get", "acme/alice", old.id)
        assert f"superseded by:\t{new.id}" in shown and "content:\tAlice is vegetarian" in shown
        assert run("memories", "forget", "acme/alice", new.id).startswith("forgotten (txid")
        assert run("memories", "forget", "acme/alice", new.id) == "already retired\n"
        assert run("memories", "list", "acme/alice") == "(no results)\n"
        assert run("sessions", "list", "acme/alice").startswith("chat\tcreated ")
        assert run("sessions", "show", "acme/alice", "chat") == "1\tuser\thi\n2\tassistant\thello\n"
        assert run("kv", "list", "acme/alice") == "scratch\t1 keys\n"
        assert run("kv", "list", "acme/alice", "scratch") == "plan/1\t{'step': 1}\n"
        assert "Kettle\t8 bytes\t1 chunks" in run("documents", "list", "acme/alice")
        assert run("vectors", "list", "acme/alice") == "img\t2 dims\t1 vectors\n"
        as_json = json.loads(run("memories", "list", "acme/alice", "--history", "--json"))
        assert [m["id"] for m in as_json["memories"]] == [old.id, new.id]


def test_unreachable_node_is_a_clear_error(capsys) -> None:
    assert cli.main(["ns", "list", "--url", "http://127.0.0.1:9", "--token", "x"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Memoturn node" in err and "hint:" in err


def test_serve_stops_cleanly(tmp_path) -> None:
    node = Served(tmp_path)
    assert node.stop() == 0


def test_serve_on_an_object_store(tmp_path, embedder) -> None:
    """--object-store puts the data (and the signing secret) in the store: another node on
    the same store, with its own --data, sees the namespace and accepts the root token."""
    store = f"file://{tmp_path / 'store'}"
    node = Served(tmp_path / "a", "--object-store", store, "--hibernate-after", "30")
    root = {"Authorization": f"Bearer {(tmp_path / 'a' / 'root.token').read_text().strip()}"}
    try:
        r = httpx.post(node.url + "/v1/namespaces", json={"name": "shared"}, headers=root)
        assert r.status_code == 201
    finally:
        assert node.stop() == 0
    with ThrowawayNode(tmp_path / "b", embedder=embedder, object_store=store) as other:
        r = httpx.get(other.url + "/v1/namespaces", headers=root)
        assert r.json() == {"namespaces": ["shared"]}


def test_a_second_node_on_a_data_dir_in_use_refuses_to_start(served, tmp_path, embedder) -> None:
    node, data = served
    r = subprocess.run(
        [*MEMOTURN, "serve", "--data", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"in use by PID {node.proc.pid}" in r.stderr
    # The first node's cache is intact: it still writes.
    root = {"Authorization": f"Bearer {(data / 'root.token').read_text().strip()}"}
    httpx.post(node.url + "/v1/namespaces", json={"name": "locked"}, headers=root)
    httpx.post(node.url + "/v1/namespaces/locked/profiles", json={"name": "p"}, headers=root)
    r = httpx.post(
        node.url + "/v1/namespaces/locked/profiles/p/memories",
        json={"type": "fact", "content": "still mine"},
        headers=root,
        timeout=60,
    )
    assert r.status_code == 200, r.text
    # In process too; the lock goes with the engine that held it.
    import memoturn
    from memoturn.engine.datadir import DataDirInUse

    with (
        memoturn.open(tmp_path / "d", embedder=embedder),
        pytest.raises(DataDirInUse, match=f"in use by PID {os.getpid()}"),
    ):
        memoturn.open(tmp_path / "d", embedder=embedder)
    memoturn.open(tmp_path / "d", embedder=embedder).close()


def test_port_in_use_is_one_line_naming_the_port(tmp_path, capsys) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        assert cli.main(["serve", "--data", str(tmp_path), "--port", str(port)]) == 1
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"port {port}" in err and "--port" in err, err


def test_slow_clients_are_cut_off_by_the_connection_limits(tmp_path) -> None:
    import socket

    node = Served(
        tmp_path, "--header-timeout", "1", "--body-timeout", "1", "--max-connections", "3"
    )
    host, port = node.url.removeprefix("http://").split(":")
    try:
        # Headers that never end: the node closes the connection.
        with socket.create_connection((host, int(port)), timeout=60) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
            assert slow.recv(1024) == b""
        # A body that never comes: 408.
        with socket.create_connection((host, int(port)), timeout=60) as slow:
            slow.sendall(
                b"POST /v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
            answer = slow.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408"), answer
        # Open connections beyond the limit: new requests get 503.
        idle = [socket.create_connection((host, int(port)), timeout=60) for _ in range(3)]
        try:
            assert httpx.get(node.url + "/healthz").status_code == 503
        finally:
            for s in idle:
                s.close()
    finally:
        assert node.stop() == 0


def test_no_token_says_where_it_looked_and_how_to_give_one(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("MEMOTURN_TOKEN", raising=False)
    monkeypatch.delenv("MEMOTURN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # no .memoturn here
    assert cli.main(["ns", "list", "--url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert str((tmp_path / ".memoturn" / "root.token").resolve()) in err, err
    for way in ("--token", "MEMOTURN_TOKEN", "--data"):
        assert way in err, err
