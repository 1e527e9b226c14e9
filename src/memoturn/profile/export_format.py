"""The export file: JSON Lines, format version 1 — the kinds of record, their fields and
the checks an import makes before it writes anything.

Each line is one JSON object ``{"kind": ..., ...}``. The first is the ``header`` (format
version, the exporter's schema version, its embedder); the last is ``end``, counting the
records between, so a file cut off at a line boundary is refused rather than half-imported.
Every problem is an :class:`InvalidInput` naming its line.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from memoturn.core import limits, validate
from memoturn.core.errors import InvalidInput, MemoturnError
from memoturn.core.model import MemoryType
from memoturn.core.names import check_name
from memoturn.profile import rows
from memoturn.profile.documents import chunk_embedding_text
from memoturn.profile.schema import SCHEMA_VERSION
from memoturn.profile.sessions import ROLES, embedding_texts
from memoturn.profile.vectors import _vector

FORMAT_VERSION = 1

# -- field checks -----------------------------------------------------------------------------

Check = Callable[[Any, str], Any]


def _opt(check: Check) -> Check:
    return lambda v, f: None if v is None else check(v, f)


def _time(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number of epoch seconds")
    if value < 0:
        raise InvalidInput(f"{field} must not be negative")
    return float(value)


def _short(max_chars: int) -> Check:
    return lambda v, f: validate.short(v, f, max_chars=max_chars)


def _required_short(max_chars: int) -> Check:
    def check(value: Any, field: str) -> str:
        if value is None:
            raise InvalidInput(f"{field} must be a string, got null")
        return validate.short(value, field, max_chars=max_chars) or ""

    return check


def _text(max_bytes: int) -> Check:
    return lambda v, f: validate.text(v, f, max_bytes=max_bytes)


def _int(low: int, high: int) -> Check:
    return lambda v, f: validate.integer(v, f, low=low, high=high)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be true or false")
    return value


def _name(what: str) -> Check:
    return lambda v, f: check_name(v, what)


def _list_of(check: Check, *, non_empty: bool = False) -> Check:
    def checked(value: Any, field: str) -> list[Any]:
        if not isinstance(value, list) or (non_empty and not value):
            raise InvalidInput(f"{field} must be a {'non-empty ' if non_empty else ''}list")
        return [check(v, f"{field}[{i}]") for i, v in enumerate(value)]

    return checked


def _json_value(value: Any, field: str) -> Any:
    size = len(validate.json_dumps(value, field).encode())
    if size > limits.MAX_KV_VALUE_BYTES:
        raise InvalidInput(
            f"{field} is {size} bytes as JSON; the limit is {limits.MAX_KV_VALUE_BYTES}"
        )
    return value


def _positive_ints(value: Any, field: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in value
    ):
        raise InvalidInput(f"{field} must be a list of positive turn numbers")
    return value


def _vector_values(value: Any, field: str) -> list[float]:
    _vector(value)  # the checks vector_upsert makes
    return [float(x) for x in value]


_ID = _required_short(64)
_SESSION_ID = _required_short(limits.MAX_SESSION_ID_CHARS)
_COUNT_MAX = 2**62

FIELDS: dict[str, dict[str, Check]] = {
    "session": {
        "id": _SESSION_ID,
        "created_at": _time,
        "ended_at": _opt(_time),
        "task_ttl_s": _int(limits.MIN_TTL_S, limits.MAX_TTL_S),
        "metadata": validate.metadata,
        "next_turn": _int(1, _COUNT_MAX),
    },
    "turn": {
        "session_id": _SESSION_ID,
        "turn": _int(1, _COUNT_MAX),
        "role": lambda v, f: validate.choice(v, f, ROLES),
        "name": _short(128),
        "content": _text(limits.MAX_TURN_CONTENT_BYTES),
        "metadata": validate.metadata,
        "created_at": _time,
    },
    "memory": {
        "id": _ID,
        "type": lambda v, f: validate.choice(v, f, [t.value for t in MemoryType]),
        "content": _text(limits.MAX_MEMORY_CONTENT_BYTES),
        "topic": _short(limits.MAX_TOPIC_CHARS),
        "session_id": _short(limits.MAX_SESSION_ID_CHARS),
        "source": _short(limits.MAX_SOURCE_CHARS),
        "metadata": validate.metadata,
        "created_at": _time,
        "valid_from": _time,
        "valid_to": _opt(_time),
        "superseded_by": _short(64),
        "forgotten_reason": _short(512),
        "expires_at": _opt(_time),
        "turn_ids": _positive_ints,
    },
    "idempotency": {
        "key": _required_short(limits.MAX_IDEMPOTENCY_KEY_CHARS),
        "request_hash": _required_short(64),
        "memory_id": _ID,
        "duplicate": _bool,
        "superseded": _list_of(_ID),
        "created_at": _time,
    },
    "document": {
        "id": _ID,
        "title": _short(limits.MAX_TITLE_CHARS),
        "content": _text(limits.MAX_DOCUMENT_BYTES),
        "metadata": validate.metadata,
        "created_at": _time,
        "chunks": _list_of(_text(limits.MAX_DOCUMENT_BYTES), non_empty=True),
    },
    "kv": {
        "space": _name("KV space"),
        "key": _required_short(limits.MAX_KV_KEY_CHARS),
        "value": _json_value,
        "expires_at": _opt(_time),
        "updated_at": _time,
    },
    "collection": {
        "name": _name("collection"),
        "dim": _int(1, limits.MAX_VECTOR_DIM),
        "created_at": _time,
    },
    "vector": {
        "collection": _name("collection"),
        "id": _required_short(limits.MAX_VECTOR_ID_CHARS),
        "vector": _vector_values,
        "metadata": validate.metadata,
        "updated_at": _time,
    },
}
"""Every record kind with its fields, in the order an export writes them (and the order
records of each kind follow the header)."""

KINDS = tuple(FIELDS)
_HEADER_FIELDS = ("format", "schema_version", "embedder", "dim")


def line(kind: str, fields: dict[str, Any]) -> str:
    return rows.dumps({"kind": kind, **fields}) + "\n"


def float32_numbers(blob: bytes) -> list[float]:
    """A stored float32 vector as the shortest decimals that parse back to the same float32
    (through a Python float, as an importer reads them); the exact double where the
    shortest float32 decimal would round differently through a double."""
    values = rows.from_blob(blob)
    short = [float(str(x)) for x in values]
    back = np.array(short, dtype=np.float32)
    if np.array_equal(back, values):
        return short
    return [s if b == v else float(v) for s, b, v in zip(short, back, values, strict=True)]


# -- reading an export ------------------------------------------------------------------------


@dataclasses.dataclass
class Parsed:
    """A checked export: its records by kind, each with its line number."""

    header: dict[str, Any]
    records: dict[str, list[tuple[int, dict[str, Any]]]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for _, r in self.records[kind]]


def _raw_lines(data: str | bytes | Iterable[str | bytes]) -> Iterator[tuple[int, str | bytes]]:
    if isinstance(data, bytes | bytearray | memoryview | str):
        # Split at "\n" alone: str.splitlines would also split at characters (U+2028 ...)
        # that JSON strings may hold unescaped.
        whole = data if isinstance(data, str) else bytes(data)
        pieces: list[Any] = whole.split("\n" if isinstance(whole, str) else b"\n")
        if pieces and not pieces[-1]:
            pieces.pop()  # the newline that ends the last line
    elif isinstance(data, Iterable):
        pieces = data  # type: ignore[assignment]
    else:
        raise InvalidInput("an import takes the export's text, bytes or lines")
    for n, piece in enumerate(pieces, start=1):
        if not isinstance(piece, str | bytes):
            raise InvalidInput(f"line {n}: expected text, got {type(piece).__name__}")
        yield n, piece


def _decode(n: int, piece: str | bytes) -> dict[str, Any]:
    if isinstance(piece, bytes):
        try:
            piece = piece.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput(f"line {n}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not piece.strip():
        raise InvalidInput(f"line {n}: empty line", hint="an export has one record per line")
    try:
        value = json.loads(piece)
    except ValueError as e:
        raise InvalidInput(f"line {n}: not JSON: {e}", hint="is this a Memoturn export?") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"line {n}: expected a JSON object, got {type(value).__name__}")
    kind = value.get("kind")
    if not isinstance(kind, str):
        raise InvalidInput(f'line {n}: the object has no "kind"')
    return value


def _fields(n: int, value: dict[str, Any], names: Iterable[str]) -> None:
    kind, names = value["kind"], set(names) | {"kind"}
    unknown = sorted(set(value) - names)
    if unknown:
        raise InvalidInput(f"line {n}: unknown fields for a {kind}: {', '.join(unknown)}")
    missing = sorted(names - set(value))
    if missing:
        raise InvalidInput(f"line {n}: missing fields for a {kind}: {', '.join(missing)}")


def _check_header(n: int, value: dict[str, Any]) -> dict[str, Any]:
    if value["kind"] != "header":
        raise InvalidInput(
            f'line {n}: expected the header (kind "header") first, got kind {value["kind"]!r}',
            hint="an export starts with its header line; is this a Memoturn export?",
        )
    _fields(n, value, _HEADER_FIELDS)
    version = value["format"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise InvalidInput(
            f"line 1: export format version {version!r} is not supported; this Memoturn "
            f"reads version {FORMAT_VERSION}",
            hint="import with the Memoturn version that wrote it, or a newer one",
        )
    schema = value["schema_version"]
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise InvalidInput("line 1: schema_version must be a positive integer")
    if schema > SCHEMA_VERSION:
        raise InvalidInput(
            f"line 1: the export comes from schema version {schema}; this Memoturn knows up "
            f"to {SCHEMA_VERSION}",
            hint="upgrade Memoturn to import it",
        )
    if not isinstance(value["embedder"], str) or not value["embedder"]:
        raise InvalidInput("line 1: embedder must be a non-empty string")
    validate.integer(value["dim"], "line 1: dim", low=1, high=limits.MAX_VECTOR_DIM)
    return value


def parse(data: str | bytes | Iterable[str | bytes]) -> Parsed:
    """Read and check a whole export; any problem is an InvalidInput naming its line."""
    header: dict[str, Any] | None = None
    records: dict[str, list[tuple[int, dict[str, Any]]]] = {k: [] for k in KINDS}
    end: int | None = None
    count = last = 0
    for n, piece in _raw_lines(data):
        last = n
        value = _decode(n, piece)
        kind = value["kind"]
        if header is None:
            header = _check_header(n, value)
            continue
        if end is not None:
            raise InvalidInput(f"line {n}: a line after the end line (line {end})")
        if kind == "end":
            _fields(n, value, ("records",))
            if value["records"] != count or isinstance(value["records"], bool):
                raise InvalidInput(
                    f"line {n}: the end line counts {value['records']!r} records; the file "
                    f"holds {count}",
                    hint="the export is incomplete or was edited",
                )
            end = n
            continue
        if kind not in FIELDS:
            raise InvalidInput(
                f"line {n}: unknown kind {kind!r}",
                hint=f"the kinds are header, {', '.join(KINDS)}, end",
            )
        _fields(n, value, FIELDS[kind])
        try:
            checked = {f: check(value[f], f) for f, check in FIELDS[kind].items()}
        except MemoturnError as e:
            raise InvalidInput(f"line {n} ({kind}): {e.message}", hint=e.hint) from None
        records[kind].append((n, checked))
        count += 1
    if header is None:
        raise InvalidInput("the import is empty: an export has at least its header and end line")
    if end is None:
        raise InvalidInput(
            f"the export ends at line {last} without its end line",
            hint="the file was cut off: export it again",
        )
    parsed = Parsed(header, records)
    _check_links(parsed)
    return parsed


def _unique(parsed: Parsed, kind: str, key: Callable[[dict[str, Any]], Any], what: str) -> dict:
    seen: dict[Any, dict[str, Any]] = {}
    for n, r in parsed.records[kind]:
        k = key(r)
        if k in seen:
            raise InvalidInput(f"line {n}: a second {kind} with {what} {k!r}")
        seen[k] = r
    return seen


def _check_links(parsed: Parsed) -> None:
    """What the database relies on across records: unique keys, and each reference to a
    record of the export present (a turn's session, a vector's collection ...)."""
    sessions = _unique(parsed, "session", lambda r: r["id"], "id")
    _unique(parsed, "turn", lambda r: (r["session_id"], r["turn"]), "(session, turn)")
    memories = _unique(parsed, "memory", lambda r: r["id"], "id")
    _unique(parsed, "idempotency", lambda r: r["key"], "key")
    _unique(parsed, "document", lambda r: r["id"], "id")
    _unique(parsed, "kv", lambda r: (r["space"], r["key"]), "(space, key)")
    collections = _unique(parsed, "collection", lambda r: r["name"], "name")
    _unique(parsed, "vector", lambda r: (r["collection"], r["id"]), "(collection, id)")
    for n, t in parsed.records["turn"]:
        session = sessions.get(t["session_id"])
        if session is None:
            raise InvalidInput(f"line {n}: turn of session {t['session_id']!r}, not in the export")
        if t["turn"] >= session["next_turn"]:
            raise InvalidInput(
                f"line {n}: turn {t['turn']} of session {t['session_id']!r} is not below the "
                f"session's next_turn ({session['next_turn']})"
            )
    for n, m in parsed.records["memory"]:
        if m["session_id"] is not None and m["session_id"] not in sessions:
            raise InvalidInput(
                f"line {n}: memory of session {m['session_id']!r}, not in the export"
            )
    for n, i in parsed.records["idempotency"]:
        if i["memory_id"] not in memories:
            raise InvalidInput(
                f"line {n}: idempotency key for memory {i['memory_id']!r}, not in the export"
            )
    for n, v in parsed.records["vector"]:
        collection = collections.get(v["collection"])
        if collection is None:
            raise InvalidInput(
                f"line {n}: vector of collection {v['collection']!r}, not in the export"
            )
        if len(v["vector"]) != collection["dim"]:
            raise InvalidInput(
                f"line {n}: collection {v['collection']!r} holds {collection['dim']}-dimensional "
                f"vectors; got {len(v['vector'])}"
            )


def texts_to_embed(parsed: Parsed) -> tuple[list[str], list[str], list[str]]:
    """What the profile embeds for each memory, turn and chunk, exactly as the writes that
    stored them did (a turn with the turn before it, a chunk with its document's title)."""
    memories = [m["content"] for m in parsed.of("memory")]
    content = {(t["session_id"], t["turn"]): t["content"] for t in parsed.of("turn")}
    turns = [
        embedding_texts(content.get((t["session_id"], t["turn"] - 1)), [t["content"]])[0]
        for t in parsed.of("turn")
    ]
    chunks = [
        chunk_embedding_text(d["title"], piece)
        for d in parsed.of("document")
        for piece in d["chunks"]
    ]
    return memories, turns, chunks
