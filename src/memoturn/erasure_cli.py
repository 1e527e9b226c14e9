"""``memoturn erasure verify RECEIPT_FILE``: check an erasure receipt offline, and optionally
look for the erased bytes in the object store and a node's data directory (added to the
parser by :mod:`memoturn.cli`)."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def add_commands(
    sub: argparse._SubParsersAction,
    parser: Any,
) -> None:
    er = parser(sub, "erasure", "Verifiable erasure.", "memoturn erasure verify receipt.json")
    er_sub = er.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = parser(
        er_sub,
        "verify",
        "Check an erasure receipt: its signature and fields (exit 0 only if they check out "
        "and, with --content, no copy of the content is found). With --object-store the "
        "signature must be the deployment's key; with --content every object of the profile "
        "(and every file under --data) is scanned, and each copy found is reported.",
        "memoturn erasure verify receipt.json --object-store s3://bucket/memoturn "
        "--content 'the erased sentence' --data /var/lib/memoturn",
    )
    p.add_argument("receipt", metavar="RECEIPT_FILE", help="the receipt (JSON), or - for stdin")
    p.add_argument("--object-store", default=None, help="file:///path, memory://, s3://...")
    p.add_argument("--s3-endpoint", default=None, help="S3 endpoint URL (AWS_ENDPOINT_URL)")
    p.add_argument("--content", default=None, help="erased text to look for")
    p.add_argument("--data", default=None, metavar="DIR", help="a node's data directory")
    p.set_defaults(standalone=verify)


def _views(data: bytes) -> Iterator[bytes]:
    """The bytes of an object as stored, and decoded when it is a segment or snapshot
    (which may be compressed)."""
    yield data
    from memoturn.storage.segment import CorruptSegment, Segment, Snapshot

    for kind in (Segment, Snapshot):
        try:
            decoded = kind.decode(data)
        except CorruptSegment:
            continue  # not one of these: its stored bytes were scanned above
        if isinstance(decoded, Segment):
            yield b"".join(decoded.pages[n] for n in sorted(decoded.pages))
        else:
            yield bytes(decoded.image)


def _holds(data: bytes, needle: bytes) -> bool:
    return any(needle in view for view in _views(data))


def verify(a: argparse.Namespace) -> int:
    from memoturn.engine import receipts

    try:
        text = sys.stdin.read() if a.receipt == "-" else Path(a.receipt).read_text("utf-8")
        receipt = json.loads(text)
    except (OSError, ValueError) as e:
        print(f"error: cannot read the receipt: {e}", file=sys.stderr)
        return 1
    if isinstance(receipt, dict) and isinstance(receipt.get("receipt"), dict):
        receipt = receipt["receipt"]  # a whole erasure record, as GET P/erasures/{id} gives
    store = trusted = None
    if a.object_store is not None:
        from memoturn.storage.url import open_store

        store = open_store(a.object_store, endpoint=a.s3_endpoint)
        from memoturn.engine.tokens import deployment_public_key

        trusted = deployment_public_key(store)
        if trusted is None:
            print("error: this object store holds no Memoturn deployment key", file=sys.stderr)
            return 1
    problems = receipts.check(receipt, trusted)
    if problems:
        for problem in problems:
            print(f"receipt: BAD: {problem}", file=sys.stderr)
        return 1
    who = "the deployment's key" if trusted is not None else "the key it names (unchecked)"
    print(
        f"receipt {receipt['erasure_id']}: signature and fields check out ({who}, key id "
        f"{receipt['key_id']}); {len(receipt['items'])} items erased at txid "
        f"{receipt['hard_delete_txid']}, {len(receipt['objects_deleted'])} objects deleted"
    )
    if a.content is None:
        return 0
    return _scan(a, receipt, store)


def _scan(a: argparse.Namespace, receipt: dict[str, Any], store: Any) -> int:
    from memoturn.storage import keys

    needle = a.content.encode("utf-8")
    copies = 0
    if store is not None:
        from memoturn.engine.erasure import DIGEST_SECRET
        from memoturn.storage.objectstore import ObjectNotFound

        try:
            secret = store.get(keys.deployment_secret(DIGEST_SECRET), op="get_secret").data
            digest = hmac.new(secret, needle, hashlib.sha256).hexdigest()
            matched = [i for i in receipt["items"] if i["digest"] == digest]
            for item in matched:
                print(f"the content is the erased {item['kind']} {item['id']} of this receipt")
            if not matched:
                print("the content matches no item digest of this receipt")
        except ObjectNotFound:
            print("this store holds no erasure digest secret: digests not checked")
        db = f"{receipt['namespace']}--{receipt['profile']}"
        prefixes = (
            keys.data_prefix(db),
            keys.manifests_of_profile(db),
            keys.erasures_of_profile(db),
            f"leases/{db}/",
            f"profiles/{db}/",
        )
        scanned = 0
        for prefix in prefixes:
            for info in store.list(prefix, op="list_scan"):
                scanned += 1
                if _holds(store.get(info.key, op="get_scan").data, needle):
                    copies += 1
                    print(f"COPY in the object store: {info.key}")
        print(f"scanned {scanned} objects of {db} in the object store")
    if a.data is not None:
        scanned = 0
        for root, _, files in os.walk(a.data):
            for name in files:
                path = os.path.join(root, name)
                try:
                    data = Path(path).read_bytes()
                except OSError as e:
                    print(f"could not read {path}: {e}", file=sys.stderr)
                    continue
                scanned += 1
                if _holds(data, needle):
                    copies += 1
                    print(f"COPY in the data directory: {path}")
        print(f"scanned {scanned} files under {a.data}")
    if store is None and a.data is None:
        print("error: --content needs --object-store or --data to scan", file=sys.stderr)
        return 1
    if copies:
        print(f"{copies} copies of the content found", file=sys.stderr)
        return 1
    print("no copy of the content found")
    return 0
