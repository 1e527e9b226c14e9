"""Fixtures of the extraction tests: a scripted chat server on loopback (a fake: no real
chat model can run here) and an engine whose extractor calls it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.extraction.chat_server import ScriptedChat

import memoturn
from memoturn.engine import Engine
from memoturn.models import ChatExtractor


@pytest.fixture
def chat() -> Iterator[ScriptedChat]:
    with ScriptedChat() as server:
        yield server


def chat_extractor(chat: ScriptedChat, **options: object) -> ChatExtractor:
    return ChatExtractor(
        chat.url,
        "scripted-model",
        location=str(options.pop("location", "self_hosted")),
        api_key="sk-test",
        backoff_s=0.0,
        timeout=10.0,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def engine(tmp_path, embedder, chat) -> Iterator[Engine]:
    with memoturn.open(tmp_path, embedder=embedder, extractor=chat_extractor(chat)) as eng:
        eng.create_namespace("acme")
        eng.create_profile("acme", "alice")
        yield eng
