"""``memoturn eval locomo``: evidence recall of transcript recall on LoCoMo.

LoCoMo (Maharana et al., 2024) is ten long conversations between two people, with questions
whose answers rest on named turns (``dia_id`` evidence). Each conversation goes into its own
profile as a transcript, one session per LoCoMo session; every question is asked of
transcript recall, and a question's score at k is the share of its evidence turns found in
the top k hits. One ingest serves three query passes, hybrid, keyword (BM25 only) and
vector (embeddings only), so the fused ranking is measured beside its two inputs and beside
the retrievers of the LoCoMo paper.

The data is CC BY-NC 4.0: it is read from where it lies at run time and never copied; only
aggregate scores are printed or written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import memoturn
from memoturn.bench.stats import Result, progress, write_report
from memoturn.embed import Embedder

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
MODES = ("hybrid", "keyword", "vector")
KS = (5, 10, 25, 50)
NAMESPACE = "locomo"

# LoCoMo paper, retrieval over dialogue turns, overall including category 5.
REFERENCES: dict[str, dict[int, float]] = {
    "DRAGON (paper)": {5: 56.7, 10: 66.2, 25: 76.7, 50: 82.7},
    "BM25 (paper)": {5: 45.6, 10: 53.1, 25: 62.3, 50: 70.2},
}
TARGET = "DRAGON (paper)"
"""The reference hybrid recall should beat at every k."""

# A turn id is D<session>:<turn>. The data also holds 'D:11:26' (stray colon) and 'D30:05'
# (zero-padded), and several ids in one string, split on ';', ',' or spaces ('D8:6; D9:17').
_DIA_ID = re.compile(r"D:?(\d+):(\d+)")
_SEPARATORS = re.compile(r"[;,\s]+")


def normalise_evidence(raw: str) -> tuple[list[str], list[str]]:
    """Split one evidence string into canonical turn ids ``D<s>:<t>``; also returns the
    parts that are no turn id at all (e.g. a bare ``'D'``)."""
    ids: list[str] = []
    malformed: list[str] = []
    for part in _SEPARATORS.split(str(raw).strip()):
        if not part:
            continue
        m = _DIA_ID.fullmatch(part)
        if m:
            ids.append(f"D{int(m.group(1))}:{int(m.group(2))}")
        else:
            malformed.append(part)
    return ids, malformed


# -- the data ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    """What is stored: ``Speaker: text``, plus the shared image's caption if any."""


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    id: str
    """``session_<n>``, as in the data."""
    date: str
    turns: tuple[Turn, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Question:
    text: str
    category: int
    evidence: tuple[str, ...]
    """Canonical ids of the evidence turns that exist in the conversation, deduplicated."""
    malformed: tuple[str, ...] = ()
    """Evidence parts that are no turn id at all."""
    missing: tuple[str, ...] = ()
    """Well-formed evidence ids that name no turn of the conversation."""

    @property
    def skip_reason(self) -> str | None:
        """Why the question cannot be scored, or ``None`` when it can."""
        if self.evidence:
            return None
        if self.missing:
            return "evidence names no turn of the conversation"
        if self.malformed:
            return "evidence is not a turn id"
        return "no evidence listed"


@dataclasses.dataclass(frozen=True, slots=True)
class Conversation:
    sample_id: str
    speaker_a: str
    sessions: tuple[Session, ...]
    questions: tuple[Question, ...]

    @property
    def turn_count(self) -> int:
        return sum(len(s.turns) for s in self.sessions)

    @property
    def scored(self) -> list[Question]:
        return [q for q in self.questions if q.skip_reason is None]


def turn_text(turn: dict[str, Any]) -> str:
    """The text of a turn as stored: ``Speaker: text``, with the image caption appended
    when the speaker shared an image (the caption is all a text retriever can see of it)."""
    text = f"{turn['speaker']}: {turn['text']}"
    caption = turn.get("blip_caption")
    if caption:
        text += f" [shared an image: {caption}]"
    return text


def parse_conversation(doc: dict[str, Any]) -> Conversation:
    """One LoCoMo sample (its ``conversation`` and ``qa``) as a :class:`Conversation`."""
    conv = doc["conversation"]
    numbers = sorted(int(m.group(1)) for key in conv if (m := re.fullmatch(r"session_(\d+)", key)))
    sessions = []
    known: set[str] = set()
    for n in numbers:
        turns = []
        for raw in conv[f"session_{n}"]:
            ids, _ = normalise_evidence(raw["dia_id"])
            dia_id = ids[0] if len(ids) == 1 else str(raw["dia_id"])
            known.add(dia_id)
            turns.append(Turn(dia_id, str(raw["speaker"]), turn_text(raw)))
        if turns:
            date = str(conv.get(f"session_{n}_date_time", ""))
            sessions.append(Session(f"session_{n}", date, tuple(turns)))
    questions = []
    for qa in doc["qa"]:
        ids: list[str] = []
        malformed: list[str] = []
        for raw in qa.get("evidence") or []:
            found, bad = normalise_evidence(raw)
            ids += found
            malformed += bad
        unique = list(dict.fromkeys(ids))
        questions.append(
            Question(
                text=str(qa["question"]),
                category=int(qa["category"]),
                evidence=tuple(i for i in unique if i in known),
                malformed=tuple(malformed),
                missing=tuple(i for i in unique if i not in known),
            )
        )
    speaker_a = str(conv.get("speaker_a") or (sessions[0].turns[0].speaker if sessions else ""))
    return Conversation(str(doc.get("sample_id", "")), speaker_a, tuple(sessions), tuple(questions))


def load(path: Path) -> list[Conversation]:
    """Read the LoCoMo JSON file (a list of samples) at ``path``."""
    with open(path, encoding="utf-8") as f:
        docs = json.load(f)
    if not isinstance(docs, list):
        raise ValueError("expected a JSON list of LoCoMo samples")
    return [parse_conversation(d) for d in docs]


# -- scoring -------------------------------------------------------------------------------


def evidence_recall(ranked: Sequence[str], evidence: Sequence[str], k: int) -> float:
    """The share of ``evidence`` among the first ``k`` of ``ranked``."""
    top = set(ranked[:k])
    return sum(e in top for e in evidence) / len(evidence)


@dataclasses.dataclass
class ModeScores:
    """Per-question evidence recall at each k, by category, for one recall mode."""

    mode: str
    ks: tuple[int, ...]
    by_category: dict[int, list[tuple[float, ...]]] = dataclasses.field(default_factory=dict)
    latency: list[float] = dataclasses.field(default_factory=list)
    """Seconds per recall call, query embedding included."""
    by_conversation: dict[str, list[tuple[float, ...]]] = dataclasses.field(default_factory=dict)

    def add(
        self, category: int, ranked: Sequence[str], evidence: Sequence[str], conversation: str = ""
    ) -> None:
        scores = tuple(evidence_recall(ranked, evidence, k) for k in self.ks)
        self.by_category.setdefault(category, []).append(scores)
        self.by_conversation.setdefault(conversation, []).append(scores)

    def conversation_table(self) -> dict[str, dict[str, Any]]:
        """``{sample_id: {"n": count, "R@k": percent, ...}}``, in the order asked."""
        return {name: _row(scored, self.ks) for name, scored in self.by_conversation.items()}

    def table(self) -> dict[str, dict[str, Any]]:
        """``{row: {"n": count, "R@k": percent, ...}}`` per category, then overall."""
        rows: dict[str, dict[str, Any]] = {}
        every: list[tuple[float, ...]] = []
        for cat in sorted(self.by_category):
            scored = self.by_category[cat]
            every += scored
            rows[f"{cat} {CATEGORIES.get(cat, '?')}"] = _row(scored, self.ks)
        rows["overall"] = _row(every, self.ks)
        return rows


def _row(scored: list[tuple[float, ...]], ks: Sequence[int]) -> dict[str, Any]:
    row: dict[str, Any] = {"n": len(scored)}
    for i, k in enumerate(ks):
        row[f"R@{k}"] = 100 * statistics.fmean(s[i] for s in scored) if scored else float("nan")
    return row


@dataclasses.dataclass
class Report:
    ks: tuple[int, ...]
    modes: dict[str, ModeScores]
    conversations: int
    turns: int
    questions: int
    skipped: Counter[str]
    """Questions left out, by reason."""
    dropped_ids: Counter[str]
    """Evidence ids left out of questions that are scored on their other ids, by reason."""
    ingest_s: float

    @property
    def scored(self) -> int:
        return self.questions - sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ks": list(self.ks),
            "conversations": self.conversations,
            "turns": self.turns,
            "questions": self.questions,
            "scored": self.scored,
            "skipped": dict(self.skipped),
            "dropped_evidence_ids": dict(self.dropped_ids),
            "ingest_s": self.ingest_s,
            "recall": {m: s.table() for m, s in self.modes.items()},
            "recall_by_conversation": {m: s.conversation_table() for m, s in self.modes.items()},
            "latency": {
                m: Result(f"recall {m}", "s", s.latency).summary()
                for m, s in self.modes.items()
                if s.latency
            },
            "references": {
                name: {f"R@{k}": v for k, v in ref.items()} for name, ref in REFERENCES.items()
            },
        }


