"""Timing and reporting for the benchmark: samples -> min/p50/p95/max, table and JSON."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


@dataclasses.dataclass
class Result:
    scenario: str
    unit: str
    samples: list[float]
    """Seconds per operation, one per timed call (or per item for rates)."""
    note: str = ""
    floor: str | None = None
    """Name of the floor scenario this one is compared with, if any."""
    seed_ms: float | None = None
    """The seed prototype's figure for this operation (``seed: ...`` scenarios)."""

    def summary(self) -> dict[str, Any]:
        s = sorted(self.samples)
        n = len(s)

        def pct(p: float) -> float:
            return s[min(n - 1, max(0, round(p * (n - 1))))]

        return {
            "scenario": self.scenario,
            "n": n,
            "min_ms": s[0] * 1e3,
            "p50_ms": pct(0.5) * 1e3,
            "p95_ms": pct(0.95) * 1e3,
            "max_ms": s[-1] * 1e3,
            "ops_per_s": n / sum(s) if sum(s) else float("inf"),
            "note": self.note,
            "floor": self.floor,
        } | ({"seed_ms": self.seed_ms} if self.seed_ms is not None else {})


def time_calls(fn: Callable[[], object], n: int, *, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def machine_info() -> dict[str, Any]:
    from memoturn import __version__

    return {
        "memoturn": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def render_table(results: list[Result]) -> str:
    rows = [r.summary() for r in results]
    by_name = {r["scenario"]: r for r in rows}
    header = (
        f"{'scenario':<44} {'n':>6} {'min':>9} {'p50':>9} {'p95':>9} {'max':>9} "
        f"{'ops/s':>10}  x floor"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        ratio = ""
        if r["floor"] and r["floor"] in by_name and by_name[r["floor"]]["p50_ms"] > 0:
            ratio = f"{r['p50_ms'] / by_name[r['floor']]['p50_ms']:.1f}x"
        lines.append(
            f"{r['scenario']:<44} {r['n']:>6} {_ms(r['min_ms'])} {_ms(r['p50_ms'])} "
            f"{_ms(r['p95_ms'])} {_ms(r['max_ms'])} {r['ops_per_s']:>10.0f}  {ratio}"
        )
        if "seed_ms" in r:
            ratio = r["p50_ms"] / r["seed_ms"]
            lines.append(f"    seed: {r['seed_ms']:g} ms ({ratio:.2f}x the seed)")
        if r["note"]:
            lines.append(f"    {r['note']}")
    return "\n".join(lines)


def _ms(v: float) -> str:
    return f"{v:>7.3f}ms" if v < 100 else f"{v:>7.0f}ms"


def write_json(results: list[Result], path: Path, extra: dict[str, Any] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": machine_info(), "results": [r.summary() for r in results], **(extra or {})}
    path.write_text(json.dumps(doc, indent=2))


def write_report(out: Path, name: str, arguments: dict[str, Any], report: dict[str, Any]) -> Path:
    """An evaluation's JSON report, ``out/NAME-YYYYmmdd-HHMMSS.json``: the machine, the
    arguments it ran with (paths as text) and ``report``; its path is printed."""
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    args = {k: str(v) if isinstance(v, Path) else v for k, v in arguments.items()}
    path.write_text(json.dumps({"machine": machine_info(), "args": args, **report}, indent=2))
    print(f"\nJSON report: {path}")
    return path


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)
