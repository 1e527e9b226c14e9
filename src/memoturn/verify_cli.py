"""``memoturn verify NS/PROFILE --object-store URL``: an explicit integrity check of a
profile's history in the store (added to the parser by :mod:`memoturn.cli`). Needs no node:
it reads the store directly and changes nothing."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _profile(value: str) -> tuple[str, str]:
    ns, sep, name = value.partition("/")
    if not ns or not sep or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"expected NS/PROFILE; got {value!r}")
    return ns, name


def add_commands(sub: argparse._SubParsersAction, parser: Any) -> None:
    p = parser(
        sub,
        "verify",
        "Check a profile's history in the object store: restore the head of main (or of "
        "every branch, and every checkpoint), check every page's checksum, run SQLite's "
        "PRAGMA integrity_check and compare the restored txid; with --objects also decode "
        "every stored segment and snapshot. Progress on stderr; exit 0 only if every check "
        "passes, else 1 and each problem.",
        "memoturn verify acme/alice --object-store s3://bucket/memoturn --all-branches "
        "--checkpoints",
    )
    p.add_argument("profile", type=_profile, metavar="NS/PROFILE")
    p.add_argument("--object-store", required=True, help="file:///path, memory://, s3://...")
    p.add_argument("--s3-endpoint", default=None, help="S3 endpoint URL (AWS_ENDPOINT_URL)")
    p.add_argument("--all-branches", action="store_true", help="every branch, not only main")
    p.add_argument("--checkpoints", action="store_true", help="also every checkpoint's state")
    p.add_argument(
        "--objects", action="store_true", help="also decode every stored segment and snapshot"
    )
    p.set_defaults(standalone=verify)


def verify(a: argparse.Namespace) -> int:
    from memoturn.core.names import check_name, database_id
    from memoturn.storage.url import open_store
    from memoturn.storage.verify import Finding, verify_profile

    ns, name = a.profile
    db = database_id(check_name(ns, "namespace"), check_name(name, "profile"))
    store = open_store(a.object_store, endpoint=a.s3_endpoint)

    def progress(f: Finding) -> None:
        mark = "ok" if f.ok else "BAD"
        print(f"{ns}/{name} {f.branch} {f.what}: {mark} ({f.detail})", file=sys.stderr)

    found = verify_profile(
        store, db, all_branches=a.all_branches, checkpoints=a.checkpoints, objects=a.objects,
        on_finding=progress,
    )  # fmt: skip
    bad = [f for f in found if not f.ok]
    if bad:
        print(f"{ns}/{name}: {len(bad)} of {len(found)} checks FAILED")
        for f in bad:
            print(f"  {f.branch} {f.what}: {f.detail}")
        return 1
    print(f"{ns}/{name}: intact ({len(found)} checks passed)")
    return 0
