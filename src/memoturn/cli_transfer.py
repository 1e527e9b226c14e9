"""``memoturn export`` and ``memoturn import``: a whole profile-branch as JSON Lines, with a
progress line on stderr while the node works (``cli`` registers the commands)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from memoturn.core.errors import InvalidInput
from memoturn.core.model import ImportResult

LONG_TIMEOUT_S = 3600.0
"""An export or import of a large profile takes longer than a usual call (the node embeds
every imported text): the commands wait this long for the answer."""


class Progress:
    """A line on stderr saying what is being waited for, once it has taken ``delay``: on a
    terminal it is redrawn every second with the time so far, elsewhere a line is written
    every ten seconds. Quiet for quick work."""

    def __init__(self, text: str, stream: IO[str] | None = None, delay: float = 1.0) -> None:
        self.text = text
        self.delay = delay
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._stop = threading.Event()
        self._drawn = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="memoturn-progress")

    def _run(self) -> None:
        start = time.monotonic()
        every = 1.0 if self.tty else 10.0
        while not self._stop.wait(every if self._drawn else self.delay):
            elapsed = time.monotonic() - start
            if self.tty:
                self.stream.write(f"\r{self.text} {elapsed:.0f} s")
            else:
                self.stream.write(f"{self.text} {elapsed:.0f} s\n")
            self.stream.flush()
            self._drawn = True

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._drawn and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


@dataclasses.dataclass(frozen=True, slots=True)
class Exported:
    profile: str
    branch: str
    records: int
    bytes: int
    file: str | None
    """Where the export went (``None``: standard output)."""


def _long_client(client: Any) -> Any:
    from memoturn.client import Client

    return Client(client.url, client.token, timeout=LONG_TIMEOUT_S)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def export(client: Any, a: argparse.Namespace) -> Exported:
    """Write the export to ``a.output`` (or stdout); say what was written on stderr."""
    if a.json and a.output is None:
        raise InvalidInput("--json needs -o FILE: standard output carries the export")
    ns, name = a.profile
    with _long_client(client) as slow, Progress(f"exporting {ns}/{name}@{a.branch}..."):
        text = slow.profile(ns, name, a.branch).export_profile()
    data = text.encode()
    if a.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(a.output).write_bytes(data)
    records = max(text.count("\n") - 2, 0)
    where = a.output or "standard output"
    print(f"exported {records:,} records ({_size(len(data))}) to {where}", file=sys.stderr)
    return Exported(f"{ns}/{name}", a.branch, records, len(data), a.output)


def show_export(_: Exported) -> str:
    return ""  # said on stderr: standard output may be the export itself


def import_(client: Any, a: argparse.Namespace) -> ImportResult:
    """Send FILE (``-``: stdin) to the node and wait while it checks, embeds and commits."""
    ns, name = a.profile
    try:
        data = sys.stdin.buffer.read() if a.file == "-" else Path(a.file).read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read {a.file}: {e.strerror}") from None
    records = max(data.count(b"\n") - 1, 0)
    note = f"importing {records:,} records ({_size(len(data))}) into {ns}/{name}@{a.branch}..."
    with _long_client(client) as slow, Progress(note):
        result: ImportResult = slow.profile(ns, name, a.branch).import_profile(data)
    return result


_NAMES = {
    "session": ("session", "sessions"),
    "turn": ("turn", "turns"),
    "memory": ("memory", "memories"),
    "idempotency": ("idempotency key", "idempotency keys"),
    "document": ("document", "documents"),
    "kv": ("KV key", "KV keys"),
    "collection": ("vector collection", "vector collections"),
    "vector": ("vector", "vectors"),
}


def show_import(r: ImportResult) -> str:
    parts = [f"{n:,} {_NAMES.get(kind, (kind, kind))[n != 1]}" for kind, n in r.counts.items() if n]
    if not parts:
        return "imported nothing: the export holds no records"
    return f"imported {', '.join(parts)} at txid {r.txid}"
