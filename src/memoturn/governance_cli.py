"""The CLI's governance commands: ``memoturn policy get|set`` and ``memoturn audit
verify|export`` (added to the parser by :mod:`memoturn.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from memoturn.core.model import Record

PROGRESS_EVERY = 10_000
"""``audit export`` prints a progress line to stderr every this many events."""


def _target(value: str) -> tuple[str, str | None]:
    ns, sep, name = value.partition("/")
    if not ns or (sep and not name):
        raise argparse.ArgumentTypeError(f"expected NS or NS/PROFILE; got {value!r}")
    return ns, name or None


def _policy_doc(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("the policy must be a JSON object")
    return value


def _get(client: Any, a: argparse.Namespace) -> Any:
    ns, name = a.target
    return client.get_policy(ns) if name is None else client.get_profile_policy(ns, name)


def _set(client: Any, a: argparse.Namespace) -> Any:
    ns, name = a.target
    if name is None:
        return client.set_policy(ns, a.policy)
    return client.set_profile_policy(ns, name, a.policy)


def _show_json(value: Any) -> str:
    return json.dumps(value.to_dict() if isinstance(value, Record) else value, indent=2)


def add_commands(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    parser: Callable[..., argparse.ArgumentParser],
) -> None:
    po = parser(sub, "policy", "Governance policies.", "memoturn policy get acme")
    po_sub = po.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = parser(
        po_sub,
        "get",
        "Show a namespace's policy, or a profile's override and effective policy.",
        "memoturn policy get acme/alice",
        parents=[common],
    )
    p.add_argument("target", type=_target, metavar="NS[/PROFILE]")
    p.set_defaults(run=_get, show=_show_json)
    p = parser(
        po_sub,
        "set",
        "Replace a namespace's policy (root) or a profile's override (tighten only).",
        'memoturn policy set acme \'{"audit": true, "ai_egress": "self_hosted"}\'',
        parents=[common],
    )
    p.add_argument("target", type=_target, metavar="NS[/PROFILE]")
    p.add_argument("policy", type=_policy_doc, metavar="JSON")
    p.set_defaults(run=_set, show=_show_json)

    au = parser(sub, "audit", "The audit stream.", "memoturn audit export acme > acme.jsonl")
    au_sub = au.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = parser(
        au_sub,
        "verify",
        "Check every link and signature of a namespace's stored audit stream (exit 0 only if "
        "it is intact; else 1 and the first bad position).",
        "memoturn audit verify acme --object-store s3://bucket/memoturn",
    )
    p.add_argument("namespace")
    p.add_argument("--object-store", required=True, help="file:///path, memory://, s3://...")
    p.add_argument("--s3-endpoint", default=None, help="S3 endpoint URL (AWS_ENDPOINT_URL)")
    p.add_argument(
        "--max-head-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also fail when a chain's head is older than this and not closed (a running "
        "node re-signs its heads every 60 s)",
    )
    p.set_defaults(standalone=_verify)
    p = parser(
        au_sub,
        "export",
        "Write a namespace's audit events as JSON Lines, oldest first (progress on stderr).",
        "memoturn audit export acme --since 2026-12-01T00:00:00Z > acme.jsonl",
        parents=[common],
    )
    p.add_argument("namespace")
    p.add_argument("--since", default=None, help="ISO-8601 or epoch seconds (inclusive)")
    p.add_argument("--until", default=None, help="ISO-8601 or epoch seconds (exclusive)")
    p.add_argument("--profile", default=None)
    p.add_argument("--op", default=None)
    p.add_argument("--output", default="-", help="file to write (default: stdout)")
    p.set_defaults(run=_export, show=lambda n: "")


def _export(client: Any, a: argparse.Namespace) -> int:
    out = sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8")  # noqa: SIM115
    count, cursor = 0, None
    try:
        while True:
            page = client.audit_events(
                a.namespace, since=a.since, until=a.until, profile=a.profile, op=a.op,
                cursor=cursor, limit=1000,
            )  # fmt: skip
            cursor = page.next_cursor
            for event in page.events:
                out.write(json.dumps(event, separators=(",", ":")) + "\n")
                count += 1
                if count % PROGRESS_EVERY == 0:
                    print(f"exported {count} events", file=sys.stderr, flush=True)
            if cursor is None:
                break
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"exported {count} events in all", file=sys.stderr, flush=True)
    return count


def _verify(a: argparse.Namespace) -> int:
    import time

    from memoturn.engine.audit import verify
    from memoturn.engine.tokens import deployment_public_key
    from memoturn.storage.url import open_store

    store = open_store(a.object_store, endpoint=a.s3_endpoint)
    public = deployment_public_key(store)
    if public is None:
        print("error: this object store holds no Memoturn deployment key", file=sys.stderr)
        return 1
    started = time.perf_counter()
    verdict = verify(store, a.namespace, public, max_head_age_s=a.max_head_age, now=time.time())
    seconds = time.perf_counter() - started
    if not verdict.ok:
        print(f"audit stream of {a.namespace}: BAD at {verdict.problem}", file=sys.stderr)
        return 1
    if verdict.chains == 0:
        print(f"audit stream of {a.namespace}: no events stored")
        return 0
    print(
        f"audit stream of {a.namespace}: intact ({verdict.events} events in "
        f"{verdict.batches} batches, {verdict.chains} chains; {seconds:.2f} s)"
    )
    return 0
