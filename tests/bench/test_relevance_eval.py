"""``memoturn eval relevance``: the labelled set, the fit, and the figures it reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memoturn import cli
from memoturn.bench import relevance, relevance_data
from memoturn.core import ranking


def test_the_labelled_set_is_two_disjoint_halves() -> None:
    fit, report = relevance.halves()
    assert len(relevance_data.PAIRS) >= 150 and len(relevance_data.UNRELATED) >= 150
    memories = [m for m, _ in relevance_data.PAIRS]
    questions = [q for _, q in relevance_data.PAIRS] + list(relevance_data.UNRELATED)
    assert len(set(memories)) == len(memories) and len(set(questions)) == len(questions)
    assert not {m for m, _ in fit.pairs} & {m for m, _ in report.pairs}
    assert not set(fit.unrelated) & set(report.unrelated)
    assert len(fit.pairs) + len(report.pairs) == len(relevance_data.PAIRS)


def test_logistic_fit_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20_000, 2))
    p = 1 / (1 + np.exp(-(-1.0 + 2.0 * x[:, 0] - 0.5 * x[:, 1])))
    y = (rng.random(20_000) < p).astype(float)
    assert relevance.fit_logistic(x, y) == pytest.approx([-1.0, 2.0, -0.5], abs=0.1)


@pytest.mark.slow
def test_the_coefficients_in_the_code_come_from_the_fit_half(tmp_path: Path, embedder) -> None:
    report = relevance.run(tmp_path / "data", modes=("hybrid",), refit=True, embedder=embedder)
    assert report.fitted is not None
    for name, fitted in report.fitted.items():
        assert getattr(ranking, name) == pytest.approx(fitted, abs=0.05), name
    assert report.fit_threshold == pytest.approx(ranking.RECOMMENDED_MIN_SCORE, abs=0.02)
    at = report.sweeps["hybrid"][ranking.RECOMMENDED_MIN_SCORE]
    off = report.sweeps["hybrid"][None]
    # docs/benchmarks.md states these figures; they move only if the model or data move.
    assert at["unrelated_empty"] >= 80 and at["related_found"] >= 65
    assert off["unrelated_empty"] == 0 and off["related_found"] >= 95
    assert report.checked == {"hybrid": 180}
    assert report.calibration["brier"] < 0.05
    text = relevance.render(report)
    assert f"at min_score {ranking.RECOMMENDED_MIN_SCORE} (hybrid)" in text


def test_cli_eval_relevance_writes_a_json_report(tmp_path: Path, capsys) -> None:
    argv = ["eval", "relevance", "--modes", "keyword", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "(keyword):" in out and "unrelated questions return nothing" in out
    (path,) = tmp_path.glob("relevance-*.json")
    doc = json.loads(path.read_text())
    assert set(doc["sweeps"]) == {"keyword"} and doc["checked"] == {"keyword": 180}
    assert doc["sweeps"]["keyword"]["off"]["unrelated_empty"] == 0
    assert doc["memories"] == len(relevance_data.PAIRS) // 2


def test_cli_eval_relevance_refuses_a_bad_k(capsys) -> None:
    assert cli.main(["eval", "relevance", "--k", "0"]) == 2
    assert "--k must be between 1 and 200" in capsys.readouterr().err
