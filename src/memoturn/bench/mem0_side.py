"""``make bench-mem0``: Memoturn beside mem0 on the same LoCoMo turns and questions, one run.

Each LoCoMo conversation becomes one Memoturn profile and one mem0 user. Every turn is
ingested as a memory, one call per turn, into both (Memoturn ``ingest``; mem0 ``add`` with
``infer=False``, so no chat model runs); then every scorable question is asked of both, 50
hits deep: Memoturn in hybrid and in vector-only mode, mem0 with its ``search``. A
question's score at k is the share of its evidence turns among the top k hits, as in
``memoturn eval locomo`` (whose parsing and scoring this reuses).

mem0 runs in its own virtual environment (``.venv-mem0``, built from
``bench/mem0/requirements.txt``), in a worker process (``bench/mem0/worker.py``) that this
driver feeds one conversation at a time, over JSON lines; the worker times each call
itself, so the pipe is not in its figures. The two sides alternate by conversation
(Memoturn, then mem0, for each conversation), so both see the same load on the machine.
Both embed with all-MiniLM-L6-v2 on the CPU: Memoturn its int8 ONNX build, mem0 the
sentence-transformers model; each side's query-embedding time is reported as its floor.

Not part of ``make test``: it takes a while (ten conversations, two systems) and needs the
second virtual environment. The data is read where it lies and never copied; only
aggregate figures are printed or written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import memoturn
from memoturn.bench.locomo import Conversation, ModeScores, load, profile_names
from memoturn.bench.stats import Result, progress, write_report

K = 50
KS = (5, 10, 25, 50)
NAMESPACE = "mem0side"
SYSTEMS = ("memoturn hybrid", "memoturn vector", "mem0")
WORKER = Path(__file__).resolve().parents[3] / "bench" / "mem0" / "worker.py"
"""The worker script, in the repository checkout (the bench is run from a checkout)."""


class WorkerError(RuntimeError):
    """The mem0 worker failed or could not be started."""


@dataclasses.dataclass
class Side:
    """One system's samples: per-turn ingest, per-question recall, and its floors."""

    ingest: list[float] = dataclasses.field(default_factory=list)
    embed_turn: list[float] = dataclasses.field(default_factory=list)
    embed_query: list[float] = dataclasses.field(default_factory=list)
    stored: int = 0
    """Memories the system holds after ingest (Memoturn folds identical turns into one)."""


@dataclasses.dataclass
class Report:
    conversations: int
    turns: int
    questions: int
    scores: dict[str, ModeScores]
    sides: dict[str, Side]
    """``memoturn`` and ``mem0``."""
    load: dict[str, tuple[float, float, float]]
    """The load average before and after the run."""
    mem0_info: dict[str, Any]
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "turns": self.turns,
            "questions": self.questions,
            "recall": {name: s.table()["overall"] for name, s in self.scores.items()},
            "recall_by_category": {name: s.table() for name, s in self.scores.items()},
            "latency": {r.scenario: r.summary() for r in self.results()},
            "stored": self.sides_stored(),
            "load": self.load,
            "mem0": self.mem0_info,
            "wall_s": self.wall_s,
        }

    def sides_stored(self) -> dict[str, int]:
        return {name: side.stored for name, side in self.sides.items()}

    def results(self) -> list[Result]:
        mt, m0 = self.sides["memoturn"], self.sides["mem0"]
        out = [
            Result("memoturn: ingest one turn", "s", mt.ingest, floor="memoturn: embed one turn"),
            Result("mem0: ingest one turn", "s", m0.ingest, floor="mem0: embed one turn"),
            Result("memoturn: embed one turn", "s", mt.embed_turn),
            Result("mem0: embed one turn", "s", m0.embed_turn),
        ]
        for name in SYSTEMS:
            side = "mem0" if name == "mem0" else "memoturn"
            out.append(
                Result(f"{name}: recall k={K}", "s", self.scores[name].latency,
                       floor=f"{side}: embed one query")
            )  # fmt: skip
        out += [
            Result("memoturn: embed one query", "s", mt.embed_query),
            Result("mem0: embed one query", "s", m0.embed_query),
        ]
        return [r for r in out if r.samples]


# -- the mem0 worker -----------------------------------------------------------------------


