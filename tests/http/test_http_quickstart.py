"""The README's HTTP quickstart runs as written: the curl block and the SDK block."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from memoturn.http import ThrowawayNode

ROOT = Path(__file__).resolve().parents[2]


def _block(lang: str) -> str:
    page = (ROOT / "README.md").read_text()
    quickstart = page.split("## Quickstart, over HTTP", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{lang}\n(.*?)```", quickstart, re.S)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def quick_node(tmp_path_factory, embedder):
    cwd = tmp_path_factory.mktemp("quickstart")
    with ThrowawayNode(cwd / ".memoturn", embedder=embedder) as node:
        yield node, cwd


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")
def test_curl_quickstart(quick_node) -> None:
    node, cwd = quick_node
    env = {**os.environ, "MEMOTURN_URL": node.url}
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _block("sh")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert '"created":true' in r.stdout
    assert '"content":"Alice is vegetarian"' in r.stdout and '"score":' in r.stdout


def test_sdk_quickstart(quick_node, monkeypatch, capsys) -> None:
    node, cwd = quick_node
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("MEMOTURN_URL", node.url)
    monkeypatch.delenv("MEMOTURN_TOKEN", raising=False)
    monkeypatch.delenv("MEMOTURN_DATA", raising=False)
    if not (cwd / ".memoturn" / "root.token").exists():
        pytest.fail("the node did not write its root token")
    exec(compile(_block("python"), "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == [
        "Bob takes his coffee black 1",
        "1",
        "refused: this token lacks the 'write' scope",
    ]
