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


SEED_SCENARIOS = {
    "seed: provision (memory store)": 0.017,
    "seed: provision 10k batch (local store)": 93,
    "seed: branch create (memory store)": 0.047,
    "seed: checkpoint create (memory store)": 0.047,
    "seed: branch create (memory store) @300": 0.047,
    "seed: checkpoint create (memory store) @300": 0.047,
    "seed: wake + query @10 (memory store)": 0.7,
    "seed: failover after kill -9": 15000,
}


@pytest.mark.slow
def test_the_seed_scenarios_carry_the_seed_s_figures(tmp_path, capsys) -> None:
    assert main(["--quick", "--only", "seed", "--out", str(tmp_path)]) == 0
    (report,) = tmp_path.glob("bench-*.json")
    rows = {r["scenario"]: r for r in json.loads(report.read_text())["results"]}
    assert {name: rows[name].get("seed_ms") for name in SEED_SCENARIOS} == SEED_SCENARIOS
    assert "seed: 15000 ms" in capsys.readouterr().out