class Worker:
    """The mem0 worker process: one JSON request per line, one answer per line."""

    def __init__(self, python: Path, workdir: Path) -> None:
        if not python.exists():
            raise WorkerError(
                f"no Python at {python}: build mem0's environment with `make bench-mem0` "
                "(or pass --mem0-python)"
            )
        env = dict(os.environ, MEM0_TELEMETRY="False", HF_HUB_OFFLINE="1")
        self._proc = subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
        )
        try:
            self.info = self.call({"op": "init", "dir": str(workdir)})
        except BaseException:
            self.close()
            raise

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        stdin: IO[str] | None = self._proc.stdin
        stdout: IO[str] | None = self._proc.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
        except BrokenPipeError:
            raise WorkerError(f"the mem0 worker exited ({self._proc.wait()})") from None
        line = stdout.readline()
        if not line:
            raise WorkerError(f"the mem0 worker exited ({self._proc.wait()}); see its stderr")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise WorkerError(f"mem0 {request['op']}: {answer.get('error')}\n{answer.get('trace')}")
        return answer

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self.call({"op": "close"})
            except (WorkerError, OSError, ValueError) as e:
                progress(f"mem0 worker did not close cleanly: {e}")
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


# -- one run -------------------------------------------------------------------------------


def turns_of(conv: Conversation) -> list[dict[str, str]]:
    """Every turn of the conversation, in order, as both systems ingest it: the text
    (``Speaker: text`` with an image caption), speaker A as ``user``, B as ``assistant``,
    the ``dia_id`` and the session's date as metadata."""
    return [
        {
            "dia_id": t.dia_id,
            "text": t.text,
            "role": "user" if t.speaker == conv.speaker_a else "assistant",
            "name": t.speaker,
            "date": s.date,
        }
        for s in conv.sessions
        for t in s.turns
    ]


def _memoturn_conversation(
    eng: Any, name: str, conv: Conversation, side: Side, scores: dict[str, ModeScores]
) -> None:
    if not eng.create_profile(NAMESPACE, name):
        raise FileExistsError(f"profile {NAMESPACE}/{name} already exists")
    prof = eng.profile(NAMESPACE, name)
    turns = turns_of(conv)
    ids = set()
    for t in turns:
        meta = {"dia_id": t["dia_id"], "date": t["date"], "role": t["role"]}
        t0 = time.perf_counter()
        res = prof.ingest("event", t["text"], metadata=meta)
        side.ingest.append(time.perf_counter() - t0)
        ids.add(res.memory.id)
    side.stored += len(ids)
    asked = conv.scored
    for mode in ("hybrid", "vector"):
        s = scores[f"memoturn {mode}"]
        if asked:
            prof.recall(asked[0].text, k=K, mode=mode)  # warm this profile's caches
        for q in asked:
            t0 = time.perf_counter()
            hits = prof.recall(q.text, k=K, mode=mode).results
            s.latency.append(time.perf_counter() - t0)
            s.add(q.category, [h.memory.metadata.get("dia_id", "") for h in hits], q.evidence)
    for q in asked:
        t0 = time.perf_counter()
        eng.embedder.embed_query(q.text)
        side.embed_query.append(time.perf_counter() - t0)
    for t in turns[:FLOOR_TURNS]:
        t0 = time.perf_counter()
        eng.embedder.embed([t["text"]])
        side.embed_turn.append(time.perf_counter() - t0)


FLOOR_TURNS = 100
"""Turns per conversation whose embedding alone is timed, for the ingest floor."""


def _mem0_conversation(
    worker: Worker, name: str, conv: Conversation, side: Side, scores: ModeScores
) -> None:
    asked = conv.scored
    answer = worker.call(
        {
            "op": "conversation",
            "user_id": name,
            "turns": turns_of(conv),
            "questions": [q.text for q in asked],
            "k": K,
            "floor_turns": FLOOR_TURNS,
        }
    )
    side.ingest += answer["ingest_s"]
    side.stored += len(answer["ingest_s"])
    side.embed_query += answer["embed_query_s"]
    side.embed_turn += answer["embed_turn_s"]
    scores.latency += answer["recall_s"]
    if len(answer["ranked"]) != len(asked):
        raise WorkerError(f"mem0 answered {len(answer['ranked'])} of {len(asked)} questions")
    for q, ranked in zip(asked, answer["ranked"], strict=True):
        scores.add(q.category, ranked, q.evidence)


