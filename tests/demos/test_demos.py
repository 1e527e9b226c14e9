"""The runnable demos run, each in its own process, and show what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMOS = Path(__file__).resolve().parents[2] / "demos"


def _run(name: str) -> str:
    done = subprocess.run(
        [sys.executable, str(DEMOS / name)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_demo_is_tested() -> None:
    tested = {"overnight_rewind.py", "burner_branch.py", "two_nodes.py"}
    assert {p.name for p in DEMOS.glob("*.py")} == tested


@pytest.mark.slow
def test_overnight_rewind() -> None:
    out = _run("overnight_rewind.py")
    assert "after the run:    diet -> Alice loves steak" in out
    assert "after the rewind: diet -> Alice is vegetarian" in out
    assert "manager -> Alice's manager is Priya" in out


@pytest.mark.slow
def test_burner_branch() -> None:
    out = _run("burner_branch.py")
    assert "on main:       ['Answer refund questions with the 30-day policy']" in out
    assert "60-day trial policy" in out.split("on the burner:")[1].splitlines()[0]
    assert "branches now:  ['main']" in out


@pytest.mark.slow
def test_two_nodes() -> None:
    out = _run("two_nodes.py")
    assert "B forwarded its write to A: txid 2" in out
    both = "['Alice works from Lisbon', \"Alice's standup is at 9:30\"]"
    assert f"read on A: {both}" in out and f"read on B: {both}" in out
