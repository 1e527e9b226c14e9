"""Layers around any ObjectStore, each itself an ObjectStore: retry, fault injection, metrics.

Stack them as needed, e.g. ``MeteredStore(RetryingStore(FaultyStore(LocalDirStore(p))))``.
Every call goes through one method, :meth:`StoreWrapper._call`, tagged by the caller's
``op`` name, so a wrapper handles all seven operations in one place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from memoturn.storage.objectstore import (
    ObjectInfo,
    ObjectStore,
    StoredObject,
    StoreError,
)

T = TypeVar("T")


class StoreWrapper(ObjectStore):
    """Passes every call to ``inner`` through :meth:`_call`. Subclasses override it."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    def _call(self, op: str, fn: Callable[[], T], *, size: int = 0) -> T:
        """Run ``fn`` (the inner call) for the operation ``op``; ``size`` is bytes sent."""
        return fn()

    def get(self, key: str, *, op: str = "get") -> StoredObject:
        return self._call(op, lambda: self.inner.get(key, op=op))

    def get_range(self, key: str, start: int, length: int, *, op: str = "get_range") -> bytes:
        return self._call(op, lambda: self.inner.get_range(key, start, length, op=op))

    def head(self, key: str, *, op: str = "head") -> ObjectInfo | None:
        return self._call(op, lambda: self.inner.head(key, op=op))

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
        def call() -> str:
            return self.inner.put(
                key, data, if_absent=if_absent, if_match=if_match, metadata=metadata, op=op
            )

        return self._call(op, call, size=len(data))

    def delete(self, key: str, *, op: str = "delete") -> None:
        self._call(op, lambda: self.inner.delete(key, op=op))

    def delete_many(self, keys: Iterable[str], *, op: str = "delete_many") -> None:
        keys = list(keys)  # a retry must see the same keys again
        self._call(op, lambda: self.inner.delete_many(keys, op=op))

    def list(self, prefix: str = "", *, op: str = "list") -> Iterator[ObjectInfo]:
        # Backends take the listing when called, so the wrapper sees its errors.
        return iter(self._call(op, lambda: list(self.inner.list(prefix, op=op))))


class RetryingStore(StoreWrapper):
    """Retries calls that failed with a transient :class:`StoreError`, up to ``attempts``
    tries in all, waiting ``base_delay`` * 2**n between them (or the error's
    ``retry_after`` if longer). Never retries not-found, precondition failures or invalid
    input: the same call would fail the same way.

    A retried conditional put whose first try landed answers ``PreconditionFailed``;
    callers resolve that with the write-id in the object's metadata."""

    def __init__(
        self,
        inner: ObjectStore,
        attempts: int = 3,
        base_delay: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(inner)
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.base_delay = base_delay
        self._sleep = sleep

    def _call(self, op: str, fn: Callable[[], T], *, size: int = 0) -> T:
        for attempt in range(self.attempts):
            try:
                return fn()
            except StoreError as e:
                if attempt + 1 == self.attempts:
                    raise
                self._sleep(max(self.base_delay * 2**attempt, e.retry_after or 0.0))
        raise AssertionError("unreachable")  # the loop returns or raises


@dataclass
class _Fault:
    remaining: int
    exc: BaseException | type[BaseException] | None
    after: bool


class FaultyStore(StoreWrapper):
    """Fails chosen calls, picked by their ``op`` tag, for fault-injection tests.

    ``fail_next("cas_manifest")`` makes the next ``cas_manifest`` call raise before it
    reaches the inner store; ``after=True`` lets the inner call succeed and then raises,
    like a PUT that landed but whose answer was lost. Faults queue per op in order."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.Lock()
        #: How many faults have fired, by op.
        self.fired: dict[str, int] = {}

    def fail_next(
        self,
        op: str,
        count: int = 1,
        exc: BaseException | type[BaseException] | None = None,
        after: bool = False,
    ) -> None:
        """Fail the next ``count`` calls tagged ``op`` with ``exc`` (default: a
        :class:`StoreError`); ``after`` fails them after the inner call succeeded."""
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.setdefault(op, []).append(_Fault(count, exc, after))

    def pending(self, op: str | None = None) -> int:
        """How many injected failures have not fired yet (for ``op``, or all)."""
        with self._lock:
            ops = [op] if op is not None else list(self._faults)
            return sum(f.remaining for name in ops for f in self._faults.get(name, []))

    def clear(self) -> None:
        """Forget every fault not yet fired."""
        with self._lock:
            self._faults.clear()

    def _call(self, op: str, fn: Callable[[], T], *, size: int = 0) -> T:
        fault = self._take(op)
        if fault is None:
            return fn()
        if fault.after:
            fn()
        raise self._exception(op, fault)

    def _take(self, op: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(op)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.pop(0)
            self.fired[op] = self.fired.get(op, 0) + 1
            return fault

    @staticmethod
    def _exception(op: str, fault: _Fault) -> BaseException:
        if fault.exc is None:
            when = "after the call landed" if fault.after else "before the call"
            return StoreError(f"injected fault in {op!r} {when}")
        return fault.exc() if isinstance(fault.exc, type) else fault.exc


@dataclass
class OpStats:
    """Counters for one op. ``bytes_read``/``bytes_written`` count object bytes."""

    calls: int = 0
    errors: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    seconds_total: float = 0.0
    seconds_max: float = 0.0
    errors_by_kind: dict[str, int] = field(default_factory=dict)


class MeteredStore(StoreWrapper):
    """Counts calls, errors (by error class name), bytes and latency by op. ``stats()``
    returns a plain dict snapshot, for tests, logs or an exporter elsewhere."""

    def __init__(
        self, inner: ObjectStore, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        super().__init__(inner)
        self._stats: dict[str, OpStats] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def stats(self) -> dict[str, dict[str, object]]:
        """``{op: {"calls", "errors", "bytes_read", "bytes_written", "seconds_total",
        "seconds_max", "errors_by_kind"}}`` as of now."""
        with self._lock:
            return {
                op: {**vars(s), "errors_by_kind": dict(s.errors_by_kind)}
                for op, s in self._stats.items()
            }

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._stats.clear()

    def _call(self, op: str, fn: Callable[[], T], *, size: int = 0) -> T:
        started = self._clock()
        error: BaseException | None = None
        result: object = None
        try:
            result = fn()
            return result  # type: ignore[return-value]
        except BaseException as e:
            error = e
            raise
        finally:
            self._record(op, self._clock() - started, size, result, error)

    def _record(
        self, op: str, elapsed: float, size: int, result: object, error: BaseException | None
    ) -> None:
        with self._lock:
            s = self._stats.setdefault(op, OpStats())
            s.calls += 1
            s.seconds_total += elapsed
            s.seconds_max = max(s.seconds_max, elapsed)
            if error is not None:
                s.errors += 1
                kind = type(error).__name__
                s.errors_by_kind[kind] = s.errors_by_kind.get(kind, 0) + 1
                return
            s.bytes_written += size
            if isinstance(result, StoredObject):
                s.bytes_read += len(result.data)
            elif isinstance(result, bytes):
                s.bytes_read += len(result)
