"""What an extractor is: turns in, typed memory candidates out, with the schema a model's
answer must follow and the check that holds it to that schema."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Protocol

from memoturn.core import limits

MEMORY_TYPES = ("fact", "preference", "task", "event", "instruction")


@dataclasses.dataclass(frozen=True, slots=True)
class TurnText:
    """One transcript turn as an extractor reads it."""

    turn: int
    role: str
    name: str | None
    content: str


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """A memory an extractor proposes, with the turns it comes from."""

    type: str
    content: str
    topic: str | None
    turn_ids: tuple[int, ...]


class Extractor(Protocol):
    """Reads a batch of turns and proposes memories.

    ``egress`` is where the turns go: ``in_process``, ``self_hosted`` or ``third_party``;
    the engine checks it against the profile's ``ai_egress`` before calling. ``extract``
    raises :class:`~memoturn.core.errors.ExtractorFailed` when it gets no well-formed
    answer within its retries; it never returns a partial answer."""

    name: str
    egress: str
    max_input_tokens: int
    """The most (estimated) tokens of turns sent in one request."""

    def extract(self, turns: Sequence[TurnText]) -> list[Candidate]: ...


def estimate_tokens(text: str) -> int:
    """A token count estimate that needs no tokenizer: one token per 4 characters, which
    is close for English with the common BPE vocabularies (and errs high for code)."""
    return max(1, math.ceil(len(text) / 4))


MEMORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "memories": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": list(MEMORY_TYPES)},
                    "content": {"type": "string"},
                    "topic": {"type": ["string", "null"]},
                    "turn_ids": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["type", "content", "topic", "turn_ids"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["memories"],
    "additionalProperties": False,
}
"""The answer a chat model must give (sent as ``response_format`` json_schema, strict)."""


def parse_candidates(answer: Any, turns: Sequence[int]) -> list[Candidate]:
    """The candidates of a model's answer, held to :data:`MEMORY_SCHEMA` and to the batch:
    every ``turn_ids`` entry must name a turn that was sent. Raises ``ValueError`` saying
    what is wrong (the caller retries, then fails the call: nothing partial is applied)."""
    if not isinstance(answer, dict) or set(answer) != {"memories"}:
        raise ValueError("the answer is not an object with exactly the key 'memories'")
    items = answer["memories"]
    if not isinstance(items, list):
        raise ValueError("'memories' is not a list")
    sent = set(turns)
    out = []
    for i, item in enumerate(items):
        where = f"memories[{i}]"
        if not isinstance(item, dict) or set(item) != {"type", "content", "topic", "turn_ids"}:
            raise ValueError(f"{where} does not have exactly type, content, topic, turn_ids")
        kind, content, topic, ids = item["type"], item["content"], item["topic"], item["turn_ids"]
        if kind not in MEMORY_TYPES:
            raise ValueError(f"{where}.type {kind!r} is not one of {', '.join(MEMORY_TYPES)}")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"{where}.content is not a non-empty string")
        if len(content.encode()) > limits.MAX_MEMORY_CONTENT_BYTES:
            raise ValueError(f"{where}.content is over {limits.MAX_MEMORY_CONTENT_BYTES} bytes")
        if topic is not None and (
            not isinstance(topic, str) or not topic.strip() or len(topic) > limits.MAX_TOPIC_CHARS
        ):
            raise ValueError(f"{where}.topic is not null or 1-{limits.MAX_TOPIC_CHARS} characters")
        if (
            not isinstance(ids, list)
            or not ids
            or not all(isinstance(t, int) and not isinstance(t, bool) for t in ids)
        ):
            raise ValueError(f"{where}.turn_ids is not a non-empty list of turn numbers")
        unknown = sorted(set(ids) - sent)
        if unknown:
            raise ValueError(f"{where}.turn_ids names turns that were not sent: {unknown}")
        out.append(Candidate(kind, content.strip(), topic.strip() if topic else None,
                             tuple(sorted(set(ids)))))  # fmt: skip
    return out
