"""Concurrent embedding calls share model runs, and every caller gets exactly the rows the
model gives its texts (the real local model; the coalescing is forced by holding the model
busy, never by timing)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from memoturn.core.errors import InvalidInput
from memoturn.embed.batching import BatchingEmbedder


class _Held:
    """The real embedder, with a gate its first run waits on (so calls pile up behind it)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []
        self.name, self.dim = inner.name, inner.dim
        self.self_hosted, self.egress, self.max_tokens = True, "in_process", inner.max_tokens

    def embed(self, texts):
        self.entered.set()
        self.gate.wait(timeout=60)
        self.batches.append(len(texts))
        return self.inner.embed(texts)


def test_calls_arriving_while_the_model_runs_share_the_next_run(embedder) -> None:
    held = _Held(embedder)
    batching = BatchingEmbedder(held)
    texts = [f"note number {i} about the garden" for i in range(12)]
    out: dict[int, np.ndarray] = {}
    first = threading.Thread(target=lambda: out.__setitem__(-1, batching.embed(["first"])))
    first.start()
    assert held.entered.wait(timeout=60)
    threads = [
        threading.Thread(target=lambda i=i: out.__setitem__(i, batching.embed([texts[i]])))
        for i in range(12)
    ]
    for t in threads:
        t.start()
    while True:  # every call queued behind the busy model
        with batching._cond:
            if len(batching._queue) == 12:
                break
        threading.Event().wait(0.001)
    held.gate.set()
    for t in [first, *threads]:
        t.join()
    assert held.batches == [1, 12]
    expected = embedder.embed(texts)
    for i in range(12):
        np.testing.assert_allclose(out[i][0], expected[i], atol=1e-5)
    np.testing.assert_allclose(out[-1][0], embedder.embed_query("first"), atol=1e-5)


def test_a_lone_call_runs_at_once_and_errors_reach_the_caller(embedder) -> None:
    batching = BatchingEmbedder(embedder)
    vec = batching.embed_query("hello")
    np.testing.assert_allclose(vec, embedder.embed_query("hello"), atol=1e-5)
    assert batching.embed([]).shape == (0, embedder.dim)
    with pytest.raises(InvalidInput):
        batching.embed("a bare string")
    assert (batching.name, batching.dim) == (embedder.name, embedder.dim)


def test_a_failing_run_fails_every_call_in_it_and_the_next_run_works(embedder) -> None:
    class Flaky:
        name, dim, self_hosted, egress, max_tokens = "flaky", embedder.dim, True, "in_process", 1
        fail = True

        def embed(self, texts):
            if self.fail:
                self.fail = False
                raise RuntimeError("model crashed")
            return embedder.embed(texts)

    batching = BatchingEmbedder(Flaky())
    with pytest.raises(RuntimeError, match="model crashed"):
        batching.embed(["x"])
    assert batching.embed(["x"]).shape == (1, embedder.dim)