def _census(conversations: Sequence[Conversation]) -> tuple[Counter[str], Counter[str]]:
    skipped: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for conv in conversations:
        for q in conv.questions:
            if (reason := q.skip_reason) is not None:
                skipped[reason] += 1
            else:
                dropped["evidence is not a turn id"] += len(q.malformed)
                dropped["names no turn of the conversation"] += len(q.missing)
    return skipped, +dropped


# -- running -------------------------------------------------------------------------------


def profile_names(conversations: Sequence[Conversation]) -> list[str]:
    """A valid, distinct profile name per conversation, from its sample id."""
    names: list[str] = []
    for i, conv in enumerate(conversations):
        name = re.sub(r"[^a-z0-9_]+", "-", conv.sample_id.lower()).strip("-_")[:50]
        if not name or name in names:
            name = f"{name or 'conv'}-{i}".strip("-")
        names.append(name)
    return names


def ingest(prof: Any, conv: Conversation) -> int:
    """Append each session's turns to the profile's transcript, one batch per session.
    Speaker A is the ``user``, speaker B the ``assistant``; both keep their name."""
    count = 0
    for session in conv.sessions:
        batch = [
            {
                "role": "user" if t.speaker == conv.speaker_a else "assistant",
                "content": t.text,
                "name": t.speaker,
                "metadata": {"dia_id": t.dia_id, "date": session.date},
            }
            for t in session.turns
        ]
        prof.append_turns(session.id, batch)
        count += len(batch)
    return count


