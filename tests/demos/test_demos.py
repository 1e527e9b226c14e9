"""The runnable demos (examples/<name>/main.py) tell their stories against real nodes, each
in its own process, the way `make demos` runs them; a failed claim fails the run."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.demos.fake_chat import FakeChatModel

from memoturn.testing import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STORIES = {"memory-agent", "support-agent", "multi-agent", "what-if"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOTURN_")}
    return {**env, **extra}


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_every_demo_has_an_entry_point_a_readme_and_a_line_in_the_readme() -> None:
    names = {p.parent.name for p in EXAMPLES.glob("*/main.py")}
    assert names >= STORIES
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert (EXAMPLES / name / "README.md").is_file(), name
        assert f"examples/{name}/" in readme, name


@pytest.mark.slow
def test_make_demos_tells_every_story() -> None:
    done = _run(str(EXAMPLES / "run_all.py"), "-v", env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "demos against a throwaway deployment (two nodes, one store)"
    names = sorted(p.parent.name for p in EXAMPLES.glob("*/main.py"))
    summaries = [line for line in lines if line.split(":")[0] in names and ": ok (" in line]
    # Each demo's summary: once in its narration (-v), once from the runner.
    assert [s.split(":")[0] for s in summaries] == [n for n in names for _ in "12"]
    assert lines[-1] == f"{len(names)} of {len(names)} demos passed"
    # A few claims of each story, so a demo cannot quietly stop checking them.
    for claim in (
        "it has been true for three weeks",
        "the history still shows both",
        "memories are exactly as checkpointed",
        "so is the transcript (the overnight session is gone)",
        "a session task lives 24 h by default",
        "the first turn is byte for byte what Alice wrote",
        "every attempt is a 403",
        "one dense history: each write got the next txid",
        "every finding is there, marked as the researcher's",
        "main's history did not move",
        "the burner was removed from the store",
    ):
        assert f"    ok:     {claim}" in lines, claim
    assert (
        "(node B does not hold the writer lease: it forwarded each write to node A)" in done.stdout
    )


def _examples_with(tmp_path: Path, **stories: str) -> Path:
    for name, body in stories.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "main.py").write_text(
            f"import sys\nsys.path.insert(0, {str(EXAMPLES)!r})\nfrom story import Story\n"
            f"story = Story({name!r}, 'a test story')\n{body}\nsys.exit(story.run(tell))\n"
        )
    return tmp_path


def test_a_failed_claim_names_its_step_and_fails_the_run(tmp_path) -> None:
    folder = _examples_with(
        tmp_path,
        broken="def tell():\n"
        "    with story.step('one'):\n        story.check(True, 'fine')\n"
        "    with story.step('two'):\n        story.equal(1 + 1, 3, 'arithmetic')\n"
        "    with story.step('never'):\n        pass\n",
        crashing="def tell():\n    with story.step('boom'):\n        raise RuntimeError('no')\n",
        fine="def tell():\n    with story.step('one'):\n        story.check(True, 'fine')\n",
    )
    alone = _run(str(folder / "broken" / "main.py"), env=_env())
    assert alone.returncode == 1
    last = alone.stdout.splitlines()[-1]
    assert last == "broken: FAILED at step 2 (two): arithmetic: got 2, expected 3"
    assert "[3] never" not in alone.stdout  # the story stops at the failed step
    # The runner: one summary line each, non-zero, the failed narration on stderr. (It is
    # pointed at a node so that it starts none; these stories do not use one.)
    env = _env(MEMOTURN_URL="http://127.0.0.1:9", MEMOTURN_TOKEN="unused")
    run = _run(str(EXAMPLES / "run_all.py"), "--examples", str(folder), env=env)
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines[1:3] == [
        "broken: FAILED at step 2 (two): arithmetic: got 2, expected 3",
        "crashing: FAILED at step 1 (boom): RuntimeError: no",
    ]
    assert lines[3].startswith("fine: ok (1 steps, 1 claims checked")
    assert lines[4] == "1 of 3 demos passed"
    assert "[2] two" in run.stderr and "RuntimeError: no" in run.stderr
    assert _run(str(EXAMPLES / "run_all.py"), "nope", env=env).returncode == 2


def _turns(demo: str) -> dict[str, tuple[list, str]]:
    script = runpy.run_path(str(EXAMPLES / demo / "main.py"))["script"](time.time())
    return {t.user: (t.calls, t.reply) for t in script.values()}


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    with NodeProcess() as node:
        yield node


@pytest.mark.slow
@pytest.mark.parametrize("demo", ["memory-agent", "support-agent"])
def test_a_chat_model_can_drive_the_agent_through_the_mcp_tools(demo, node) -> None:
    """With MEMOTURN_LLM_URL the model chooses the tool calls. The model is a fake (see
    fake_chat.py): it replays the demo's script, so every claim can be checked too."""
    with FakeChatModel(_turns(demo)) as model:
        env = _env(
            MEMOTURN_URL=node.url, MEMOTURN_TOKEN=node.root_token, MEMOTURN_LLM_URL=model.url
        )
        done = _run(str(EXAMPLES / demo / "main.py"), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "a chat model drives the agent: model 'default' at " + model.url in done.stdout
    summary = done.stdout.splitlines()[-1]
    assert summary.startswith(f"{demo}: ok (") and "left to the model" in summary
    assert "(not checked, the model chose:" in done.stdout
    first = model.requests[0]
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in first["tools"]}
    assert {"memory_ingest", "memory_recall", "transcript_append"} <= set(offered)
    assert "valid_from" in offered["memory_ingest"]["properties"]  # the MCP tool schemas
    assert first["messages"][0]["role"] == "system"
    results = [
        json.loads(m["content"])
        for r in model.requests
        for m in r["messages"]
        if m["role"] == "tool"
    ]
    assert any("memory" in r and "txid" in r for r in results)  # real answers from the node
