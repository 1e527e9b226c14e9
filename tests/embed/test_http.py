"""OpenAICompatibleEmbedder against a real HTTP server on loopback.

The server below stands in for Ollama / vLLM / TEI, which cannot run here: it speaks the
OpenAI embeddings API over real sockets, so everything from httpx down is exercised.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from memoturn.core.errors import Internal, InvalidInput, Unavailable
from memoturn.embed import Embedder, OpenAICompatibleEmbedder

DIM = 8


def vector_of(text: str, dim: int = DIM) -> list[float]:
    """A deterministic, not normalised vector per text (so normalising is tested too)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [float(b) - 127.5 for b in digest[:dim]]


def unit(text: str, dim: int = DIM) -> np.ndarray:
    v = np.asarray(vector_of(text, dim), dtype=np.float32)
    return v / np.linalg.norm(v)


@dataclass
class Provider:
    """What the fake provider does, and what it saw."""

    dim: int = DIM
    status: int = 200
    raw_body: bytes | None = None  # sent as is instead of a proper answer
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    batches: list[int] = field(default_factory=list)
    requests: list[dict[str, object]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)


#: The fake provider's state and its base URL.
Served = tuple[Provider, str]


@pytest.fixture
def provider() -> Iterator[Served]:
    state = Provider()
    shuffle = random.Random(7)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.authorization.append(self.headers.get("Authorization"))
            if self.path != "/v1/embeddings":
                return self.answer(404, b'{"error": "no such route"}')
            state.batches.append(len(body["input"]))
            time.sleep(state.delay)
            if state.raw_body is not None or state.status != 200:
                return self.answer(state.status, state.raw_body or b'{"error": "nope"}')
            items = [
                {"object": "embedding", "index": i, "embedding": vector_of(t, state.dim)}
                for i, t in enumerate(body["input"])
            ]
            shuffle.shuffle(items)  # clients must order by "index", not by position
            answer = {"object": "list", "model": body["model"], "data": items}
            self.answer(200, json.dumps(answer).encode())

        def answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)  # type: ignore[arg-type]
            # else: a client that timed out hung up before the answer (the timeout test)

    server = Server(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for it, 0.5 s by default, on every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


Make = Callable[..., OpenAICompatibleEmbedder]


@pytest.fixture
def make() -> Iterator[Make]:
    """Builds embedders for model "test-model" (self-hosted unless told) and closes them."""
    made: list[OpenAICompatibleEmbedder] = []

    def build(base_url: str, **kwargs: Any) -> OpenAICompatibleEmbedder:
        kwargs.setdefault("self_hosted", True)
        made.append(OpenAICompatibleEmbedder(base_url, "test-model", **kwargs))
        return made[-1]

    yield build
    for embedder in made:
        embedder.close()


def test_embeds_in_input_order_across_batches(provider: Served, make: Make) -> None:
    state, url = provider
    texts = [f"memory number {i}" for i in range(10)]
    with make(url, dim=DIM, batch_size=4, api_key="sk-test") as embedder:
        e: Embedder = embedder
        vectors = e.embed(texts)
    assert vectors.shape == (10, DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.stack([unit(t) for t in texts]), atol=1e-6)
    assert state.batches == [4, 4, 2]
    assert state.requests[0] == {"model": "test-model", "input": texts[:4]}
    assert state.authorization == ["Bearer sk-test"] * 3


def test_identity(provider: Served, make: Make) -> None:
    _, url = provider
    embedder = make(url, dim=DIM, self_hosted=False, max_tokens=512)
    assert (embedder.name, embedder.dim, embedder.self_hosted, embedder.max_tokens) == (
        "test-model",
        DIM,
        False,
        512,
    )


def test_dimension_learned_from_first_response(provider: Served, make: Make) -> None:
    state, url = provider
    embedder = make(url)
    query = embedder.embed_query("hello")
    assert query.shape == (DIM,)
    np.testing.assert_allclose(query, unit("hello"), atol=1e-6)
    assert embedder.dim == DIM
    assert len(state.requests) == 1  # dim came from that response, no extra probe


def test_reading_unknown_dim_probes_once(provider: Served, make: Make) -> None:
    state, url = provider
    embedder = make(url)
    assert embedder.dim == DIM
    assert embedder.dim == DIM
    assert len(state.requests) == 1
    assert embedder.embed([]).shape == (0, DIM)
    assert len(state.requests) == 1


def test_empty_input_with_declared_dim_sends_nothing(provider: Served, make: Make) -> None:
    state, url = provider
    assert make(url, dim=DIM).embed([]).shape == (0, DIM)
    assert state.requests == []


def test_dimension_mismatch_with_declared_dim(provider: Served, make: Make) -> None:
    _, url = provider
    with pytest.raises(Internal, match="expected 16"):
        make(url, dim=16).embed(["hello"])


def test_dimension_change_after_learning(provider: Served, make: Make) -> None:
    state, url = provider
    embedder = make(url)
    embedder.embed(["hello"])
    state.dim = DIM * 2  # the server was switched to another model
    with pytest.raises(Internal, match="vectors of different models"):
        embedder.embed(["hello again"])


def test_server_error_is_unavailable(provider: Served, make: Make) -> None:
    state, url = provider
    state.status = 500
    with pytest.raises(Unavailable) as caught:
        make(url).embed(["hello"])
    assert caught.value.retryable
    assert "HTTP 500" in caught.value.message


def test_rate_limit_is_unavailable_with_retry_after(provider: Served, make: Make) -> None:
    state, url = provider
    state.status = 429
    state.headers = {"Retry-After": "3"}
    with pytest.raises(Unavailable) as caught:
        make(url).embed(["hello"])
    assert caught.value.retry_after == 3.0


def test_bad_request_is_invalid_input(provider: Served, make: Make) -> None:
    state, url = provider
    state.status = 400
    with pytest.raises(InvalidInput) as caught:
        make(url).embed(["my secret diary entry"])
    assert url in caught.value.message
    assert "HTTP 400" in caught.value.message
    assert "secret" not in str(caught.value)  # texts never reach error messages


def test_bad_api_key_is_invalid_input(provider: Served, make: Make) -> None:
    state, url = provider
    state.status = 401
    with pytest.raises(InvalidInput, match="api_key"):
        make(url, api_key="sk-wrong").embed(["hello"])


def test_wrong_base_url_is_invalid_input(provider: Served, make: Make) -> None:
    _, url = provider
    with pytest.raises(InvalidInput, match="/v1"):
        make(url.removesuffix("/v1")).embed(["hello"])


def test_connection_refused_is_unavailable(make: Make) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The port is closed now: nothing listens there.
    with pytest.raises(Unavailable, match="cannot reach"):
        make(f"http://127.0.0.1:{port}/v1").embed(["hello"])


def test_timeout_is_unavailable(provider: Served, make: Make) -> None:
    state, url = provider
    state.delay = 0.5
    with pytest.raises(Unavailable, match="timed out"):
        make(url, timeout=0.1).embed(["hello"])


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b'{"data": "nope"}',
        b'{"data": []}',
        b'{"data": [{"index": 5, "embedding": [1.0, 2.0]}]}',
        b'{"data": [{"index": 0, "embedding": "1,2"}]}',
        b'{"data": [{"index": 0, "embedding": [0.0, 0.0]}]}',
        b'{"data": [{"index": 0, "embedding": [1.0, NaN]}]}',
        b'["not", "an", "object"]',
    ],
)
def test_malformed_response_is_internal(provider: Served, body: bytes, make: Make) -> None:
    state, url = provider
    state.raw_body = body
    with pytest.raises(Internal):
        make(url).embed(["hello"])


def test_self_hosted_must_be_declared() -> None:
    with pytest.raises(TypeError, match="self_hosted"):
        OpenAICompatibleEmbedder("http://127.0.0.1:11434/v1", "nomic-embed-text")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "kwargs",
    [{"base_url": "127.0.0.1:11434"}, {"batch_size": 0}, {"dim": 0}, {"model": ""}],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "base_url": "http://127.0.0.1:11434/v1",
        "model": "m",
        "self_hosted": True,
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput):
        OpenAICompatibleEmbedder(**args)  # type: ignore[arg-type]