def ask(prof: Any, question: str, k: int, mode: str) -> list[str]:
    """The ``dia_id`` of each of the top ``k`` transcript hits, best first."""
    hits = prof.recall(question, k=k, scopes=["transcript"], mode=mode).results
    return [h.memory.metadata.get("dia_id", "") for h in hits]


def run(
    conversations: Sequence[Conversation],
    data_dir: Path,
    *,
    modes: Sequence[str] = MODES,
    ks: Sequence[int] = KS,
    embedder: Embedder | None = None,
) -> Report:
    """Ingest each conversation into its own profile under ``data_dir``, then ask every
    scorable question once per mode, ``max(ks)`` hits deep (recall's top k is a prefix of
    its top ``max(ks)``, so one call scores every k)."""
    ks = tuple(sorted(set(ks)))
    scores = {m: ModeScores(m, ks) for m in modes}
    total = sum(c.turn_count for c in conversations)
    with memoturn.open(data_dir, embedder=embedder) as eng:
        eng.create_namespace(NAMESPACE)
        eng.embedder.embed_query("warm up")
        profiles = []
        t0 = time.perf_counter()
        done = 0
        for conv, name in zip(conversations, profile_names(conversations), strict=True):
            if not eng.create_profile(NAMESPACE, name):
                raise FileExistsError(
                    f"profile {NAMESPACE}/{name} already exists in {data_dir}: "
                    "point --data-dir at an empty directory"
                )
            prof = eng.profile(NAMESPACE, name)
            done += ingest(prof, conv)
            elapsed = time.perf_counter() - t0
            progress(f"ingested {name}: {done}/{total} turns, {elapsed:.1f} s")
            profiles.append(prof)
        ingest_s = time.perf_counter() - t0
        for mode, s in scores.items():
            for conv, prof in zip(conversations, profiles, strict=True):
                asked = conv.scored
                if asked:
                    ask(prof, asked[0].text, max(ks), mode)  # warm this profile's caches
                for q in asked:
                    t = time.perf_counter()
                    ranked = ask(prof, q.text, max(ks), mode)
                    s.latency.append(time.perf_counter() - t)
                    s.add(q.category, ranked, q.evidence, conv.sample_id)
            p50 = 1e3 * statistics.median(s.latency) if s.latency else 0.0
            progress(f"{mode}: {len(s.latency)} questions asked, recall p50 {p50:.2f} ms")
    skipped, dropped = _census(conversations)
    return Report(
        ks=ks,
        modes=scores,
        conversations=len(conversations),
        turns=total,
        questions=sum(len(c.questions) for c in conversations),
        skipped=skipped,
        dropped_ids=dropped,
        ingest_s=ingest_s,
    )


