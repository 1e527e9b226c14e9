"""An object store in a dict: for tests and throwaway nodes. Nothing survives the process."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from memoturn.storage.objectstore import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoredObject,
    check_put_args,
    check_range,
    validate_key,
    validate_metadata,
    validate_prefix,
)


@dataclass(frozen=True)
class _Entry:
    data: bytes
    etag: str
    last_modified: float
    metadata: dict[str, str]


class MemoryStore(ObjectStore):
    """A thread-safe in-memory store. Every write gets a new etag (a counter), even a
    rewrite of the same bytes. ``clock`` gives ``last_modified`` (inject one in tests of
    age-based logic such as GC)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._objects: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._clock = clock

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._objects)} objects)"

    def get(self, key: str, *, op: str = "get") -> StoredObject:
        entry = self._entry(key)
        return StoredObject(key, entry.data, entry.etag, dict(entry.metadata))

    def get_range(self, key: str, start: int, length: int, *, op: str = "get_range") -> bytes:
        check_range(start, length)
        return self._entry(key).data[start : start + length]

    def head(self, key: str, *, op: str = "head") -> ObjectInfo | None:
        validate_key(key)
        with self._lock:
            entry = self._objects.get(key)
        return None if entry is None else _info(key, entry)

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_match: str | None = None,
        metadata: dict[str, str] | None = None,
        op: str = "put",
    ) -> str:
        check_put_args(key, if_absent, if_match)
        meta = validate_metadata(metadata)
        data = bytes(data)
        with self._lock:
            current = self._objects.get(key)
            if if_absent and current is not None:
                raise PreconditionFailed(f"object {key!r} already exists")
            if if_match is not None and (current is None or current.etag != if_match):
                raise PreconditionFailed(
                    f"object {key!r} is not at etag {if_match!r}",
                    hint="it changed or was deleted since it was read; read it again",
                )
            etag = f"m{next(self._counter)}"
            self._objects[key] = _Entry(data, etag, self._clock(), meta)
        return etag

    def delete(self, key: str, *, op: str = "delete") -> None:
        validate_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def list(self, prefix: str = "", *, op: str = "list") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        with self._lock:
            found = [(k, e) for k, e in self._objects.items() if k.startswith(prefix)]
        return iter([_info(k, e) for k, e in sorted(found, key=lambda item: item[0])])

    def _entry(self, key: str) -> _Entry:
        validate_key(key)
        with self._lock:
            entry = self._objects.get(key)
        if entry is None:
            raise ObjectNotFound(f"object {key!r} not found")
        return entry


def _info(key: str, entry: _Entry) -> ObjectInfo:
    return ObjectInfo(key, len(entry.data), entry.etag, entry.last_modified, dict(entry.metadata))
