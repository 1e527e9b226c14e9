"""Input checks shared by every operation. Each raises InvalidInput or TooLarge with a
message naming the field, so the edges can pass it through unchanged."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from memoturn.core import limits
from memoturn.core.errors import InvalidInput, TooLarge


def text(value: object, field: str, *, max_bytes: int, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise InvalidInput(f"{field} must not be empty")
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise TooLarge(
            f"{field} is {size} bytes; the limit is {max_bytes}",
            hint="split it into smaller items (documents are chunked for you)",
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidInput(f"{field} is not valid Unicode text: {e.reason}") from None
    return value


def short(value: object, field: str, *, max_chars: int) -> str | None:
    """An optional short identifier-like string (topic, source, session id)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(f"{field} must not be empty when given")
    if len(value) > max_chars:
        raise TooLarge(f"{field} is {len(value)} characters; the limit is {max_chars}")
    if any(ord(c) < 32 for c in value):
        raise InvalidInput(f"{field} must not contain control characters")
    return value


_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SESSION_ID_RULE = (
    f"1-{limits.MAX_SESSION_ID_CHARS} characters of A-Z, a-z, 0-9, '.', '_' and '-', "
    "starting with a letter or digit"
)


def session_id(value: object, field: str = "session_id") -> str | None:
    """An optional session id: the name characters plus upper case and '.', so every id
    (generated ULIDs included) can be written into a URL path as it is."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}")
    if len(value) > limits.MAX_SESSION_ID_CHARS:
        raise TooLarge(
            f"{field} is {len(value)} characters; the limit is {limits.MAX_SESSION_ID_CHARS}"
        )
    if not _SESSION_ID.fullmatch(value):
        raise InvalidInput(f"invalid {field} {value!r}", hint=f"use {SESSION_ID_RULE}")
    return value


def metadata_filter(value: object, field: str = "metadata filter") -> dict[str, Any]:
    """A metadata filter: a JSON object of scalar values whose keys are text without NUL
    or other control characters (a key becomes a JSON path)."""
    meta = metadata(value, field)
    for key, item in meta.items():
        if not key or any(ord(c) < 32 for c in key):
            raise InvalidInput(
                f"{field} key {key!r} is empty or holds a control character",
                hint="metadata filter keys are non-empty text without control characters",
            )
        if isinstance(item, dict | list):
            raise InvalidInput(f"{field} {key!r}: only scalar values can be matched")
    return meta


def metadata(value: object, field: str = "metadata") -> dict[str, Any]:
    """A JSON object of at most MAX_METADATA_BYTES; ``None`` is ``{}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object, got {type(value).__name__}")
    encoded = json_dumps(value, field)
    if len(encoded.encode()) > limits.MAX_METADATA_BYTES:
        raise TooLarge(
            f"{field} is {len(encoded.encode())} bytes as JSON; the limit is "
            f"{limits.MAX_METADATA_BYTES}"
        )
    return value


def json_dumps(value: object, field: str) -> str:
    """Canonical JSON of a value, or InvalidInput if it is not JSON (NaN included)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # NaN, Infinity, or a literal such as 1e400 that overflowed
        raise InvalidInput(
            f"{field} holds a number JSON cannot carry (NaN, Infinity or out of range)",
            hint="send finite numbers only",
        ) from None
    except TypeError as e:
        raise InvalidInput(f"{field} is not JSON-serialisable: {e}") from None


def ttl(value: object, field: str = "ttl_s") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number of seconds")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise InvalidInput(f"{field} must be a whole number of seconds")
    seconds = int(value)
    if not limits.MIN_TTL_S <= seconds <= limits.MAX_TTL_S:
        raise InvalidInput(
            f"{field} must be between {limits.MIN_TTL_S} and {limits.MAX_TTL_S} seconds, "
            f"got {seconds}"
        )
    return seconds


def integer(value: object, field: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(field, "an integer", value)
    if not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low} and {high}, got {value}")
    return value


def choice(value: object, field: str, allowed: Iterable[str]) -> str:
    options = list(allowed)
    if value not in options:
        raise not_one_of(field, options, value)
    return str(value)


def timestamp(value: object, field: str) -> float | None:
    """Epoch seconds (number) or an ISO-8601 string; ``None`` passes."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a timestamp")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise InvalidInput(f"{field} must be finite")
        return float(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{field} is not an ISO-8601 timestamp: {value!r}",
                hint="e.g. 2026-11-26T10:00:00Z, or epoch seconds",
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    raise InvalidInput(f"{field} must be a timestamp (ISO-8601 string or epoch seconds)")


# -- the phrasing every edge uses for malformed requests (REST, MCP, SDK see the same text) --


def json_type(value: object) -> str:
    """What a JSON value is, with its article: "a string", "null", "an array" ..."""
    for name, types in (
        ("null", (type(None),)),
        ("a boolean", (bool,)),
        ("a number", (int, float)),
        ("a string", (str,)),
        ("an array", (list, tuple)),
        ("an object", (dict,)),
    ):
        if isinstance(value, types):
            return name
    return type(value).__name__


def wrong_type(field: str, expected: str, value: object) -> InvalidInput:
    """``expected`` with its article: "an integer", "a string or a number"."""
    return InvalidInput(f"{field} must be {expected}, got {json_type(value)}")


def missing(fields: Iterable[str]) -> InvalidInput:
    names = list(fields)
    return InvalidInput(
        f"missing required field{'s' if len(names) > 1 else ''}: {', '.join(names)}"
    )


def unknown(fields: Iterable[str], known: Iterable[str]) -> InvalidInput:
    names = sorted(fields)
    return InvalidInput(
        f"unknown field{'s' if len(names) > 1 else ''}: {', '.join(names)}",
        hint="known fields: " + (", ".join(known) or "none"),
    )


def not_one_of(field: str, options: Iterable[object], value: object) -> InvalidInput:
    return InvalidInput(f"{field} must be one of {', '.join(map(str, options))}; got {value!r}")