# -- output --------------------------------------------------------------------------------


def _line(label: str, n: Any, values: Sequence[float | None]) -> str:
    cells = "".join(f"{v:>8.1f}" if v is not None else f"{'-':>8}" for v in values)
    return f"{label:<18} {n!s:>5}{cells}"


def render(report: Report) -> str:
    """The tables: per mode and category, overall beside the references, latency, skips."""
    ks = report.ks
    head = f"{'':<18} {'n':>5}" + "".join(f"{'R@' + str(k):>8}" for k in ks)
    rule = "-" * len(head)
    out: list[str] = []
    for mode, s in report.modes.items():
        out += [f"{mode}", head, rule]
        for label, row in s.table().items():
            out.append(_line(label, row["n"], [row[f"R@{k}"] for k in ks]))
        out.append("")
    out += ["overall, beside the LoCoMo paper's retrievers over turns (incl. category 5)"]
    out += [head, rule]
    for mode, s in report.modes.items():
        row = s.table()["overall"]
        out.append(_line(f"memoturn {mode}", row["n"], [row[f"R@{k}"] for k in ks]))
    for name, ref in REFERENCES.items():
        out.append(_line(name, "", [ref.get(k) for k in ks]))
    target = REFERENCES[TARGET]
    if "hybrid" in report.modes and all(k in target for k in ks):
        row = report.modes["hybrid"].table()["overall"]
        diff = {k: row[f"R@{k}"] - target[k] for k in ks}
        verdict = "beats" if all(d > 0 for d in diff.values()) else "does not beat"
        deltas = ", ".join(f"R@{k} {d:+.1f}" for k, d in diff.items())
        out.append(f"hybrid {verdict} {TARGET} at every k: {deltas}")
    out += ["", f"{'recall latency':<18} {'n':>5} {'p50':>10} {'p95':>10}"]
    for mode, s in report.modes.items():
        if s.latency:
            r = Result(mode, "s", s.latency).summary()
            out.append(f"{mode:<18} {r['n']:>5} {r['p50_ms']:>8.2f}ms {r['p95_ms']:>8.2f}ms")
    out += [
        "",
        f"{report.conversations} conversations, {report.turns} turns (ingested in "
        f"{report.ingest_s:.1f} s), {report.questions} questions, {report.scored} scored",
    ]
    for reason, n in report.skipped.most_common():
        out.append(f"  skipped {n} question(s): {reason}")
    for reason, n in report.dropped_ids.most_common():
        out.append(f"  left out {n} evidence id(s) of scored questions: {reason}")
    return "\n".join(out)


