"""The CLI as an inspector: export and import of a profile, ``--version``, "(no results)",
and a confirmed ``profile delete`` — against a real node on a loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

import memoturn
from memoturn import cli
from memoturn.cli_transfer import Progress
from memoturn.core.clock import ManualClock
from memoturn.http import ThrowawayNode

MEMOTURN = [sys.executable, "-m", "memoturn.cli"]


@pytest.fixture(scope="module")
def node(tmp_path_factory, embedder) -> Iterator[ThrowawayNode]:
    data = tmp_path_factory.mktemp("cli-node")
    with ThrowawayNode(data, embedder=embedder, clock=ManualClock()) as n:
        with memoturn.Client(n.url, n.root_token) as c:
            c.create_namespace("acme")
        yield n


@pytest.fixture
def run(node, monkeypatch, capsys):
    monkeypatch.setenv("MEMOTURN_URL", node.url)
    monkeypatch.setenv("MEMOTURN_TOKEN", node.root_token)

    def run(*args: str, code: int = 0) -> tuple[str, str]:
        capsys.readouterr()
        assert cli.main(list(args)) == code
        return capsys.readouterr()

    return run


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"memoturn {memoturn.__version__}\n"


def test_empty_lists_say_so(run) -> None:
    run("profile", "create", "acme/empty")
    assert run("checkpoint", "list", "acme/empty").out == "(no results)\n"
    assert run("recall", "acme/empty", "anything").out == "(no results)\n"
    assert run("profile", "list", "acme").out.startswith("empty\n")
    assert json.loads(run("checkpoint", "list", "acme/empty", "--json").out) == []


def test_profile_delete_needs_a_yes(run, node, monkeypatch) -> None:
    run("profile", "create", "acme/doomed")
    # Not on a terminal (pytest's stdin): refused, with the way out named.
    _, err = run("profile", "delete", "acme/doomed", code=1)
    assert "not deleting acme/doomed without confirmation" in err and "--yes" in err
    assert "doomed" in run("profile", "list", "acme").out

    class Terminal:
        def __init__(self, answer: str) -> None:
            self.answer = answer

        def isatty(self) -> bool:
            return True

        def readline(self) -> str:
            return self.answer

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    _, err = run("profile", "delete", "acme/doomed", code=1)
    assert "Delete acme/doomed with all its branches and checkpoints? [y/N]" in err
    assert "was not deleted" in err
    assert "doomed" in run("profile", "list", "acme").out
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert run("profile", "delete", "acme/doomed").out == "deleted\n"
    assert "doomed" not in run("profile", "list", "acme").out


def _fill(node: ThrowawayNode) -> None:
    with memoturn.Client(node.url, node.root_token) as c:
        c.create_profile("acme", "alice")
        p = c.profile("acme", "alice")
        p.ingest("preference", "Alice is vegetarian", topic="diet")
        p.ingest("preference", "Alice is vegan", topic="diet")
        p.append_turn("s1", "user", "I went vegan last week")
        p.kv_set("scratch", "plan", [1, 2])
        p.add_document("Tofu is made from soy milk.", title="Tofu")
        p.vector_upsert("emb", "x", [0.25, 0.5])


def test_export_then_import_round_trips(run, node, tmp_path) -> None:
    _fill(node)
    path = tmp_path / "alice.jsonl"
    out, err = run("export", "acme/alice", "-o", str(path))
    assert out == ""
    assert err == f"exported 8 records ({path.stat().st_size:,} bytes) to {path}\n"
    run("profile", "create", "acme/alice2")
    out, _ = run("import", "acme/alice2", str(path))
    assert out == (
        "imported 1 session, 1 turn, 2 memories, 1 document, 1 KV key, 1 vector collection, "
        "1 vector at txid 1\n"
    )
    again = tmp_path / "alice2.jsonl"
    summary = json.loads(run("export", "acme/alice2", "-o", str(again), "--json").out)
    assert summary == {"profile": "acme/alice2", "branch": "main", "records": 8,
                       "bytes": again.stat().st_size, "file": str(again)}  # fmt: skip
    assert again.read_bytes() == path.read_bytes()
    _, err = run("import", "acme/alice2", str(path), code=1)
    assert "not empty: it holds 2 memories" in err
    assert run("import", "acme/alice2", str(path), "--json", code=1).out == ""
    _, err = run("export", "acme/alice", "--json", code=1)
    assert "--json needs -o FILE" in err
    _, err = run("import", "acme/alice2", str(tmp_path / "missing.jsonl"), code=1)
    assert "cannot read" in err


def test_export_to_stdout_and_import_from_stdin(node, tmp_path) -> None:
    """The pipe: `memoturn export A | memoturn import B -` in real processes."""
    if "alice" not in memoturn.Client(node.url, node.root_token).list_profiles("acme").profiles:
        _fill(node)
    env = {**os.environ, "MEMOTURN_URL": node.url, "MEMOTURN_TOKEN": node.root_token}
    exported = subprocess.run(
        [*MEMOTURN, "export", "acme/alice"], capture_output=True, env=env, timeout=120
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(b'{"kind":"header","format":1,')
    assert exported.stderr.decode().startswith("exported 8 records")
    subprocess.run([*MEMOTURN, "profile", "create", "acme/piped"], env=env, check=True)
    imported = subprocess.run(
        [*MEMOTURN, "import", "acme/piped", "-", "--json"],
        input=exported.stdout,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["counts"]["memory"] == 2


def test_bad_export_is_refused_by_line(run, node, tmp_path) -> None:
    run("profile", "create", "acme/bad")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind":"header","format":9,"schema_version":3,"embedder":"x","dim":3}\n')
    _, err = run("import", "acme/bad", str(path), code=1)
    assert "error: line 1: export format version 9 is not supported" in err


def test_progress_line(tmp_path) -> None:
    class Terminal:
        def __init__(self) -> None:
            self.written: list[str] = []

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> None:
            self.written.append(text)

        def flush(self) -> None:
            pass

    quiet = Terminal()
    with Progress("exporting", stream=quiet):  # type: ignore[arg-type]
        pass
    assert quiet.written == []  # quick work draws nothing
    term = Terminal()
    with Progress("importing", stream=term, delay=0.0):  # type: ignore[arg-type]
        while not term.written:  # the first line, drawn once the delay has passed
            time.sleep(0.01)
    assert term.written[0].startswith("\rimporting ") and term.written[0].endswith(" s")
    assert term.written[-1] == "\r\x1b[K"  # and cleared at the end
