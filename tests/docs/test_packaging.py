"""``make run`` installs what a node needs only; ``make test`` adds the test tools."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        if line and not line.startswith(("#", "-r ")):
            package, _, version = line.partition("==")
            assert version, f"{name}: {line!r} is not pinned exactly"
            pins[re.sub(r"[-_.]+", "-", package).lower()] = version
    return pins


def _names(requirements: list[str]) -> set[str]:
    bare = (re.split(r"[<>=!\[ ]", r, maxsplit=1)[0] for r in requirements)
    return {re.sub(r"[-_.]+", "-", name).lower() for name in bare}


def test_runtime_pins_hold_no_test_tools_and_dev_pins_add_them() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert _names(project["dependencies"]) <= set(runtime)
    assert not _names(project["optional-dependencies"]["dev"]) & set(runtime)
    assert _names(project["optional-dependencies"]["dev"]) <= set(dev)
    assert not set(runtime) & set(dev)
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


def test_make_run_installs_the_runtime_only_and_make_test_everything() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = dict(re.findall(r"^([\w$().-]+):(.*)$", makefile, re.M))
    assert targets["run"].split() == ["install-runtime"]
    assert targets["test"].split() == ["install"]
    runtime_recipe = makefile.split("$(RUNTIME): ", 1)[1].split("\n\n", 1)[0]
    assert "requirements-dev" not in runtime_recipe and "-r requirements.txt" in runtime_recipe
    assert "-r requirements-dev.txt" in makefile.split("$(STAMP): ", 1)[1].split("\n\n", 1)[0]
