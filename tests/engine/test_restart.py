"""A process that ends without closing its engine does not lock the next one out."""

from __future__ import annotations

import subprocess
import sys

import pytest

import memoturn
from memoturn.storage.lease import HeldElsewhere

RUN = """
import os, sys
import memoturn
mt = memoturn.open(sys.argv[1])
mt.create_namespace("acme")
mt.create_profile("acme", "alice")
print(mt.profile("acme", "alice").ingest("fact", sys.argv[2]).txid, flush=True)
os._exit(0)  # ends without closing: its writer lease is still held
"""


def test_the_quickstart_runs_twice_without_closing(tmp_path) -> None:
    for n, text in enumerate(["first run", "second run"], start=1):
        r = subprocess.run(
            [sys.executable, "-c", RUN, str(tmp_path / "data"), text],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.strip() == str(n)


def test_a_lease_held_by_an_unclosed_engine_elsewhere_is_explained(tmp_path, embedder) -> None:
    store = f"file://{tmp_path / 'store'}"
    first = memoturn.open(tmp_path / "a", object_store=store, embedder=embedder)
    first.create_namespace("acme")
    first.create_profile("acme", "alice")
    first.profile("acme", "alice").ingest("fact", "by the first engine")
    try:
        with memoturn.open(tmp_path / "b", object_store=store, embedder=embedder) as second:
            with pytest.raises(HeldElsewhere) as held:
                second.profile("acme", "alice").ingest("fact", "by the second")
            assert "did not close" in held.value.message
            assert "lapses in 10 s" in held.value.message or "lapses in 9 s" in held.value.message
    finally:
        first.close()
