"""``memoturn bench``: reproduce the headline figures on this machine.

Prints a table (min / p50 / p95 / max, ops/s, ratio to the floor) and writes JSON with the
machine's details to ``bench-results/``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from memoturn.bench import (
    edges_bench,
    follow_bench,
    governance_bench,
    profile_bench,
    seed_bench,
    storage_bench,
)
from memoturn.bench.stats import render_table, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="memoturn bench",
        description="Measure Memoturn on this machine. Every figure is printed beside its "
        "floor (what the same work costs with nothing of Memoturn around it).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few samples: a smoke run"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results"), help="folder for the JSON report"
    )
    parser.add_argument(
        "--sizes",
        default=None,
        help="comma-separated profile sizes for recall (default 1000,10000,100000)",
    )
    parser.add_argument(
        "--only",
        choices=["seed", "storage", "follow", "recall", "edges", "governance"],
        default=None,
        help="run one group of scenarios",
    )
    parser.add_argument(
        "--no-s3", action="store_true", help="skip the S3 scenarios (they start moto's server)"
    )
    args = parser.parse_args(argv)
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([300] if args.quick else [1000, 10_000, 100_000])
    )
    n_queries = 30 if args.quick else 200
    n_single = 20 if args.quick else 200
    print(f"memoturn bench: profile sizes {sizes}, {n_queries} queries per mode", file=sys.stderr)
    results = []
    endpoint = _moto(args) if args.only in (None, "storage", "governance") else None
    s3 = (lambda prefix: _s3_store(endpoint, prefix)) if endpoint else None
    if args.only in (None, "seed"):
        with tempfile.TemporaryDirectory() as tmp:
            results += seed_bench.run(quick=args.quick, root=Path(tmp))
    if args.only in (None, "storage"):
        results += storage_bench.run(
            quick=args.quick,
            sizes=[10, 300] if args.quick else [10, 10_000],
            s3=s3("storage") if s3 else None,
        )
    if args.only in (None, "follow"):
        results += follow_bench.run(
            quick=args.quick, sizes=[10, 300] if args.quick else [10, 10_000]
        )
    if args.only in (None, "recall"):
        results += profile_bench.run(sizes, n_queries=n_queries, n_single=n_single)
    if args.only in (None, "edges"):
        results += edges_bench.run(quick=args.quick)
    if args.only in (None, "governance"):
        results += governance_bench.run(quick=args.quick, s3=s3)
    print(render_table(results))
    out = args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_json(results, out, {"args": vars(args) | {"out": str(args.out)}})
    print(f"\nJSON report: {out}")
    return 0


def _moto(args: argparse.Namespace) -> str | None:
    """The endpoint of moto's S3 server on loopback with a bucket ``bench``, if moto is
    installed (a dev dependency)."""
    if args.no_s3:
        return None
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("moto is not installed: skipping the S3 scenarios", file=sys.stderr)
        return None
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    creds = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds).create_bucket(
        Bucket="bench"
    )
    return endpoint


def _s3_store(endpoint: str, prefix: str) -> object:
    from memoturn.storage.s3 import S3Store

    return S3Store(
        "bench", prefix, endpoint=endpoint, region="us-east-1", access_key_id="bench",
        secret_access_key="bench-secret", allow_http=True,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
