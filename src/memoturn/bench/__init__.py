"""``memoturn bench``: reproduce the headline figures on this machine.

Prints a table (min / p50 / p95 / max, ops/s, ratio to the floor) and writes JSON with the
machine's details to ``bench-results/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from memoturn.bench import profile_bench
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
        help="comma-separated profile sizes for recall (default 1000,10000)",
    )
    args = parser.parse_args(argv)
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([300] if args.quick else [1000, 10000])
    )
    n_queries = 30 if args.quick else 200
    n_single = 20 if args.quick else 200
    print(f"memoturn bench: profile sizes {sizes}, {n_queries} queries per mode", file=sys.stderr)
    results = profile_bench.run(sizes, n_queries=n_queries, n_single=n_single)
    print(render_table(results))
    out = args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_json(results, out, {"args": vars(args) | {"out": str(args.out)}})
    print(f"\nJSON report: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
