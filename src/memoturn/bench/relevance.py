"""``memoturn eval relevance``: can recall say "nothing relevant"?

Every recall hit carries a calibrated ``relevance`` (see ``memoturn.core.ranking``), and
``min_score`` drops hits below it. This evaluation measures the two sides of a threshold on
the labelled set of :mod:`memoturn.bench.relevance_data` (written for Memoturn, not LoCoMo):
the share of unrelated questions that come back empty, and the share of related questions
whose memory is still among the top k hits.

The set is split in two halves. The coefficients in the code and the recommended threshold
were fitted on the fit half (``--fit`` refits them and prints what to paste); the figures are
reported on the other half, whose memories go into a profile of their own.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import memoturn
from memoturn.bench import relevance_data
from memoturn.bench.stats import progress, write_report
from memoturn.core import ranking
from memoturn.embed import Embedder
from memoturn.profile.recall import item_tokens, query_tokens

NAMESPACE = "relevance"
MODES = ("hybrid", "keyword", "vector")
POOL = 10
"""A question's fitting pool: the first ``POOL`` hits of hybrid recall, plus its memory."""
THRESHOLDS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""The thresholds reported; the recommended one is chosen on a finer grid."""
FINE = tuple(round(0.01 * i, 2) for i in range(1, 100))


@dataclasses.dataclass(frozen=True, slots=True)
class Half:
    name: str
    pairs: tuple[tuple[str, str], ...]
    unrelated: tuple[str, ...]


def halves() -> tuple[Half, Half]:
    """(fit, report): even and odd positions of the labelled set."""
    pairs, unrelated = relevance_data.PAIRS, relevance_data.UNRELATED
    return (
        Half("fit", pairs[0::2], unrelated[0::2]),
        Half("report", pairs[1::2], unrelated[1::2]),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    content: str
    similarity: float | None
    coverage: float
    relevance: float


@dataclasses.dataclass(frozen=True, slots=True)
class Asked:
    """One question asked of one profile: every hit recall returned (best first)."""

    question: str
    target: str | None
    """The memory that answers it; ``None`` for an unrelated question."""
    hits: tuple[Hit, ...]

    def found(self, k: int, threshold: float | None, rel: Relevance) -> bool:
        """Whether the target is among the top ``k`` hits that pass ``threshold``."""
        kept = [h for h in self.hits if threshold is None or rel(h) >= threshold][:k]
        return any(h.content == self.target for h in kept)

    def empty(self, threshold: float | None, rel: Relevance) -> bool:
        return threshold is not None and all(rel(h) < threshold for h in self.hits)


Relevance = Callable[[Hit], float]


def as_recalled(hit: Hit) -> float:
    """The relevance recall gave the hit (the model in the code)."""
    return hit.relevance


def refitted(model: Sequence[float], words_model: Sequence[float]) -> Relevance:
    """Relevance under other coefficients, from the hit's own evidence."""
    return lambda h: ranking.relevance(
        h.similarity, h.coverage, model=model, words_model=words_model
    )


def ask_all(prof: Any, half: Half, mode: str) -> list[Asked]:
    """Each question of the half, asked once with recall's widest ``k`` (the profile holds
    fewer memories, so hybrid and vector recall return every one; the first k of them are
    what ``k`` would return)."""
    out = []
    questions = [(q, m) for m, q in half.pairs] + [(q, None) for q in half.unrelated]
    for question, target in questions:
        words = query_tokens(question)
        hits = prof.recall(question, k=200, mode=mode).results
        out.append(
            Asked(
                question,
                target,
                tuple(
                    Hit(
                        h.memory.content,
                        h.why.similarity,
                        ranking.coverage(words, item_tokens(h.scope, h.memory)),
                        h.relevance,
                    )
                    for h in hits
                ),
            )
        )
    return out


