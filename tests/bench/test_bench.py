"""`memoturn bench --quick` runs end to end (figures are printed, never asserted)."""

from __future__ import annotations

import json

import pytest

from memoturn.bench import main


@pytest.mark.slow
@pytest.mark.parametrize("group", ["storage", "follow", "recall", "edges", "governance"])
def test_quick_bench_runs_and_writes_json(tmp_path, capsys, group) -> None:
    assert main(["--quick", "--only", group, "--no-s3", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "p50" in table and "JSON report:" in table
    (report,) = tmp_path.glob("bench-*.json")
    doc = json.loads(report.read_text())
    assert doc["machine"]["cpus"] and doc["results"]
    for row in doc["results"]:
        assert row["n"] > 0 and row["p50_ms"] >= 0
