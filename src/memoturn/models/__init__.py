"""Chat models beside the embedders: the extractors that turn transcript turns into typed
memories. Each declares where it sends content (``egress``), like an embedder, so the
engine checks the governance policy before any content leaves the process.

- :class:`RuleExtractor`: in process, deterministic, basic ("I am ...", "my X is ...").
- :class:`ChatExtractor`: an OpenAI-compatible ``POST /chat/completions`` endpoint with
  structured output (Ollama, vLLM, llama.cpp server, a hosted API).
"""

from __future__ import annotations

from memoturn.models.chat import ChatExtractor
from memoturn.models.extractor import (
    MEMORY_SCHEMA,
    Candidate,
    Extractor,
    TurnText,
    estimate_tokens,
    parse_candidates,
)
from memoturn.models.rules import RuleExtractor

__all__ = [
    "MEMORY_SCHEMA",
    "Candidate",
    "ChatExtractor",
    "Extractor",
    "RuleExtractor",
    "TurnText",
    "estimate_tokens",
    "parse_candidates",
]
