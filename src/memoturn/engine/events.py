"""What a node's engine reports to whoever watches it (the HTTP edge feeds ``/metrics``
from it): wakes with their latency, hibernations, segment uploads that failed, and which
profile-branches this node has hibernated. Callbacks are optional and must be cheap."""

from __future__ import annotations

import threading
from collections.abc import Callable

Key = tuple[str, str]


class EngineEvents:
    def __init__(self) -> None:
        self.on_wake: Callable[[float], None] | None = None
        """Told the seconds each wake (restore from the store) took."""
        self.on_hibernate: Callable[[], None] | None = None
        self.on_segment_failed: Callable[[], None] | None = None
        self._hibernated: set[Key] = set()
        self.follows: dict[str, int] = {"segments": 0, "wake": 0, "failed": 0}
        """How copies that are not the writer's caught up with the store: by applying the
        new segments, by a wake (the history changed shape), or by a wake after applying
        segments failed (logged)."""
        self._lock = threading.Lock()

    def woke(self, key: Key, seconds: float) -> None:
        with self._lock:
            self._hibernated.discard(key)
        if self.on_wake is not None:
            self.on_wake(seconds)

    def hibernated(self, key: Key) -> None:
        with self._lock:
            self._hibernated.add(key)
        if self.on_hibernate is not None:
            self.on_hibernate()

    def followed(self, how: str) -> None:
        with self._lock:
            self.follows[how] += 1

    def segment_failed(self) -> None:
        if self.on_segment_failed is not None:
            self.on_segment_failed()

    def deleted(self, db: str, branch: str | None = None) -> None:
        """A profile (or one branch of it) is gone: it is no longer hibernated here."""
        with self._lock:
            self._hibernated = {
                k for k in self._hibernated if not (k[0] == db and branch in (None, k[1]))
            }

    def hibernated_count(self) -> int:
        """Profile-branches this node hibernated and has not woken since."""
        return len(self._hibernated)