def run(conversations: Sequence[Conversation], workdir: Path, mem0_python: Path) -> Report:
    """Both systems on ``conversations``, alternating by conversation."""
    load0 = os.getloadavg()
    t_start = time.perf_counter()
    scores = {name: ModeScores(name, KS) for name in SYSTEMS}
    sides = {"memoturn": Side(), "mem0": Side()}
    worker = Worker(mem0_python, workdir / "mem0")
    try:
        progress(f"mem0 worker ready: {worker.info.get('versions')}")
        with memoturn.open(workdir / "memoturn") as eng:
            eng.create_namespace(NAMESPACE)
            eng.embedder.embed_query("warm up")
            names = profile_names(conversations)
            total = sum(c.turn_count for c in conversations)
            done = 0
            for conv, name in zip(conversations, names, strict=True):
                t0 = time.perf_counter()
                _memoturn_conversation(eng, name, conv, sides["memoturn"], scores)
                t1 = time.perf_counter()
                _mem0_conversation(worker, name, conv, sides["mem0"], scores["mem0"])
                t2 = time.perf_counter()
                done += conv.turn_count
                progress(
                    f"{name}: {conv.turn_count} turns, {len(conv.scored)} questions; "
                    f"memoturn {t1 - t0:.0f} s, mem0 {t2 - t1:.0f} s ({done}/{total} turns, "
                    f"load {os.getloadavg()[0]:.1f})"
                )
    finally:
        worker.close()
    return Report(
        conversations=len(conversations),
        turns=sum(c.turn_count for c in conversations),
        questions=sum(len(c.scored) for c in conversations),
        scores=scores,
        sides=sides,
        load={"before": load0, "after": os.getloadavg()},
        mem0_info=worker.info,
        wall_s=time.perf_counter() - t_start,
    )


# -- output --------------------------------------------------------------------------------


def render(report: Report) -> str:
    """Recall quality per system, then the latency table and the ratios mem0 / Memoturn."""
    head = f"{'':<18} {'n':>5}" + "".join(f"{'R@' + str(k):>8}" for k in KS)
    out = [head, "-" * len(head)]
    for name, s in report.scores.items():
        row = s.table()["overall"]
        out.append(f"{name:<18} {row['n']!s:>5}" + "".join(f"{row[f'R@{k}']:>8.1f}" for k in KS))
    rows = {r.scenario: r.summary() for r in report.results()}
    out += ["", f"{'latency':<32} {'n':>6} {'p50':>10} {'p95':>10}", "-" * 62]
    for name, r in rows.items():
        out.append(f"{name:<32} {r['n']:>6} {r['p50_ms']:>8.2f}ms {r['p95_ms']:>8.2f}ms")
    out.append("")
    for what, ours, theirs in (
        ("ingest", "memoturn: ingest one turn", "mem0: ingest one turn"),
        ("recall (hybrid)", f"memoturn hybrid: recall k={K}", f"mem0: recall k={K}"),
        ("recall (vector)", f"memoturn vector: recall k={K}", f"mem0: recall k={K}"),
    ):
        if ours in rows and theirs in rows:
            ratio = rows[theirs]["p50_ms"] / rows[ours]["p50_ms"]
            out.append(f"{what}: mem0 p50 / memoturn p50 = {ratio:.1f}x")
    stored = ", ".join(f"{k} {v}" for k, v in sorted(report.sides_stored().items()))
    b, a = report.load["before"], report.load["after"]
    out += [
        "",
        f"{report.conversations} conversations, {report.turns} turns, {report.questions} "
        f"questions; memories stored: {stored}",
        f"load average before {b[0]:.2f} {b[1]:.2f} {b[2]:.2f}, after {a[0]:.2f} {a[1]:.2f} "
        f"{a[2]:.2f}; {report.wall_s:.0f} s",
        f"mem0 keyword search (BM25): {'on' if report.mem0_info.get('keyword_search') else 'off'}",
    ]
    return "\n".join(out)


# -- command line --------------------------------------------------------------------------


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return int(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m memoturn.bench.mem0_side",
        description="Memoturn beside mem0 on the same LoCoMo turns and questions: ingest "
        "latency per turn, recall latency at k=50 and evidence recall at 5/10/25/50.",
    )
    p.add_argument("--data", type=Path, required=True, help="path to locomo10.json")
    p.add_argument(
        "--limit-conversations", type=_positive, metavar="N", help="the first N conversations"
    )
    p.add_argument("--quick", action="store_true", help="smoke run: the first conversation")
    p.add_argument(
        "--mem0-python",
        type=Path,
        default=Path(".venv-mem0/bin/python"),
        help="the Python of mem0's environment (default .venv-mem0/bin/python)",
    )
    p.add_argument("--out", type=Path, help="folder for a JSON report")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        conversations = load(args.data)
    except FileNotFoundError:
        print(f"error: no LoCoMo file at {args.data}: pass --data PATH", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError) as e:
        print(f"error: {args.data} is not LoCoMo data ({e!r})", file=sys.stderr)
        return 2
    limit = 1 if args.quick else args.limit_conversations
    conversations = conversations[:limit] if limit else conversations
    print(
        f"memoturn beside mem0: {len(conversations)} conversations, "
        f"{sum(c.turn_count for c in conversations)} turns",
        file=sys.stderr,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="memoturn-mem0-") as tmp:
            report = run(conversations, Path(tmp), args.mem0_python)
    except WorkerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(render(report))
    if args.out is not None:
        write_report(args.out, "mem0-side", vars(args), report.to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
