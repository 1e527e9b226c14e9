"""Re-embedding a profile to another model: resumable (stop, SIGINT, kill -9), guarded by
the profile's ai_egress, and atomic at the end (the stored model name and dimension swap in
the same transaction as the vectors).

The target model is the real MiniLM truncated to 256 dimensions and renormalised: another
model as far as the profile can tell (another name and dimension), with no second download.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import memoturn
from memoturn.core.errors import Conflict, EgressDenied, InvalidInput
from memoturn.embed import default_embedder
from memoturn.profile import rows

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


class Truncated:
    """MiniLM cut to its first ``dim`` components, renormalised (a test's second model)."""

    def __init__(self, dim: int = 256, *, egress: str = "in_process", delay_s: float = 0.0):
        self.inner = default_embedder()
        self._dim = dim
        self._egress = egress
        self.delay_s = delay_s
        self.calls = 0

    @property
    def name(self) -> str:
        return f"{self.inner.name}-first{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def egress(self) -> str:
        return self._egress

    @property
    def self_hosted(self) -> bool:
        return self._egress != "third_party"

    @property
    def max_tokens(self) -> int | None:
        return self.inner.max_tokens

    def embed(self, texts: Any) -> np.ndarray:
        self.calls += 1
        time.sleep(self.delay_s)
        full = self.inner.embed(list(texts))[:, : self._dim]
        return (full / np.linalg.norm(full, axis=1, keepdims=True)).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def truncated() -> Truncated:
    """``test_reembed:truncated``, the factory the CLI tests name with --to."""
    return Truncated()


def slow_truncated() -> Truncated:
    """The same model, slow enough (0.3 s a batch) to be stopped half-way."""
    return Truncated(delay_s=0.3)


def _fill(eng: memoturn.Engine, memories: int = 10) -> Any:
    eng.create_namespace("acme")
    eng.create_profile("acme", "alice")
    p = eng.profile("acme", "alice")
    for i in range(memories):
        p.ingest("fact", f"Alice fact number {i}: she keeps bees and {i} cats")
    p.ingest("task", "Buy a new hive frame", session_id="s1")
    p.append_turns(
        "s1",
        [
            {"role": "user", "content": "Have you been to Lisbon?"},
            {"role": "assistant", "content": "Yes, the custard tarts were amazing"},
        ],
    )
    p.add_document("The beekeeping guide. Smoke calms the bees before the hive is opened.")
    return p


def _blob_sizes(eng: memoturn.Engine) -> set[int]:
    def sizes(prof: Any) -> set[int]:
        with prof.db.read() as cur:
            return {
                n
                for table in ("memories", "turns", "chunks")
                for (n,) in cur.execute(f"SELECT length(embedding) FROM {table}")
            }

    return eng._run(eng._key("acme", "alice", "main"), sizes)


def test_reembed_swaps_model_and_vectors_at_the_end(tmp_path: Path, embedder) -> None:
    store = f"file://{tmp_path / 'store'}"
    target = truncated()
    with memoturn.open(tmp_path / "a", object_store=store, embedder=embedder) as eng:
        _fill(eng)
        seen = []
        status = eng.reembed("acme", "alice", target, batch=4, progress=seen.append)
        assert (status.model, status.dim, status.target) == (target.name, 256, None)
        total = status.total
        assert total == 14  # 11 memories, 2 turns, 1 chunk
        # Progress after every batch of 4, counting up to every item.
        assert [s.done for s in seen] == [0, 4, 8, 12, 14]
        assert all(s.target == target.name and s.total == total for s in seen)
    # The old model no longer opens the profile, on any node of the store.
    with (
        memoturn.open(tmp_path / "b", object_store=store, embedder=embedder) as eng,
        pytest.raises(Conflict, match="first256"),
    ):
        eng.profile("acme", "alice").recall("bees")
    with memoturn.open(tmp_path / "c", object_store=store, embedder=target) as eng:
        p = eng.profile("acme", "alice")
        assert _blob_sizes(eng) == {256 * rows.EMBEDDING_DTYPE().itemsize}
        hits = p.recall("pastries in Portugal", scopes=["transcript"], mode="vector").results
        assert {h.memory.content for h in hits} == {
            "Have you been to Lisbon?",
            "Yes, the custard tarts were amazing",
        }
        hits = p.recall("calming insects with smoke", scopes=["documents"], mode="vector")
        assert hits.results and "Smoke" in hits.results[0].memory.content
        # The stored vectors are the new model's own: exactly what it embeds now.
        hit = p.recall("Buy a new hive frame", mode="vector").results[0]
        assert hit.why.similarity == pytest.approx(1.0, abs=1e-3)  # stored as float16
        # And new writes embed with it.
        p.ingest("fact", "Alice moved to Porto")
        assert _blob_sizes(eng) == {256 * rows.EMBEDDING_DTYPE().itemsize}
        assert eng.reembed_status("acme", "alice").target is None


def test_a_stopped_reembedding_resumes_and_recall_keeps_working(tmp_path, embedder) -> None:
    target = truncated()
    with memoturn.open(tmp_path / "a", embedder=embedder) as eng:
        p = _fill(eng)
        batches = []
        status = eng.reembed(
            "acme", "alice", target, batch=3, progress=batches.append,
            stop=lambda: len(batches) >= 2,
        )  # fmt: skip
        assert (status.target, status.done) == (target.name, 3)
        assert status.model == embedder.name
        # Meanwhile the profile is on its old model: recall, ingest, nothing changes there.
        assert p.recall("bees").results
        p.ingest("fact", "Alice learned to make honey mead")
        assert _blob_sizes(eng) == {embedder.dim * rows.EMBEDDING_DTYPE().itemsize}
        # Another model cannot start while this one is under way.
        with pytest.raises(Conflict, match="under way"):
            eng.reembed("acme", "alice", Truncated(128))
        status = eng.reembed("acme", "alice", target)
        assert status.target is None and status.total == 15  # the memory added meanwhile too
    with memoturn.open(tmp_path / "a", embedder=target) as eng:
        hits = eng.profile("acme", "alice").recall("mead", mode="vector").results
        assert hits[0].memory.content == "Alice learned to make honey mead"


def test_abort_keeps_the_model_and_drops_the_new_vectors(tmp_path, embedder) -> None:
    target = truncated()
    with memoturn.open(tmp_path / "a", embedder=embedder) as eng:
        p = _fill(eng)
        eng.reembed("acme", "alice", target, batch=5, stop=lambda: True)
        eng.reembed("acme", "alice", target, batch=5, stop=iter([False, True]).__next__)
        assert eng.reembed_status("acme", "alice").done == 5
        before = p.txid
        status = eng.reembed_abort("acme", "alice")
        assert (status.model, status.target, status.done) == (embedder.name, None, 0)
        assert p.txid == before + 1
        with pytest.raises(InvalidInput, match="no re-embedding"):
            eng.reembed_abort("acme", "alice")
        with pytest.raises(InvalidInput, match="already come from"):
            eng.reembed("acme", "alice", embedder)
        assert p.recall("bees").results


def test_deleted_items_take_their_pending_vectors_along(tmp_path, embedder) -> None:
    target = truncated()
    with memoturn.open(tmp_path / "a", embedder=embedder) as eng:
        p = _fill(eng)
        eng.reembed("acme", "alice", target, batch=100, stop=iter([False, True]).__next__)

        def pending(prof: Any) -> list[tuple[str, int]]:
            with prof.db.read() as cur:
                return cur.execute("SELECT scope, rid FROM reembed").fetchall()

        key = eng._key("acme", "alice", "main")
        assert len(eng._run(key, pending)) == 14
        assert p.end_session("s1").deleted_tasks == 1  # a hard delete of the task memory
        assert len(eng._run(key, pending)) == 13
        status = eng.reembed("acme", "alice", target)
        assert status.target is None and status.total == 13


def test_egress_policy_is_checked_before_anything_is_sent(tmp_path, embedder) -> None:
    outside = Truncated(egress="third_party")
    with memoturn.open(tmp_path / "a", embedder=embedder) as eng:
        _fill(eng)
        eng.set_policy("acme", {"ai_egress": "self_hosted"})
        before = eng.reembed_status("acme", "alice")
        with pytest.raises(EgressDenied, match="ai_egress='self_hosted'"):
            eng.reembed("acme", "alice", outside)
        assert outside.calls == 0
        assert eng.reembed_status("acme", "alice") == before
        # A self-hosted one is allowed by that policy.
        status = eng.reembed("acme", "alice", Truncated(egress="self_hosted"))
        assert status.target is None and status.dim == 256


# -- the command ------------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    return subprocess.Popen(
        [sys.executable, "-m", "memoturn", "reembed", "acme/alice", "--data",
         str(tmp_path / "node"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw,
    )  # fmt: skip


def _run_cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    proc = _cli(tmp_path, *args)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _wait_for_progress(proc: subprocess.Popen[str], done: int) -> None:
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        assert line, "the command ended before it got that far"
        if "re-embedding" in line and int(line.split(": ")[1].split("/")[0]) >= done:
            return


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_the_command_resumes_after_sigint_and_kill_9(tmp_path, embedder, sig) -> None:
    with memoturn.open(tmp_path / "node", embedder=embedder) as eng:
        _fill(eng)
    proc = _cli(tmp_path, "--to", "test_reembed:slow_truncated", "--batch", "2")
    try:
        _wait_for_progress(proc, 4)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    if sig == signal.SIGINT:  # stops after the batch in flight, says how to go on
        assert proc.returncode == 130
        assert "run the same command to resume" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    code, out, _ = _run_cli(tmp_path, "--status")
    assert code == 0 and "-> all-MiniLM" in out
    done = int(out.split(": ")[1].split("/")[0])
    assert 4 <= done < 14
    code, out, err = _run_cli(tmp_path, "--to", "test_reembed:truncated", "--batch", "2")
    assert code == 0, err
    assert "first256 (256 dimensions), 14 items" in out
    # Resumed, not restarted: the first progress line starts where the stopped run got.
    assert f"{done}/14" in err.splitlines()[0]
    target = truncated()
    with memoturn.open(tmp_path / "node", embedder=target) as eng:
        assert eng.profile("acme", "alice").recall("custard", mode="vector").results
        assert _blob_sizes(eng) == {256 * rows.EMBEDDING_DTYPE().itemsize}


def test_the_command_refuses_bad_input_and_changes_nothing(tmp_path, embedder) -> None:
    with memoturn.open(tmp_path / "node", embedder=embedder) as eng:
        _fill(eng)
        txid = eng.profile("acme", "alice").txid
    for args, message in [
        ((), "--to MODEL"),
        (("--to", "nonsense"), "neither `local` nor MODULE:FACTORY"),
        (("--to", "no_such_module_here:make"), "cannot import"),
        (("--to", "test_reembed:nothing"), "has no function"),
        (("--to", "test_reembed:HERE"), "has no function"),
        (("--to", "local"), "already come from"),
        (("--to", "test_reembed:truncated", "--from", "test_reembed:truncated"), "come from"),
    ]:
        code, _, err = _run_cli(tmp_path, *args)
        assert code == 1 and message in err, (args, err)
    code, _, err = _run_cli(tmp_path, "--abort")
    assert code == 1 and "no re-embedding is under way" in err
    with memoturn.open(tmp_path / "node", embedder=embedder) as eng:
        assert eng.profile("acme", "alice").txid == txid
        assert eng.reembed_status("acme", "alice").target is None
