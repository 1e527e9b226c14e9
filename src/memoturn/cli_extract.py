"""The CLI's extraction parts: ``memoturn extract`` (added to the parser by
:mod:`memoturn.cli`) and the ``serve`` options that configure the node's extractor."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from memoturn.core.errors import InvalidInput


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MEMOTURN_{name}", default)


def add_serve_options(s: argparse.ArgumentParser) -> None:
    g = s.add_argument_group("extraction (docs/extraction.md)")
    g.add_argument(
        "--extractor-url",
        default=_env("EXTRACTOR_URL"),
        metavar="URL",
        help="an OpenAI-compatible chat API to extract memories with, e.g. "
        "http://127.0.0.1:11434/v1 (MEMOTURN_EXTRACTOR_URL); default: the in-process rules. "
        "Its key comes from MEMOTURN_EXTRACTOR_API_KEY",
    )
    g.add_argument(
        "--extractor-model", default=_env("EXTRACTOR_MODEL"), help="MEMOTURN_EXTRACTOR_MODEL"
    )
    g.add_argument(
        "--extractor-location",
        choices=["self_hosted", "third_party"],
        default=_env("EXTRACTOR_LOCATION"),
        help="required with --extractor-url: where the server runs, checked against each "
        "profile's ai_egress before any turn is sent (MEMOTURN_EXTRACTOR_LOCATION)",
    )
    g.add_argument(
        "--extractor-timeout",
        type=float,
        default=float(_env("EXTRACTOR_TIMEOUT", "60") or 60),
        metavar="S",
        help="seconds per model request (MEMOTURN_EXTRACTOR_TIMEOUT; 60)",
    )
    g.add_argument(
        "--extractor-attempts",
        type=int,
        default=int(_env("EXTRACTOR_ATTEMPTS", "3") or 3),
        metavar="N",
        help="requests per batch at most, for malformed answers and transient errors "
        "(MEMOTURN_EXTRACTOR_ATTEMPTS; 3)",
    )
    g.add_argument(
        "--extractor-batch-tokens",
        type=int,
        default=int(_env("EXTRACTOR_BATCH_TOKENS", "4000") or 4000),
        metavar="N",
        help="estimated tokens of turns per request (MEMOTURN_EXTRACTOR_BATCH_TOKENS; 4000)",
    )
    g.add_argument(
        "--extractor-output-tokens",
        type=int,
        default=int(_env("EXTRACTOR_OUTPUT_TOKENS", "2000") or 2000),
        metavar="N",
        help="max_tokens of each answer (MEMOTURN_EXTRACTOR_OUTPUT_TOKENS; 2000)",
    )
    g.add_argument(
        "--extraction-token-budget",
        type=int,
        default=int(_env("EXTRACTION_TOKEN_BUDGET", "50000") or 50000),
        metavar="N",
        help="estimated tokens of turns one extract call sends at most; the rest stay "
        "pending (MEMOTURN_EXTRACTION_TOKEN_BUDGET; 50000)",
    )


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine's extraction options from ``serve``'s arguments."""
    if args.extraction_token_budget < 1:
        raise InvalidInput("--extraction-token-budget must be at least 1")
    options: dict[str, Any] = {"extraction_token_budget": args.extraction_token_budget}
    if not args.extractor_url:
        if args.extractor_model or args.extractor_location:
            raise InvalidInput("--extractor-model and --extractor-location need --extractor-url")
        return options
    if not args.extractor_model or not args.extractor_location:
        raise InvalidInput(
            "--extractor-url needs --extractor-model and --extractor-location",
            hint="--extractor-location self_hosted only if the server runs inside this "
            "deployment; else third_party",
        )
    from memoturn.models import ChatExtractor

    options["extractor"] = ChatExtractor(
        args.extractor_url,
        args.extractor_model,
        location=args.extractor_location,
        api_key=_env("EXTRACTOR_API_KEY"),
        timeout=args.extractor_timeout,
        max_attempts=args.extractor_attempts,
        max_input_tokens=args.extractor_batch_tokens,
        max_output_tokens=args.extractor_output_tokens,
    )
    return options


def _extract(client: Any, a: argparse.Namespace) -> Any:
    profile = client.profile(*a.profile, a.branch)
    if a.apply is not None:
        if a.preview or a.rules or a.max_turns is not None:
            raise InvalidInput("--apply takes no --preview, --rules or --max-turns")
        return profile.extract_apply(a.session, a.apply)
    return profile.extract(
        a.session,
        preview=a.preview,
        extractor="rules" if a.rules else None,
        max_turns=a.max_turns,
    )


def show(r: Any) -> str:
    """The per-turn report, one line per outcome."""
    lines = []
    for o in r.report:
        if o.action == "SKIP":
            lines.append(f"turn {o.turn}\tSKIP\t{o.reason}")
            continue
        line = f"turn {o.turn}\t{o.action}\t{o.memory_id}\t{o.type}"
        if o.topic:
            line += f"\ttopic {o.topic}"
        if o.superseded:
            line += f"\treplaces {', '.join(o.superseded)}"
        lines.append(line)
    head = f"{r.extractor}: extracted through turn {r.extracted_through}, {r.pending} pending"
    if r.preview:
        head += f"; preview on branch {r.branch} (apply with --apply {r.branch})"
    return "\n".join([head, *lines] if lines else [head, "(no new turns)"])


def add_commands(
    sub: argparse._SubParsersAction,
    parser: Callable[..., argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    profile_ref: Callable[[str], tuple[str, str]],
) -> None:
    p = parser(
        sub,
        "extract",
        "Turn a session's turns not yet extracted into memories and print the per-turn "
        "report; --preview writes them to a burner branch, --apply BRANCH lands a preview.",
        "memoturn extract acme/alice chat-42 --preview\n"
        "memoturn extract acme/alice chat-42 --apply extract-01jq...",
        parents=[common],
    )
    p.add_argument("profile", type=profile_ref, metavar="NS/PROFILE")
    p.add_argument("session", metavar="SESSION")
    p.add_argument("--preview", action="store_true", help="on a burner branch (1 h TTL)")
    p.add_argument("--apply", metavar="BRANCH", help="apply the preview on this burner branch")
    p.add_argument("--rules", action="store_true", help="use the in-process rule extractor")
    p.add_argument("--max-turns", type=int, help="extract at most N turns now")
    p.add_argument("--branch", default="main", help="branch to act on (default: main)")
    p.set_defaults(run=_extract, show=show)