def pool(asked: Sequence[Asked], size: int = POOL) -> tuple[list[Hit], list[int]]:
    """The fitting pool: each question's first ``size`` hits (label 1 for its memory, 0 for
    the others) and its memory wherever it ranked."""
    hits, labels = [], []
    for a in asked:
        top = list(a.hits[:size])
        top += [h for h in a.hits[size:] if h.content == a.target]
        for h in top:
            hits.append(h)
            labels.append(int(h.content == a.target))
    return hits, labels


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Logistic regression by Newton's method (a column of ones is added: the intercept
    comes first); a small ridge keeps it finite if the classes separate."""
    x = np.column_stack([np.ones(len(x)), x])
    w = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + l2 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def fit(asked_hybrid: Sequence[Asked], asked_keyword: Sequence[Asked]) -> dict[str, Any]:
    """Both models' coefficients, each fitted on its own mode's pool."""
    hits, labels = pool(asked_hybrid)
    x = np.array([[h.similarity or 0.0, float(h.coverage >= 1.0)] for h in hits])
    full = fit_logistic(x, np.array(labels, dtype=float))
    hits, labels = pool(asked_keyword)
    x = np.array([[h.coverage] for h in hits])
    words = fit_logistic(x, np.array(labels, dtype=float))
    return {
        "RELEVANCE_MODEL": tuple(round(float(v), 3) for v in full),
        "RELEVANCE_WORDS_MODEL": tuple(round(float(v), 3) for v in words),
    }


def sweep(
    asked: Sequence[Asked], k: int, rel: Relevance = as_recalled
) -> dict[float | None, dict[str, float]]:
    """Per threshold (``None``: no threshold): % unrelated empty, % related found in top k."""
    related = [a for a in asked if a.target is not None]
    unrelated = [a for a in asked if a.target is None]
    out: dict[float | None, dict[str, float]] = {}
    for t in (None, *THRESHOLDS, ranking.RECOMMENDED_MIN_SCORE):
        out[t] = {
            "unrelated_empty": 100.0 * sum(a.empty(t, rel) for a in unrelated) / len(unrelated),
            "related_found": 100.0 * sum(a.found(k, t, rel) for a in related) / len(related),
        }
    return out


def best_threshold(asked: Sequence[Asked], k: int, rel: Relevance) -> float:
    """The threshold (steps of 0.01) with the highest sum of the two shares: unrelated
    questions answered with nothing, related ones that still find their memory in the top
    ``k`` (ties: the lowest)."""
    related = [a for a in asked if a.target is not None]
    unrelated = [a for a in asked if a.target is None]

    def total(t: float) -> float:
        empty = sum(a.empty(t, rel) for a in unrelated) / len(unrelated)
        return empty + sum(a.found(k, t, rel) for a in related) / len(related)

    return max(FINE, key=lambda t: (total(t), -t))


def calibration(asked: Sequence[Asked], bins: int = 5) -> dict[str, Any]:
    """How well relevance reads as a probability on a pool: Brier score and, per bin of
    predicted relevance, the mean prediction beside the share that were the memory sought."""
    hits, labels = pool(asked)
    p = np.array([h.relevance for h in hits])
    y = np.array(labels, dtype=float)
    table = []
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        mask = (p >= lo) & ((p < hi) if i < bins - 1 else (p <= hi))
        if mask.any():
            table.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": int(mask.sum()),
                    "predicted": float(p[mask].mean()),
                    "observed": float(y[mask].mean()),
                }
            )
    return {"pairs": len(hits), "brier": float(np.mean((p - y) ** 2)), "bins": table}


@dataclasses.dataclass
class Report:
    k: int
    half: str
    memories: int
    related: int
    unrelated: int
    sweeps: dict[str, dict[float | None, dict[str, float]]]
    calibration: dict[str, Any]
    checked: dict[str, int]
    """Real ``recall(k, min_score=recommended)`` calls that agreed with the sweep."""
    fitted: dict[str, Any] | None = None
    fit_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["sweeps"] = {
            m: {("off" if t is None else str(t)): r for t, r in s.items()}
            for m, s in self.sweeps.items()
        }
        return doc


def _profile(eng: Any, half: Half) -> Any:
    if not eng.create_profile(NAMESPACE, half.name):
        raise FileExistsError(
            f"profile {NAMESPACE}/{half.name} already exists: point --data-dir at an empty folder"
        )
    prof = eng.profile(NAMESPACE, half.name)
    prof.ingest_many([{"type": "fact", "content": m} for m, _ in half.pairs])
    return prof


def _check(prof: Any, asked: Sequence[Asked], k: int, mode: str) -> int:
    """Ask each question again through ``min_score`` itself; it must agree with the sweep."""
    t = ranking.RECOMMENDED_MIN_SCORE
    for a in asked:
        hits = prof.recall(a.question, k=k, mode=mode, min_score=t).results
        got = [h.memory.content for h in hits]
        want = [h.content for h in a.hits if h.relevance >= t][:k]
        if got != want:
            raise AssertionError(f"min_score={t} disagrees with the sweep for {a.question!r}")
    return len(asked)


def run(
    data_dir: Path,
    *,
    k: int = 10,
    modes: Sequence[str] = MODES,
    refit: bool = False,
    embedder: Embedder | None = None,
) -> Report:
    """Ingest each half into its own profile, ask every question in each mode, and report
    on the report half (refitting on the fit half too when ``refit``)."""
    fit_half, report_half = halves()
    with memoturn.open(data_dir, embedder=embedder) as eng:
        eng.create_namespace(NAMESPACE)
        eng.embedder.embed_query("warm up")
        fitted = fit_threshold = None
        if refit:
            prof = _profile(eng, fit_half)
            by_mode = {m: ask_all(prof, fit_half, m) for m in ("hybrid", "keyword")}
            fitted = fit(by_mode["hybrid"], by_mode["keyword"])
            rel = refitted(fitted["RELEVANCE_MODEL"], fitted["RELEVANCE_WORDS_MODEL"])
            fit_threshold = best_threshold(by_mode["hybrid"], k, rel)
            progress(f"fitted on the fit half: {fitted}, threshold {fit_threshold}")
        prof = _profile(eng, report_half)
        sweeps, checked, hybrid = {}, {}, []
        for mode in modes:
            t0 = time.perf_counter()
            asked = ask_all(prof, report_half, mode)
            sweeps[mode] = sweep(asked, k)
            checked[mode] = _check(prof, asked, k, mode)
            hybrid = asked if mode == "hybrid" else hybrid
            progress(f"{mode}: {len(asked)} questions in {time.perf_counter() - t0:.1f} s")
    return Report(
        k=k,
        half=report_half.name,
        memories=len(report_half.pairs),
        related=len(report_half.pairs),
        unrelated=len(report_half.unrelated),
        sweeps=sweeps,
        calibration=calibration(hybrid) if hybrid else {},
        checked=checked,
        fitted=fitted,
        fit_threshold=fit_threshold,
    )


def render(report: Report) -> str:
    rec = ranking.RECOMMENDED_MIN_SCORE
    out = [
        f"report half: {report.memories} memories in one profile, {report.related} related "
        f"and {report.unrelated} unrelated questions, k={report.k}",
        "",
        f"{'min_score':<11}"
        + "".join(f"{m + ' empty':>16}{m + ' found':>16}" for m in report.sweeps),
        "-" * (11 + 32 * len(report.sweeps)),
    ]
    for t in (None, *sorted({*THRESHOLDS, rec})):
        label = "off" if t is None else f"{t:.2f}" + (" *" if t == rec else "")
        cells = "".join(
            f"{s[t]['unrelated_empty']:>15.1f}%{s[t]['related_found']:>15.1f}%"
            for s in report.sweeps.values()
        )
        out.append(f"{label:<11}{cells}")
    out += [
        "",
        "empty: share of unrelated questions that return no hit at all; found: share of "
        f"related questions whose memory is in the top {report.k}; * recommended min_score",
    ]
    for mode, s in report.sweeps.items():
        r = s[rec]
        out.append(
            f"at min_score {rec} ({mode}): {r['unrelated_empty']:.1f}% of unrelated questions "
            f"return nothing, {r['related_found']:.1f}% of related ones still find their "
            f"memory (without min_score: {s[None]['related_found']:.1f}%)"
        )
    if report.calibration:
        c = report.calibration
        out += ["", f"calibration (hybrid, {c['pairs']} pairs): Brier {c['brier']:.3f}"]
        out += [
            f"  relevance {b['bin']}: n={b['n']:>4}  predicted {b['predicted']:.2f}  "
            f"observed {b['observed']:.2f}"
            for b in c["bins"]
        ]
    if report.fitted is not None:
        out += ["", "refitted on the fit half (paste into memoturn/core/ranking.py):"]
        out += [f"  {name} = {value}" for name, value in report.fitted.items()]
        out.append(f"  RECOMMENDED_MIN_SCORE = {report.fit_threshold}")
        out.append(
            f"  in the code now: RELEVANCE_MODEL = {ranking.RELEVANCE_MODEL}, "
            f"RELEVANCE_WORDS_MODEL = {ranking.RELEVANCE_WORDS_MODEL}, "
            f"RECOMMENDED_MIN_SCORE = {rec}"
        )
    return "\n".join(out)


def _modes(text: str) -> list[str]:
    values = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not values or any(v not in MODES for v in values):
        raise argparse.ArgumentTypeError(f"modes are {','.join(MODES)}, not {text!r}")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memoturn eval relevance",
        description="Calibrated relevance and min_score on Memoturn's own labelled set (not "
        "LoCoMo): the share of unrelated questions that come back empty and of related ones "
        "that still find their memory, per threshold, on the half not used for fitting.",
    )
    p.add_argument("--k", type=int, default=10, help="hits asked for (default 10)")
    p.add_argument(
        "--modes", type=_modes, default=list(MODES), help="default hybrid,keyword,vector"
    )
    p.add_argument("--fit", action="store_true", help="also refit the coefficients on the fit half")
    p.add_argument("--out", type=Path, help="folder for a JSON report")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="an empty folder for the profiles (default: a temporary one, removed after)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 1 <= args.k <= 200:
        print("error: --k must be between 1 and 200", file=sys.stderr)
        return 2
    print(
        "memoturn eval relevance: Memoturn's labelled set, fit half / report half", file=sys.stderr
    )
    try:
        if args.data_dir is None:
            with tempfile.TemporaryDirectory(prefix="memoturn-relevance-") as tmp:
                report = run(Path(tmp), k=args.k, modes=args.modes, refit=args.fit)
        else:
            report = run(args.data_dir, k=args.k, modes=args.modes, refit=args.fit)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(render(report))
    if args.out is not None:
        arguments = {"k": args.k, "modes": args.modes, "fit": args.fit}
        write_report(args.out, "relevance", arguments, report.to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
