"""The LoCoMo evaluation: evidence ids, scoring, and a smoke run on the real data.

The real data is CC BY-NC: no test holds any of it. The scoring tests build a tiny
conversation of their own in the LoCoMo JSON shape.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from memoturn.bench import locomo
from memoturn.core import ranking

REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "locomo10.json"


@pytest.mark.parametrize(
    ("raw", "ids", "malformed"),
    [
        ("D1:3", ["D1:3"], []),
        ("D8:6; D9:17", ["D8:6", "D9:17"], []),
        ("D:11:26", ["D11:26"], []),
        ("D30:05", ["D30:5"], []),
        ("D9:1 D4:4 D4:6", ["D9:1", "D4:4", "D4:6"], []),
        ("D1:2,D1:4", ["D1:2", "D1:4"], []),
        ("  D2:7  ", ["D2:7"], []),
        ("D", [], ["D"]),
        ("D3:x", [], ["D3:x"]),
        ("", [], []),
    ],
)
def test_evidence_ids_are_split_and_normalised(raw: str, ids: list[str], malformed: list[str]):
    assert locomo.normalise_evidence(raw) == (ids, malformed)


def _sample() -> dict[str, Any]:
    """A made-up conversation in the LoCoMo shape: two sessions, a shared image."""
    s1 = [
        ("Ann", "I adopted a tortoise named Biscuit last weekend."),
        ("Bo", "Congratulations! I started pottery classes on Tuesday."),
        ("Ann", "My sister visits from Lisbon next month."),
    ]
    s2 = [
        ("Bo", "The pottery kiln cracked my first vase."),
        ("Ann", "Biscuit eats dandelions every morning."),
        ("Bo", "Look at this!"),
    ]
    session_1 = [{"speaker": sp, "dia_id": f"D1:{i}", "text": t} for i, (sp, t) in enumerate(s1, 1)]
    session_2 = [{"speaker": sp, "dia_id": f"D2:{i}", "text": t} for i, (sp, t) in enumerate(s2, 1)]
    session_2[2]["blip_caption"] = "a photo of a glazed teapot"
    qa = [
        {"question": "What is the name of Ann's tortoise?", "evidence": ["D1:1"], "category": 4},
        {"question": "What does Biscuit eat every morning?", "evidence": ["D2:02"], "category": 4},
        {
            "question": "What happened in Bo's pottery classes?",
            "evidence": ["D1:2; D2:1"],
            "category": 1,
        },
        {"question": "Where does Ann's sister live?", "evidence": ["D:1:3"], "category": 2},
        {"question": "Who painted the teapot?", "evidence": ["D9:9"], "category": 5},
        {"question": "Is Ann an artist?", "evidence": [], "category": 3},
        {"question": "What did Bo photograph?", "evidence": ["D"], "category": 4},
        {"question": "What does Biscuit eat?", "evidence": ["D2:2", "D7:1"], "category": 4},
    ]
    return {
        "sample_id": "conv-X",
        "conversation": {
            "speaker_a": "Ann",
            "speaker_b": "Bo",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": session_1,
            "session_2_date_time": "10:00 am on 20 May, 2023",
            "session_2": session_2,
        },
        "qa": qa,
    }


def test_conversation_is_parsed_with_captions_and_reasons() -> None:
    conv = locomo.parse_conversation(_sample())
    assert [s.id for s in conv.sessions] == ["session_1", "session_2"]
    assert conv.sessions[0].date == "1:56 pm on 8 May, 2023"
    assert conv.turn_count == 6
    assert conv.sessions[0].turns[0].text == "Ann: I adopted a tortoise named Biscuit last weekend."
    assert conv.sessions[1].turns[2].text == (
        "Bo: Look at this! [shared an image: a photo of a glazed teapot]"
    )
    q = conv.questions
    assert q[1].evidence == ("D2:2",)
    assert q[2].evidence == ("D1:2", "D2:1")
    assert q[3].evidence == ("D1:3",)
    assert [x.skip_reason for x in q[4:7]] == [
        "evidence names no turn of the conversation",
        "no evidence listed",
        "evidence is not a turn id",
    ]
    assert q[7].evidence == ("D2:2",) and q[7].missing == ("D7:1",)


def test_evidence_recall_is_the_share_found_in_the_top_k() -> None:
    ranked = ["D1:1", "D1:2", "D1:3", "D2:1"]
    assert locomo.evidence_recall(ranked, ["D1:2", "D2:1"], 2) == 0.5
    assert locomo.evidence_recall(ranked, ["D1:2", "D2:1"], 4) == 1.0
    assert locomo.evidence_recall(ranked, ["D9:9"], 4) == 0.0
    scores = locomo.ModeScores("keyword", (1, 2))
    scores.add(4, ranked, ["D1:1"])
    scores.add(4, ranked, ["D1:3"])
    scores.add(1, ranked, ["D1:1", "D1:2"])
    table = scores.table()
    assert table["4 single-hop"] == {"n": 2, "R@1": 50.0, "R@2": 50.0}
    assert table["1 multi-hop"] == {"n": 1, "R@1": 50.0, "R@2": 100.0}
    assert table["overall"]["n"] == 3
    assert table["overall"]["R@2"] == pytest.approx(100 * (1 + 0 + 1) / 3)


def test_scoring_end_to_end_on_a_made_up_conversation(tmp_path: Path, embedder, capsys) -> None:
    conv = locomo.parse_conversation(_sample())
    report = locomo.run([conv], tmp_path / "data", ks=(1, 3, 6), embedder=embedder)
    assert report.questions == 8 and report.turns == 6
    assert dict(report.skipped) == {
        "evidence names no turn of the conversation": 1,
        "no evidence listed": 1,
        "evidence is not a turn id": 1,
    }
    assert dict(report.dropped_ids) == {"names no turn of the conversation": 1}
    for mode in locomo.MODES:
        table = report.modes[mode].table()
        assert table["overall"]["n"] == 5
        # Every turn of the conversation is within the top 6: all evidence is found.
        assert table["overall"]["R@6"] == 100.0
        assert len(report.modes[mode].latency) == 5
    keyword = report.modes["keyword"].table()
    # Rare words ("tortoise", "Biscuit", "Lisbon"...) put single evidence turns near the top.
    # Not always first in a six-turn transcript: a turn's index entry also holds the two turns
    # before it, so here most words occur in half the entries and BM25's idf all but vanishes.
    assert keyword["4 single-hop"]["R@1"] >= 66.0
    assert keyword["4 single-hop"]["R@3"] == 100.0
    assert keyword["2 temporal"]["R@1"] == 100.0
    assert keyword["1 multi-hop"]["R@3"] >= 50.0
    text = locomo.render(report)
    assert (
        "hybrid" in text
        and "DRAGON" in text
        and "skipped 1 question(s): no evidence listed" in text
    )


def test_main_writes_a_json_report(tmp_path: Path, capsys) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps([_sample()]))
    code = locomo.main(
        ["--data", str(data), "--modes", "keyword", "--k", "1,5", "--out", str(tmp_path / "out")]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "keyword" in out and "R@5" in out
    (report,) = (tmp_path / "out").glob("locomo-*.json")
    doc = json.loads(report.read_text())
    assert doc["scored"] == 5 and doc["recall"]["keyword"]["overall"]["n"] == 5
    assert set(doc["latency"]) == {"keyword"}


def test_main_refuses_a_missing_or_foreign_file(tmp_path: Path, capsys) -> None:
    assert locomo.main(["--data", str(tmp_path / "nope.json")]) == 2
    assert "no LoCoMo file" in capsys.readouterr().err
    (tmp_path / "other.json").write_text('{"not": "locomo"}')
    assert locomo.main(["--data", str(tmp_path / "other.json")]) == 2
    assert "is not LoCoMo data" in capsys.readouterr().err


def test_profile_names_are_valid_and_distinct() -> None:
    convs = [
        locomo.Conversation(sid, "A", (), ()) for sid in ["conv-26", "Conv 26!", "", "conv-26"]
    ]
    assert locomo.profile_names(convs) == ["conv-26", "conv-26-1", "conv-2", "conv-26-3"]


# -- the ranking this benchmark tuned ----------------------------------------------------


def test_keyword_query_adds_irregular_verb_forms() -> None:
    match = ranking.fts_query("What did Melanie buy at the painting classes?")
    assert match == '"melanie" OR "buy" OR "bought" OR "painting" OR "classes"'
    assert ranking.fts_query("ZX-9000") == '"zx" OR "9000"'
    assert ranking.fts_query("the and of") == '"the" OR "and" OR "of"'
    assert ranking.fts_query("?!") is None


def test_fusion_keeps_the_top_keyword_hit_above_vector_only_hits() -> None:
    keyword = [(1, 9.0), (2, 1.0)]
    vector = [(3, 0.9), (4, 0.8), (2, 0.7)]
    fused = ranking.fuse(keyword, vector, similarity={1: 0.0})
    assert fused[0].key == 1 and fused[0].bm25_rank == 1
    assert fused[0].score == pytest.approx(0.5)
    # Seen by both lists beats seen by one, at equal strength.
    both = ranking.fuse([(1, 2.0), (2, 2.0)], [(2, 0.5), (3, 0.5)], similarity={1: 0.1})
    assert [f.key for f in both][:1] == [2]
    assert both[0].similarity == 0.5 and both[1].similarity == 0.1


@pytest.mark.slow
def test_quick_run_on_the_real_data(tmp_path: Path, capsys) -> None:
    if not REAL_DATA.is_file():
        pytest.skip(f"LoCoMo data not found at {REAL_DATA} (CI keeps it at ../shared/data/)")
    code = locomo.main(["--data", str(REAL_DATA), "--quick", "--out", str(tmp_path)])
    assert code == 0
    (report,) = tmp_path.glob("locomo-*.json")
    doc = json.loads(report.read_text())
    assert doc["conversations"] == 1 and doc["scored"] > 100
    for mode in locomo.MODES:
        overall = doc["recall"][mode]["overall"]
        values = [overall[f"R@{k}"] for k in locomo.KS]
        assert values == sorted(values) and all(0 <= v <= 100 for v in values)
        assert doc["latency"][mode]["p50_ms"] > 0
    hybrid = doc["recall"]["hybrid"]["overall"]
    assert hybrid["R@10"] > 50
    assert hybrid["R@50"] >= doc["recall"]["vector"]["overall"]["R@50"]
    assert "beside the LoCoMo paper" in capsys.readouterr().out


def test_conversations_selects_ranges_and_lists(tmp_path: Path, capsys) -> None:
    assert locomo._selection("0-2,5") == [0, 1, 2, 5]
    assert locomo._selection("7") == [7]
    assert locomo._selection("3-4,0-1") == [0, 1, 3, 4]
    for bad in ("4-2", "a", "1-", "", "-3"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"range|expected"):
            locomo._selection(bad)
    samples = []
    for i in range(3):
        doc = _sample()
        doc["sample_id"] = f"conv-{i}"
        samples.append(doc)
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(samples))
    out = tmp_path / "out"
    args = ["--data", str(data), "--modes", "keyword", "--out", str(out)]
    assert locomo.main([*args, "--conversations", "0,2"]) == 0
    (report,) = out.glob("locomo-*.json")
    doc = json.loads(report.read_text())
    assert doc["conversations"] == 2
    assert list(doc["recall_by_conversation"]["keyword"]) == ["conv-0", "conv-2"]
    capsys.readouterr()
    # An index past the end is refused before anything runs.
    assert locomo.main([*args, "--conversations", "1-3"]) == 2
    assert "conversation 3 does not exist" in capsys.readouterr().err
    assert locomo.main([*args, "--conversations", "0", "--quick"]) == 2
