"""The floor of a wake: what opening a profile's image and answering one keyword query costs
with nothing of Memoturn around it (no manifest, no checksums, no engine)."""

from __future__ import annotations

import itertools
from pathlib import Path

from memoturn.bench.stats import time_calls
from memoturn.core import ranking
from memoturn.profile.database import deserialize

_QUERY = (
    "SELECT rowid, bm25(memories_fts) FROM memories_fts WHERE memories_fts MATCH ? "
    "ORDER BY bm25(memories_fts) LIMIT 10"
)


def image_and_query(
    image: bytes, queries: list[str], n: int, *, path: Path | None = None
) -> list[float]:
    """Samples of: (read ``path``, which holds ``image``, if given,) deserialize the image
    into a new in-memory connection and run one FTS5 query of the top 10 — the first on
    that connection, so it pays for parsing the schema and opening the index, as a wake's
    first query does."""
    matches = itertools.cycle([m for m in map(ranking.fts_query, queries) if m])
    if path is not None:
        path.write_bytes(image)

    def one() -> None:
        data = bytearray(path.read_bytes()) if path is not None else bytearray(image)
        conn = deserialize(data)
        conn.execute(_QUERY, (next(matches),)).fetchall()
        conn.close()

    return time_calls(one, n)
