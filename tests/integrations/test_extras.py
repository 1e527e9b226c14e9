"""Each adapter is an optional extra pinning its framework exactly, the same pin the tests
install; importing the package of adapters imports no framework."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = {"langgraph": "langgraph", "openai-agents": "openai_agents", "pydantic-ai": "pydantic_ai"}


def test_every_adapter_is_an_extra_pinned_like_the_tests() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    dev_pins = set((ROOT / "requirements-dev.txt").read_text().split())
    modules = {p.stem for p in (ROOT / "src/memoturn/integrations").glob("[a-z]*.py")}
    assert set(EXTRAS.values()) == modules
    for extra in EXTRAS:
        (pin,) = extras[extra]
        assert "==" in pin and pin in dev_pins and pin in extras["dev"], extra


def test_importing_the_integrations_package_loads_no_framework() -> None:
    code = (
        "import sys, memoturn.integrations; "
        "print([m for m in ('langgraph', 'agents', 'pydantic_ai') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
