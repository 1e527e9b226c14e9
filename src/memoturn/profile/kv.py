"""KV spaces: named key/value areas with JSON values and per-key TTL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from memoturn.core import limits, validate
from memoturn.core.errors import Conflict, InvalidInput, NotFound, TooLarge
from memoturn.core.model import KVItem, KVPage, KVResult, KVSpace, KVSpacePage, Written
from memoturn.core.names import check_name
from memoturn.profile import rows

if TYPE_CHECKING:
    from memoturn.profile.profile import Profile


def _key(key: object) -> str:
    k = validate.short(key, "key", max_chars=limits.MAX_KV_KEY_CHARS)
    assert k is not None
    return k


class KVOps:
    """Mixin of :class:`~memoturn.profile.profile.Profile`: KV spaces."""

    def kv_set(
        self: Profile, space: str, key: str, value: Any, *, ttl_s: int | None = None
    ) -> KVResult:
        """Set a key (any JSON value; ``None`` is a JSON null, not a delete)."""
        check_name(space, "KV space")
        k = _key(key)
        encoded = validate.json_dumps(value, "value")
        if len(encoded.encode()) > limits.MAX_KV_VALUE_BYTES:
            raise TooLarge(
                f"value is {len(encoded.encode())} bytes as JSON; the limit is "
                f"{limits.MAX_KV_VALUE_BYTES}",
                hint="store large text as a document",
            )
        ttl = validate.ttl(ttl_s)
        with self.db.write() as tx:
            expires = tx.now + ttl if ttl is not None else None
            tx.cursor.execute(
                "INSERT INTO kv(space, key, value, expires_at, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(space, key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                (space, k, encoded, expires, tx.now),
            )
        return KVResult(k, json.loads(encoded), expires, tx.now, tx.txid)

    def kv_get(self: Profile, space: str, key: str) -> KVResult:
        """A key's value; expired keys are not found."""
        check_name(space, "KV space")
        k = _key(key)
        with self.db.read() as cur:
            row = cur.execute(
                "SELECT value, expires_at, updated_at FROM kv WHERE space = ? AND key = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (space, k, self.clock.now()),
            ).fetchone()
            txid = self.db.txid
        if row is None:
            raise NotFound(f"no key {k!r} in KV space {space!r}")
        return KVResult(k, json.loads(row[0]), row[1], row[2], txid)

    def kv_delete(self: Profile, space: str, key: str) -> Written:
        """Delete a key; deleting a missing key changes nothing (``count`` 0)."""
        check_name(space, "KV space")
        k = _key(key)
        with self.db.write() as tx:
            tx.cursor.execute(
                "DELETE FROM kv WHERE space = ? AND key = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (space, k, tx.now),
            )
            if self.db.conn.changes() == 0:
                tx.cancel()
                return Written(self.db.txid, 0)
        return Written(tx.txid, 1)

    def kv_list(
        self: Profile,
        space: str,
        *,
        prefix: str = "",
        limit: int = 1000,
        cursor: str | None = None,
    ) -> KVPage:
        """Live keys of a space in key order, optionally under a prefix; ``cursor`` is the
        ``next_cursor`` of the previous page."""
        check_name(space, "KV space")
        if not isinstance(prefix, str) or len(prefix) > limits.MAX_KV_KEY_CHARS:
            raise InvalidInput("prefix must be a string of at most 512 characters")
        validate.integer(limit, "limit", low=1, high=10_000)
        after = validate.short(cursor, "cursor", max_chars=limits.MAX_KV_KEY_CHARS) or ""
        # Range scan instead of LIKE: keys may contain % and _.
        upper = prefix + "\U0010ffff"
        with self.db.read() as cur:
            found = cur.execute(
                "SELECT key, value, expires_at, updated_at FROM kv WHERE space = ? "
                "AND key >= ? AND key < ? AND key > ? "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?",
                (space, prefix, upper, after, self.clock.now(), limit + 1),
            ).fetchall()
            txid = self.db.txid
        items = [KVItem(r[0], json.loads(r[1]), r[2], r[3]) for r in found]
        page, next_cursor = rows.page(items, limit, lambda i: i.key)
        return KVPage(page, txid, next_cursor)

    def kv_spaces(self: Profile, *, limit: int = 100, cursor: str | None = None) -> KVSpacePage:
        """The KV spaces holding live keys, in name order, with their key counts."""
        limit = validate.integer(limit, "limit", low=1, high=1000)
        after = "" if cursor is None else check_name(cursor, "cursor")
        with self.db.read() as cur:
            found = cur.execute(
                "SELECT space, count(*) FROM kv WHERE space > ? "
                "AND (expires_at IS NULL OR expires_at > ?) GROUP BY space ORDER BY space LIMIT ?",
                (after, self.clock.now(), limit + 1),
            ).fetchall()
            txid = self.db.txid
        page, next_cursor = rows.page([KVSpace(r[0], r[1]) for r in found], limit, lambda s: s.name)
        return KVSpacePage(page, txid, next_cursor)

    def kv_compare_set(
        self: Profile,
        space: str,
        key: str,
        value: Any,
        *,
        expected: Any = None,
        ttl_s: int | None = None,
    ) -> KVResult:
        """Set a key only if its live value is ``expected`` right now (compared as JSON;
        ``None``: only if the key does not exist), in one transaction; else a Conflict that
        changes nothing. Two writers that read the same value cannot both replace it."""
        check_name(space, "KV space")
        k = _key(key)
        encoded = validate.json_dumps(value, "value")
        if len(encoded.encode()) > limits.MAX_KV_VALUE_BYTES:
            raise TooLarge(
                f"value is {len(encoded.encode())} bytes as JSON; the limit is "
                f"{limits.MAX_KV_VALUE_BYTES}",
                hint="store large text as a document",
            )
        if expected is not None:
            validate.json_dumps(expected, "expected")  # a clear 400 for what JSON cannot hold
        wanted = None if expected is None else _canonical(expected)
        ttl = validate.ttl(ttl_s)
        with self.db.write() as tx:
            row = tx.cursor.execute(
                "SELECT value FROM kv WHERE space = ? AND key = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (space, k, tx.now),
            ).fetchone()
            current = None if row is None else _canonical(json.loads(row[0]))
            if current != wanted:
                if row is None:
                    found = "does not exist"
                elif wanted is None:
                    found = "exists (expected: absent)"
                else:
                    found = "holds another value than expected"
                raise Conflict(
                    f"key {k!r} of KV space {space!r} {found}",
                    hint="read the key again and retry with its value as expected",
                )
            expires = tx.now + ttl if ttl is not None else None
            tx.cursor.execute(
                "INSERT INTO kv(space, key, value, expires_at, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(space, key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                (space, k, encoded, expires, tx.now),
            )
        return KVResult(k, json.loads(encoded), expires, tx.now, tx.txid)


def _canonical(value: Any) -> str:
    """JSON with sorted keys: two values are the same JSON iff these are equal."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
