"""The node's extractor settings (``memoturn serve`` flags) and the scripted report."""

from __future__ import annotations

import argparse

import pytest

from memoturn import cli, cli_extract
from memoturn.bench import extraction_report
from memoturn.core.errors import InvalidInput
from memoturn.models import ChatExtractor


def _serve_args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["serve", *argv])


def test_no_extractor_url_means_the_in_process_rules() -> None:
    options = cli_extract.engine_options(_serve_args())
    assert options == {"extraction_token_budget": 50_000}


def test_a_chat_extractor_from_the_flags_and_the_key_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("MEMOTURN_EXTRACTOR_API_KEY", "sk-env")
    args = _serve_args(
        "--extractor-url", "http://127.0.0.1:11434/v1", "--extractor-model", "llama3.1:8b",
        "--extractor-location", "self_hosted", "--extractor-attempts", "2",
        "--extractor-batch-tokens", "1000", "--extraction-token-budget", "9000",
    )  # fmt: skip
    options = cli_extract.engine_options(args)
    extractor = options["extractor"]
    assert isinstance(extractor, ChatExtractor)
    assert (extractor.name, extractor.egress, extractor.max_attempts) == (
        "chat:llama3.1:8b", "self_hosted", 2,
    )  # fmt: skip
    assert extractor.max_input_tokens == 1000 and options["extraction_token_budget"] == 9000
    assert extractor.url == "http://127.0.0.1:11434/v1/chat/completions"
    assert extractor._client.headers["authorization"] == "Bearer sk-env"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--extractor-url", "http://h/v1"], "needs --extractor-model and --extractor-location"),
        (["--extractor-url", "http://h/v1", "--extractor-model", "m"], "--extractor-location"),
        (["--extractor-model", "m"], "need --extractor-url"),
        (
            [
                "--extractor-url",
                "ftp://h",
                "--extractor-model",
                "m",
                "--extractor-location",
                "third_party",
            ],
            "http(s) URL",
        ),
        (
            [
                "--extractor-url",
                "http://h/v1",
                "--extractor-model",
                "m",
                "--extractor-location",
                "self_hosted",
                "--extractor-attempts",
                "0",
            ],
            "max_attempts must be a positive integer",
        ),
        (["--extraction-token-budget", "0"], "at least 1"),
    ],
)
def test_bad_extractor_settings_stop_the_node_with_a_clear_message(argv, message) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        cli_extract.engine_options(_serve_args(*argv))


def test_a_location_other_than_the_two_is_refused() -> None:
    with pytest.raises(InvalidInput, match="self_hosted, third_party"):
        ChatExtractor("http://h/v1", "m", location="on_prem")
    with pytest.raises(InvalidInput, match="1 to 100 characters"):
        ChatExtractor("http://h/v1", "m" * 101, location="self_hosted")


def test_the_scripted_report(capsys, embedder, monkeypatch) -> None:
    monkeypatch.setattr("memoturn.engine.engine.default_embedder", lambda: embedder)
    assert extraction_report.main([]) == 0
    out = capsys.readouterr().out
    assert (
        "| 7 | SUPERSEDE | fact | home | The user lives in Porto (replaces The user lives "
        "in Lisbon) |" in out
    )
    assert "| 8 | DUPLICATE | fact |  | The user is vegetarian |" in out
    assert "model requests 1 (the apply calls no model); run again: 0 lines" in out
