"""KV spaces, documents and raw vector collections."""

from __future__ import annotations

import pytest

from memoturn import InvalidInput, NotFound, TooLarge
from memoturn.core import limits
from memoturn.profile.documents import chunk_text


def test_kv_roundtrip_ttl_and_prefix(profile, clock) -> None:
    _r = profile.kv_set("scratch", "plan/step1", {"done": False, "n": [1, 2]})
    item, txid = _r, _r.txid
    assert item.value == {"done": False, "n": [1, 2]} and txid == 1
    profile.kv_set("scratch", "plan/step2", "text", ttl_s=10)
    profile.kv_set("scratch", "other", None)
    profile.kv_set("flags", "plan/x", True)
    assert profile.kv_get("scratch", "other").value is None
    assert [i.key for i in profile.kv_list("scratch", prefix="plan/").items] == [
        "plan/step1",
        "plan/step2",
    ]
    clock.advance(11)
    with pytest.raises(NotFound):
        profile.kv_get("scratch", "plan/step2")
    assert [i.key for i in profile.kv_list("scratch", prefix="plan/").items] == ["plan/step1"]
    assert profile.kv_delete("scratch", "plan/step1").count == 1
    assert profile.kv_delete("scratch", "plan/step1").count == 0
    assert profile.kv_list("scratch", prefix="plan/").items == []


def test_kv_prefix_with_like_wildcards(profile) -> None:
    profile.kv_set("s", "a%b", 1)
    profile.kv_set("s", "axb", 2)
    profile.kv_set("s", "a_c", 3)
    assert [i.key for i in profile.kv_list("s", prefix="a%").items] == ["a%b"]
    assert [i.key for i in profile.kv_list("s", prefix="a_").items] == ["a_c"]


@pytest.mark.parametrize(
    ("space", "key", "value", "error"),
    [
        ("Bad Space", "k", 1, InvalidInput),
        ("s", "", 1, InvalidInput),
        ("s", "k" * 600, 1, TooLarge),
        ("s", "k", "v" * (limits.MAX_KV_VALUE_BYTES + 1), TooLarge),
        ("s", "k", {1, 2}, InvalidInput),
        ("s", "k", float("inf"), InvalidInput),
    ],
)
def test_kv_bad_input(profile, space, key, value, error) -> None:
    with pytest.raises(error):
        profile.kv_set(space, key, value)
    assert profile.txid == 0


def test_chunking_keeps_every_word() -> None:
    text = " ".join(f"word{i}." for i in range(2000))
    chunks = chunk_text(text, 300)
    assert all(len(c) <= 300 for c in chunks)
    assert " ".join(chunks).split() == text.split()
    assert chunk_text("x" * 950, 300) == ["x" * 300, "x" * 300, "x" * 300, "x" * 50]


def test_documents_chunked_recallable_deletable(profile) -> None:
    body = "\n\n".join(
        [f"Paragraph {i} talks about gardening and soil." * 5 for i in range(10)]
        + ["The warranty for the espresso machine lasts two years."]
    )
    _r = profile.add_document(body, title="Manual", metadata={"kind": "manual"})
    doc, _ = _r.document, _r.txid
    assert doc.chunks > 1 and profile.get_document(doc.id).document.content == body
    hits = profile.recall("how long is the coffee maker guaranteed?", scopes=["documents"]).results
    assert "warranty" in hits[0].memory.content and hits[0].memory.document_id == doc.id
    assert hits[0].memory.metadata == {"kind": "manual"}
    profile.delete_document(doc.id)
    with pytest.raises(NotFound):
        profile.get_document(doc.id)
    assert profile.recall("warranty espresso", scopes=["documents"]).results == []


def test_document_too_large(profile) -> None:
    with pytest.raises(TooLarge):
        profile.add_document("x" * (limits.MAX_DOCUMENT_BYTES + 1))
    assert profile.txid == 0


def test_vectors_upsert_query_filter_delete(profile) -> None:
    profile.vector_upsert("img", "a", [1.0, 0.0, 0.0], metadata={"tag": "x"})
    profile.vector_upsert("img", "b", [0.0, 1.0, 0.0], metadata={"tag": "y"})
    profile.vector_upsert("img", "c", [0.7, 0.7, 0.0], metadata={"tag": "y"})
    hits = profile.vector_query("img", [1.0, 0.1, 0.0], k=2).results
    assert [h.id for h in hits] == ["a", "c"] and hits[0].score > hits[1].score
    assert [
        h.id for h in profile.vector_query("img", [1.0, 0.1, 0.0], metadata={"tag": "y"}).results
    ] == [
        "c",
        "b",
    ]
    profile.vector_upsert("img", "a", [0.0, 0.0, 1.0])
    assert profile.vector_query("img", [1.0, 0.0, 0.0], k=1).results[0].id == "c"
    profile.vector_delete("img", "a")
    assert {h.id for h in profile.vector_query("img", [0.0, 0.0, 1.0]).results} == {"b", "c"}
    with pytest.raises(NotFound):
        profile.vector_delete("img", "a")


@pytest.mark.parametrize(
    "vector",
    [[], [0.0, 0.0, 0.0], [1.0, float("nan"), 0.0], ["a", 1, 2], [1.0, 2.0], [True, 1.0, 2.0]],
)
def test_vectors_bad_input(profile, vector) -> None:
    profile.vector_upsert("c", "ok", [1.0, 2.0, 3.0])
    txid = profile.txid
    with pytest.raises(InvalidInput):
        profile.vector_upsert("c", "bad", vector)
    assert profile.txid == txid
    with pytest.raises(NotFound):
        profile.vector_query("missing", [1.0])
