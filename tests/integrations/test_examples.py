"""The adapters' runnable examples (examples/integrations/, shown in docs/integrations.md)
run as written: on an in-process engine, and against a `memoturn serve` child process
through MEMOTURN_URL (the suites' other tests use a node in this process)."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

from memoturn.testing import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "integrations").glob("*.py"))


def test_there_is_one_example_per_adapter() -> None:
    adapters = {p.stem for p in (ROOT / "src/memoturn/integrations").glob("[a-z]*.py")}
    assert {p.stem.split("_")[0] for p in EXAMPLES} == {a.split("_")[0] for a in adapters}


@pytest.fixture(scope="module")
def served() -> Iterator[NodeProcess]:
    with NodeProcess().start() as node:
        yield node


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("where", ["in-process", "node"])
@pytest.mark.slow
def test_example_runs(example: Path, where: str, request, monkeypatch, capsys) -> None:
    if where == "node":
        node = request.getfixturevalue("served")
        monkeypatch.setenv("MEMOTURN_URL", node.url)
        monkeypatch.setenv("MEMOTURN_TOKEN", node.root_token)
    else:
        monkeypatch.delenv("MEMOTURN_URL", raising=False)
    runpy.run_path(str(example), run_name="__main__")
    runpy.run_path(str(example), run_name="__main__")  # again: it starts afresh each run
    assert capsys.readouterr().out.strip()
