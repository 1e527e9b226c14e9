"""Docs are tested: the limits page lists every limit with its value."""

from __future__ import annotations

import re
from pathlib import Path

import memoturn
from memoturn.core import limits

ROOT = Path(__file__).resolve().parents[2]


def test_limits_page_matches_code() -> None:
    page = (ROOT / "docs" / "limits.md").read_text()
    documented = dict(re.findall(r"^\| `([A-Z_]+)` \| (\d+)", page, flags=re.M))
    in_code = {k: str(v) for k, v in vars(limits).items() if k.isupper()}
    assert documented == in_code


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


def test_readme_quickstart_runs(tmp_path, monkeypatch, capsys, embedder) -> None:
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Quickstart, in process\n\n```python\n(.*?)```", readme, re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), scope)
    history = re.search(r"## Checkpoint, rewind, branch\n.*?```python\n(.*?)```", readme, re.S)
    assert history is not None
    exec(compile(history.group(1), "README.md", "exec"), scope)
    with memoturn.open("./my-memory", embedder=embedder) as mt:
        contents = [m.content for m in mt.profile("acme", "alice").list_memories().memories]
    assert "cheese" not in str(contents)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Alice is vegetarian Why(")
    assert out[1].endswith("] 2")
    assert out[2] == "['Alice is vegetarian', 'Alice is vegan']"
    assert out[3] == "True"
    # Run again on the same directory (a new user does): it must not crash.
    exec(compile(code.group(1), "README.md", "exec"), {})


def test_readme_says_how_to_use_the_venv() -> None:
    readme = (ROOT / "README.md").read_text()
    assert ".venv/bin/memoturn" in readme and "source .venv/bin/activate" in readme


def test_every_python_example_closes_its_engine() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                if "memoturn.open(" in line:
                    assert line.lstrip().startswith("with "), f"{page.name}: {line}"