# -- command line --------------------------------------------------------------------------


def _ks(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, not {text!r}"
        ) from None
    if not values or not all(1 <= v <= 200 for v in values):
        raise argparse.ArgumentTypeError("each k must be between 1 and 200")
    return values


def _modes(text: str) -> list[str]:
    values = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not values or any(v not in MODES for v in values):
        raise argparse.ArgumentTypeError(f"modes are {','.join(MODES)}, not {text!r}")
    return values


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return int(text)


def _selection(text: str) -> list[int]:
    """Conversation indexes from ``0-4``, ``5,7,9`` or a mix (``0-2,8``), 0-based, in order."""
    chosen: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise argparse.ArgumentTypeError(
                f"expected indexes and ranges such as 0-4 or 0,2,5-9, not {text!r}"
            )
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if high < low:
            raise argparse.ArgumentTypeError(f"range {part!r} runs backwards")
        chosen.update(range(low, high + 1))
    return sorted(chosen)


def select(conversations: Sequence[Conversation], indexes: Sequence[int]) -> list[Conversation]:
    """The conversations at ``indexes`` (0-based); an index past the end is an error."""
    bad = [i for i in indexes if i >= len(conversations)]
    if bad:
        raise ValueError(
            f"conversation {bad[0]} does not exist: the file holds {len(conversations)} "
            f"(indexes 0-{len(conversations) - 1})"
        )
    return [conversations[i] for i in indexes]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memoturn eval locomo",
        description="Evidence recall of transcript recall on LoCoMo: each conversation in its "
        "own profile, each question asked in every mode, scored by the share of its evidence "
        "turns in the top k, per category and overall, beside the LoCoMo paper's retrievers.",
    )
    p.add_argument("--data", type=Path, required=True, help="path to locomo10.json")
    p.add_argument("--k", type=_ks, default=list(KS), help="cut-offs (default 5,10,25,50)")
    p.add_argument(
        "--modes", type=_modes, default=list(MODES), help="default hybrid,keyword,vector"
    )
    p.add_argument(
        "--limit-conversations", type=_positive, metavar="N", help="the first N conversations"
    )
    p.add_argument(
        "--conversations",
        type=_selection,
        metavar="LIST",
        help="which conversations, 0-based: ranges and lists such as 0-4 or 0,2,5-9 "
        "(e.g. choose changes on 0-4, score them on the held-out 5-9)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: the first conversation")
    p.add_argument("--out", type=Path, help="folder for a JSON report")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="an empty folder for the profiles (default: a temporary one, removed after)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        conversations = load(args.data)
    except FileNotFoundError:
        print(
            f"error: no LoCoMo file at {args.data}: pass --data PATH/locomo10.json", file=sys.stderr
        )
        return 2
    except (ValueError, KeyError, TypeError) as e:
        print(f"error: {args.data} is not LoCoMo data ({e!r})", file=sys.stderr)
        return 2
    if args.conversations is not None:
        if args.quick or args.limit_conversations:
            print(
                "error: --conversations does not combine with --quick or --limit-conversations",
                file=sys.stderr,
            )
            return 2
        try:
            conversations = select(conversations, args.conversations)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    limit = 1 if args.quick else args.limit_conversations
    conversations = conversations[:limit] if limit else conversations
    print(
        f"memoturn eval locomo: {len(conversations)} conversations, modes "
        f"{','.join(args.modes)}, k {','.join(map(str, args.k))}",
        file=sys.stderr,
    )
    try:
        if args.data_dir is None:
            with tempfile.TemporaryDirectory(prefix="memoturn-locomo-") as tmp:
                report = run(conversations, Path(tmp), modes=args.modes, ks=args.k)
        else:
            report = run(conversations, args.data_dir, modes=args.modes, ks=args.k)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(render(report))
    if args.out is not None:
        write_report(args.out, "locomo", vars(args), report.to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
