"""The mem0 side-by-side's own parts: what both systems are fed, and clear errors when its
second environment or the data is missing (the run itself is `make bench-mem0`, not a
test: it needs mem0's environment and takes minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memoturn.bench import mem0_side
from memoturn.bench.locomo import ModeScores, parse_conversation

SAMPLE = {
    "sample_id": "conv-1",
    "conversation": {
        "speaker_a": "Ann",
        "speaker_b": "Bo",
        "session_1_date_time": "1 May 2023",
        "session_1": [
            {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a cat."},
            {"speaker": "Bo", "dia_id": "D1:2", "text": "Look!", "blip_caption": "a dog"},
        ],
        "session_2_date_time": "2 May 2023",
        "session_2": [{"speaker": "Ann", "dia_id": "D2:1", "text": "The cat is Max."}],
    },
    "qa": [
        {"question": "What is the cat called?", "category": 4, "evidence": ["D2:1"]},
        {"question": "Unanswerable?", "category": 5, "evidence": []},
    ],
}


def test_both_systems_get_every_turn_in_order_with_its_id_role_and_date() -> None:
    conv = parse_conversation(SAMPLE)
    assert mem0_side.turns_of(conv) == [
        {"dia_id": "D1:1", "text": "Ann: I adopted a cat.", "role": "user", "name": "Ann",
         "date": "1 May 2023"},
        {"dia_id": "D1:2", "text": "Bo: Look! [shared an image: a dog]", "role": "assistant",
         "name": "Bo", "date": "1 May 2023"},
        {"dia_id": "D2:1", "text": "Ann: The cat is Max.", "role": "user", "name": "Ann",
         "date": "2 May 2023"},
    ]  # fmt: skip


def test_a_missing_mem0_environment_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(mem0_side.WorkerError, match="make bench-mem0"):
        mem0_side.Worker(tmp_path / "no-venv" / "bin" / "python", tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_the_command_refuses_a_missing_environment_or_data(tmp_path: Path, capsys) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps([SAMPLE]))
    missing = str(tmp_path / "nothing" / "python")
    assert mem0_side.main(["--data", str(data), "--mem0-python", missing]) == 2
    assert "make bench-mem0" in capsys.readouterr().err
    assert mem0_side.main(["--data", str(tmp_path / "none.json")]) == 2
    assert "no LoCoMo file" in capsys.readouterr().err


def test_the_report_prints_recall_latency_and_the_ratios() -> None:
    scores = {name: ModeScores(name, mem0_side.KS) for name in mem0_side.SYSTEMS}
    for name, hit in (("memoturn hybrid", "D1"), ("memoturn vector", "x"), ("mem0", "x")):
        scores[name].add(4, [hit], ["D1"])
        scores[name].latency.append(0.1 if name == "mem0" else 0.01)
    sides = {"memoturn": mem0_side.Side([0.01], [0.005], [0.004], 1),
             "mem0": mem0_side.Side([0.02], [0.01], [0.008], 1)}  # fmt: skip
    report = mem0_side.Report(1, 1, 1, scores, sides, {"before": (1, 1, 1), "after": (2, 2, 2)},
                              {"keyword_search": False}, 3.0)  # fmt: skip
    text = mem0_side.render(report)
    assert "memoturn hybrid" in text and "100.0" in text
    assert "ingest: mem0 p50 / memoturn p50 = 2.0x" in text
    assert "recall (hybrid): mem0 p50 / memoturn p50 = 10.0x" in text
    assert "mem0 keyword search (BM25): off" in text
    assert report.to_dict()["recall"]["mem0"]["R@5"] == 0.0
