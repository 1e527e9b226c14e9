"""An embedder that calls an OpenAI-compatible ``POST /embeddings`` endpoint.

Ollama (``http://127.0.0.1:11434/v1``), vLLM, Hugging Face TEI and hosted APIs all speak
it. Texts are sent to that server, so the operator must say whether it is self-hosted.

Errors, translated once here (no body text of the provider is copied into them, because
providers echo inputs back and error messages end up in logs):

- network errors, timeouts, HTTP 429 and 5xx → :class:`Unavailable` (retryable; 429 and
  503 carry the provider's ``Retry-After`` when it gives one in seconds);
- other 4xx (bad model name, bad URL, bad API key) → :class:`InvalidInput`: the embedder
  is misconfigured and retrying will not help; the hint names the URL and the status;
- a response that is not the documented shape, or whose vectors have the wrong
  dimension or are not finite → :class:`Internal`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from memoturn.core.errors import Internal, InvalidInput, Unavailable

__all__ = ["OpenAICompatibleEmbedder"]


class OpenAICompatibleEmbedder:
    """Embeds by calling ``POST {base_url}/embeddings`` with ``{"model", "input"}``.

    Rows are re-normalised here (not every server normalises) and returned in input
    order (the ``index`` of each item, not the order of the list, decides it).

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:11434/v1``.
        model: the model name the server knows; also this embedder's :attr:`name`.
        dim: the vector length, if known. Otherwise it is learned from the first
            response, and reading :attr:`dim` before any call sends one probe request.
        api_key: sent as ``Authorization: Bearer``; never put in errors.
        self_hosted: required. True only if the server runs inside this deployment,
            so texts never leave it.
        timeout: seconds for each request (connect, read, write, pool).
        batch_size: texts per request.
        max_tokens: tokens of a text the model embeds, if the operator knows it.
        transport: an httpx transport (tests, proxies); default a plain HTTP one.
    """

    max_tokens: int | None

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        dim: int | None = None,
        api_key: str | None = None,
        self_hosted: bool,
        timeout: float = 30.0,
        batch_size: int = 64,
        max_tokens: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"embedder base_url must be an http(s) URL, got {base_url!r}",
                hint="for Ollama use http://127.0.0.1:11434/v1",
            )
        if not model:
            raise InvalidInput("embedder model must not be empty")
        if dim is not None and dim < 1:
            raise InvalidInput(f"embedder dim must be positive, got {dim}")
        if batch_size < 1:
            raise InvalidInput(f"embedder batch_size must be at least 1, got {batch_size}")
        self.name = model
        self.self_hosted = self_hosted
        self.max_tokens = max_tokens
        self._url = base_url.rstrip("/") + "/embeddings"
        self._dim = dim
        self._batch_size = batch_size
        self._dim_lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # httpx.Client is safe to share between threads and keeps connections alive.
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleEmbedder(url={self._url!r}, model={self.name!r}, "
            f"self_hosted={self.self_hosted})"
        )

    @property
    def egress(self) -> str:
        """Where texts go: ``self_hosted`` (a server inside the deployment, as declared) or
        ``third_party``. Governance checks it against the policy's ``ai_egress``."""
        return "self_hosted" if self.self_hosted else "third_party"

    @property
    def dim(self) -> int:
        """The vector length (declared, or learned from the first response)."""
        if self._dim is None:
            self._request(["dimension probe"])  # learns it as a side effect
        assert self._dim is not None  # _request either learned it or raised
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Shape ``(len(texts), dim)``, float32, rows L2-normalised, in input order.
        Sends ``ceil(len(texts) / batch_size)`` requests, one after another."""
        if isinstance(texts, str):
            raise InvalidInput(
                "embed() takes a sequence of texts, got one str",
                hint="use embed_query(text) for one text, or embed([text])",
            )
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        texts = list(texts)
        parts = [
            self._request(texts[i : i + self._batch_size])
            for i in range(0, len(texts), self._batch_size)
        ]
        return np.concatenate(parts)

    def embed_query(self, text: str) -> np.ndarray:
        """Shape ``(dim,)``, float32, L2-normalised."""
        return self.embed([text])[0]

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def __enter__(self) -> OpenAICompatibleEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, texts: list[str]) -> np.ndarray:
        try:
            response = self._client.post(self._url, json={"model": self.name, "input": texts})
        except httpx.TimeoutException as e:
            raise Unavailable(
                f"embedding request to {self._url} timed out",
                hint="the embedding server is overloaded or down; retry, or raise timeout",
            ) from e
        except httpx.TransportError as e:
            raise Unavailable(
                f"cannot reach the embedding server at {self._url}: {type(e).__name__}",
                hint="check that it is running and that base_url is right",
            ) from e
        self._check_status(response)
        vectors = self._parse(response, len(texts))
        return self._normalised(vectors)

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"embedding server {self._url} answered HTTP {status}"
        if status == 429 or status >= 500:
            raise Unavailable(
                where,
                hint="the embedding server is overloaded or failing; retry later",
                retry_after=_retry_after(response),
            )
        if status in (401, 403):
            hint = "check the embedder's api_key"
        elif status == 404:
            hint = "check base_url (it usually ends in /v1) and that the model is served"
        else:
            hint = f"check the embedder configuration (model {self.name!r}) against the server"
        raise InvalidInput(where, hint=hint)

    def _parse(self, response: httpx.Response, count: int) -> np.ndarray:
        def malformed(what: str) -> Internal:
            return Internal(
                f"embedding server {self._url} sent a malformed response: {what}",
                hint="it does not speak the OpenAI embeddings API; check base_url",
            )

        try:
            body: Any = response.json()
        except ValueError as e:
            raise malformed("not JSON") from e
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != count:
            raise malformed(f"expected a 'data' list of {count} items")
        rows: list[Any] = [None] * count
        for item in data:
            index = item.get("index") if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < count or rows[index] is not None:
                raise malformed("missing, out-of-range or repeated 'index'")
            embedding = item.get("embedding")
            if not isinstance(embedding, list) or not embedding:
                raise malformed("'embedding' is not a non-empty list of numbers")
            rows[index] = embedding
        self._check_dim({len(row) for row in rows})
        try:
            return np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise malformed("'embedding' is not a list of numbers") from e

    def _check_dim(self, lengths: set[int]) -> None:
        with self._dim_lock:
            if self._dim is None and len(lengths) == 1:
                # Learned once; every later response must agree with it.
                self._dim = next(iter(lengths))
            if lengths != {self._dim}:
                raise Internal(
                    f"embedding server {self._url} returned vectors of length "
                    f"{sorted(lengths)}, expected {self._dim}",
                    hint=f"model {self.name!r} is not the one this embedder was set up "
                    "with; vectors of different models cannot be compared",
                )

    def _normalised(self, vectors: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            # A zero or NaN vector would match nothing (or everything) without a word.
            raise Internal(
                f"embedding server {self._url} returned zero or non-finite vectors",
                hint=f"model {self.name!r} may be broken or misloaded on the server",
            )
        return vectors / norms


def _retry_after(response: httpx.Response) -> float | None:
    # Only the delta-seconds form; an HTTP date is rare from these servers.
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
