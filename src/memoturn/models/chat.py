"""An extractor that asks an OpenAI-compatible ``POST /chat/completions`` endpoint.

Ollama (``http://127.0.0.1:11434/v1``), vLLM, the llama.cpp server and hosted APIs speak
it. The turns are sent to that server, so the operator declares where it runs
(``location``: ``self_hosted`` or ``third_party``); the engine checks that against the
profile's ``ai_egress`` before this class is ever called.

The request asks for structured output (``response_format`` ``json_schema``, strict, the
schema :data:`~memoturn.models.extractor.MEMORY_SCHEMA`), ``temperature`` 0 and at most
``max_output_tokens``. Each request has a ``timeout``; a request that fails in a way a retry
can fix (timeout, connection error, HTTP 429 or 5xx, an answer that is not the schema, an
answer cut off at the token limit) is retried up to ``max_attempts`` in all, then the call
fails with :class:`~memoturn.core.errors.ExtractorFailed`. Errors never quote the
provider's body (providers echo the input back, and errors end up in logs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from memoturn.core.errors import ExtractorFailed, InvalidInput
from memoturn.models.extractor import MEMORY_SCHEMA, Candidate, TurnText, parse_candidates

LOCATIONS = ("self_hosted", "third_party")
MAX_MODEL_CHARS = 100

SYSTEM_PROMPT = """You extract long-term memories about the user from a conversation.
Each turn is shown as [turn N] ROLE: TEXT. Propose only what is worth remembering in later
conversations: durable facts about the user or their world (fact), likes and dislikes
(preference), things to do (task), things that happened at a time (event), standing
instructions to the assistant (instruction). Write each memory as one self-contained
sentence in the third person ("The user is vegetarian"). Give a short stable topic key
(e.g. "diet", "home-city", "employer") when a later memory on the same subject should
replace this one, else null. turn_ids lists the turns the memory comes from. Small talk,
questions and the assistant's own suggestions are not memories: leave them out. Answer with
JSON only, following the schema."""


def render(turns: Sequence[TurnText]) -> str:
    """The turns as the user message of the request."""
    lines = []
    for t in turns:
        who = t.role if t.name is None else f"{t.role} ({t.name})"
        lines.append(f"[turn {t.turn}] {who}: {t.content}")
    return "\n".join(lines)


class ChatExtractor:
    """Proposes memories by asking a chat model at ``{base_url}/chat/completions``.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:11434/v1``.
        model: the model name the server knows.
        location: required: ``self_hosted`` (the server runs inside this deployment) or
            ``third_party``.
        api_key: sent as ``Authorization: Bearer``; never put in errors.
        timeout: seconds for each request.
        max_attempts: requests per batch at most (malformed answers and transient errors).
        max_input_tokens: estimated tokens of turns per request (the engine batches).
        max_output_tokens: the answer's token limit (``max_tokens`` of the request).
        backoff_s: wait before the second attempt, doubled for each next one.
        transport: an httpx transport (tests, proxies).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        location: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_attempts: int = 3,
        max_input_tokens: int = 4000,
        max_output_tokens: int = 2000,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"extractor URL must be an http(s) URL, got {base_url!r}",
                hint="for Ollama use http://127.0.0.1:11434/v1",
            )
        if not model or len(model) > MAX_MODEL_CHARS:
            # The name goes into each memory's source ("extractor:chat:MODEL").
            raise InvalidInput(f"the extractor model must be 1 to {MAX_MODEL_CHARS} characters")
        if location not in LOCATIONS:
            raise InvalidInput(
                f"extractor location must be one of {', '.join(LOCATIONS)}, got {location!r}",
                hint="self_hosted only if the server runs inside this deployment",
            )
        for value, what in (
            (max_attempts, "max_attempts"),
            (max_input_tokens, "max_input_tokens"),
            (max_output_tokens, "max_output_tokens"),
        ):
            if not isinstance(value, int) or value < 1:
                raise InvalidInput(f"extractor {what} must be a positive integer, got {value!r}")
        if not timeout > 0:
            raise InvalidInput(f"extractor timeout must be positive, got {timeout!r}")
        self.model = model
        self.name = f"chat:{model}"
        self.egress = location
        self.max_input_tokens = max_input_tokens
        self.max_output_tokens = max_output_tokens
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.url = base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"ChatExtractor(url={self.url!r}, model={self.model!r}, location={self.egress!r})"

    def request_body(self, turns: Sequence[TurnText]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": render(turns)},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "memories", "strict": True, "schema": MEMORY_SCHEMA},
            },
            "temperature": 0,
            "max_tokens": self.max_output_tokens,
        }

    def extract(self, turns: Sequence[TurnText]) -> list[Candidate]:
        body = self.request_body(turns)
        numbers = [t.turn for t in turns]
        problems: list[str] = []
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                return parse_candidates(self._ask(body), numbers)
            except _Retryable as e:
                problems.append(str(e))
            except ValueError as e:
                problems.append(f"malformed answer: {e}")
        raise ExtractorFailed(
            f"the extractor at {self.url} gave no usable answer in {self.max_attempts} "
            f"attempts ({'; '.join(problems)}); nothing was applied",
            hint="retry later; if the answers are malformed, use a model that supports "
            "structured output (response_format json_schema)",
        )

    def _ask(self, body: dict[str, Any]) -> Any:
        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException:
            raise _Retryable("timed out") from None
        except httpx.TransportError as e:
            raise _Retryable(f"unreachable ({type(e).__name__})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status >= 400:
            hint = {
                401: "check the extractor's API key (MEMOTURN_EXTRACTOR_API_KEY)",
                403: "check the extractor's API key (MEMOTURN_EXTRACTOR_API_KEY)",
                404: "check --extractor-url (it usually ends in /v1) and --extractor-model",
            }.get(status, "check the extractor configuration against the server")
            raise ExtractorFailed(
                f"the extractor at {self.url} answered HTTP {status}; nothing was applied",
                hint=hint,
            )
        try:
            choice = response.json()["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError("not a chat completion (no choices[0].message.content)") from None
        if choice.get("finish_reason") == "length":
            raise ValueError("cut off at the output token limit (max_tokens)")
        if not isinstance(content, str):
            raise ValueError("message content is not text")
        try:
            return json.loads(content)
        except ValueError:
            raise ValueError("message content is not JSON") from None

    def close(self) -> None:
        self._client.close()


class _Retryable(Exception):
    """A failure the next attempt may not have (internal to :meth:`ChatExtractor.extract`)."""
