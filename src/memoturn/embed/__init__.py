"""Text embedders: the :class:`Embedder` protocol and its two providers.

- :class:`LocalEmbedder` (the default): all-MiniLM-L6-v2, int8 ONNX, in-process.
- :class:`OpenAICompatibleEmbedder`: any ``POST /embeddings`` server (Ollama, vLLM, TEI,
  a hosted API), which must declare whether it is self-hosted.

Importing this package loads nothing; the local model is loaded on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from memoturn.embed.http import OpenAICompatibleEmbedder
from memoturn.embed.local import LocalEmbedder

__all__ = ["Embedder", "LocalEmbedder", "OpenAICompatibleEmbedder", "default_embedder"]


class Embedder(Protocol):
    """Turns texts into unit vectors whose dot product is their cosine similarity.

    A profile stores the ``name`` and ``dim`` of the embedder that wrote its vectors;
    opening it with another is an error, because vectors of two models do not compare.
    Implementations are safe to call from several threads at once.
    """

    # Read-only properties, not plain attributes, so that an implementation may compute
    # them (the HTTP embedder learns dim from the server) and type checkers accept both.

    @property
    def name(self) -> str:
        """Model id stored with the vectors, e.g. ``"all-MiniLM-L6-v2-int8"``."""
        ...

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    @property
    def self_hosted(self) -> bool:
        """True when texts never leave the deployment (the local model, or an HTTP server
        the operator declared self-hosted). Governance policies may require it."""
        ...

    @property
    def egress(self) -> str:
        """Where texts go: ``in_process`` (never leave the process), ``self_hosted`` (a
        server inside the deployment) or ``third_party``. Policies' ``ai_egress`` checks it."""
        ...

    @property
    def max_tokens(self) -> int | None:
        """Tokens of a text that reach its vector (the rest is ignored); None if unknown."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Shape ``(len(texts), dim)``, float32, each row L2-normalised, in input order.
        An empty sequence gives shape ``(0, dim)``; empty strings embed like any text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Shape ``(dim,)``, float32, L2-normalised."""
        ...


_default: LocalEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> LocalEmbedder:
    """The process-wide :class:`LocalEmbedder`, created on first call.

    Sharing one matters: each instance holds its own ~23 MB model and thread pool.
    Creating it is cheap; the model itself loads on first embed (or ``.load()``).
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = LocalEmbedder()
    return _default
