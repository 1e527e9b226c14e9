"""Concurrent embedding calls, coalesced: one model run for the texts of every call that
arrived while the previous run was busy.

A batch of 16 short texts costs far less than 16 single runs (one padded matrix, one pass
through the model), so under concurrent ingest the node embeds in batches. A call that
finds the model idle runs at once, alone: no timer, no added latency when there is no
contention. There is no background thread: the caller that finds the model free runs the
queued batch (its own texts included) and hands every caller its rows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from memoturn.embed import Embedder

MAX_BATCH_TEXTS = 64
"""At most this many texts in one coalesced run (a single call may be larger; it runs alone)."""


class _Call:
    __slots__ = ("done", "error", "texts", "vectors")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.done = False
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None


class BatchingEmbedder:
    """Wraps an :class:`~memoturn.embed.Embedder` (same name, dimension and egress), so the
    vectors are the inner embedder's, row for row."""

    def __init__(self, inner: Embedder, *, max_batch: int = MAX_BATCH_TEXTS) -> None:
        self.inner = inner
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Call] = []
        self._busy = False
        self.runs = 0
        """Model runs so far (tests and metrics: fewer runs than calls means coalescing)."""

    def __repr__(self) -> str:
        return f"BatchingEmbedder({self.inner!r})"

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def self_hosted(self) -> bool:
        return self.inner.self_hosted

    @property
    def egress(self) -> str:
        return self.inner.egress

    @property
    def max_tokens(self) -> int | None:
        return self.inner.max_tokens

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str) or not texts:
            return self.inner.embed(texts)  # the inner embedder's answer (or its error)
        mine = _Call(list(texts))
        with self._cond:
            self._queue.append(mine)
            while not mine.done:
                if self._busy:
                    self._cond.wait()
                    continue
                batch = self._take()
                self._busy = True
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.vectors is not None
        return mine.vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def load(self) -> None:
        """Load the inner model now, if it loads lazily (the local one does)."""
        load = getattr(self.inner, "load", None)
        if callable(load):
            load()

    def _take(self) -> list[_Call]:
        """Whole calls from the front of the queue, up to the batch limit (at least one)."""
        n, total = 0, 0
        for call in self._queue:
            if n and total + len(call.texts) > self._max_batch:
                break
            n, total = n + 1, total + len(call.texts)
        batch, self._queue = self._queue[:n], self._queue[n:]
        return batch

    def _run(self, batch: list[_Call]) -> None:
        try:
            self.runs += 1
            vectors = self.inner.embed([t for call in batch for t in call.texts])
            start = 0
            for call in batch:
                call.vectors = vectors[start : start + len(call.texts)]
                start += len(call.texts)
        except BaseException as e:  # every caller of the batch gets the error, re-raised
            for call in batch:
                call.error = e
        finally:
            for call in batch:
                call.done = True
