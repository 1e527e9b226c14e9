"""Run every demo (each ``examples/<name>/main.py``) and print one summary line per demo.

    python examples/run_all.py [NAME ...]      # what `make demos` runs

Against the node at ``MEMOTURN_URL`` (with ``MEMOTURN_TOKEN``, a root token) when one is
given; otherwise on a throwaway deployment of two nodes on one object store, started for
the run and stopped afterwards. Exits non-zero if any demo's claim fails; a failed demo's
narration goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from memoturn.testing import deployment

EXAMPLES = Path(__file__).resolve().parent
ENTRY_POINT = "main.py"


def demos(folder: Path = EXAMPLES) -> list[Path]:
    """Every ``folder/<name>/`` with an entry point, by name."""
    return sorted(p.parent for p in folder.glob(f"*/{ENTRY_POINT}"))


def run_one(demo: Path, env: dict[str, str], timeout_s: float) -> tuple[bool, str, str]:
    """(passed, summary line, whole output) of one demo run in its own process."""
    try:
        done = subprocess.run(
            [sys.executable, str(demo / ENTRY_POINT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return False, f"{demo.name}: FAILED (no answer within {timeout_s:.0f} s)", out
    output = done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(f"{demo.name}: ")]
    summary = lines[-1] if lines else f"{demo.name}: FAILED (exit status {done.returncode})"
    passed = done.returncode == 0 and summary.startswith(f"{demo.name}: ok")
    if not passed and lines == []:
        summary = f"{demo.name}: FAILED (exit status {done.returncode}, no summary)"
    return passed, summary, output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only these demos")
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per demo (300)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every narration")
    args = parser.parse_args(argv)
    chosen = [d for d in demos(args.examples) if not args.names or d.name in args.names]
    unknown = set(args.names) - {d.name for d in chosen}
    if unknown or not chosen:
        known = ", ".join(d.name for d in demos(args.examples))
        print(f"no such demo: {', '.join(sorted(unknown)) or '(none found)'}; demos: {known}")
        return 2
    failed = 0
    with deployment(nodes=2) as d:
        env = dict(os.environ, MEMOTURN_URL=d.urls[0], MEMOTURN_TOKEN=d.token)
        if len(d.urls) > 1:
            env["MEMOTURN_PEER_URL"] = d.urls[1]
        if d.object_store:
            env["MEMOTURN_OBJECT_STORE"] = d.object_store
        where = "a throwaway deployment (two nodes, one store)" if d.throwaway else d.url
        print(f"demos against {where}", flush=True)
        for demo in chosen:
            passed, summary, output = run_one(demo, env, args.timeout)
            if args.verbose or not passed:
                print(output, file=sys.stderr if not passed else sys.stdout, flush=True)
            print(summary, flush=True)
            failed += not passed
    print(f"{len(chosen) - failed} of {len(chosen)} demos passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
