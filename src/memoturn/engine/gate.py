"""A shared/exclusive gate for one open profile-branch.

Ordinary calls pass shared (many at once; the database lock orders their SQL). Swapping the
database under them — rewind, hibernation, reload — needs every call out first, so it takes
the gate exclusively; calls arriving meanwhile wait, then see the new database."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class Gate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    def try_exclusive(self, timeout: float | None = None) -> bool:
        """Take the gate exclusively, waiting at most ``timeout`` (None: forever)."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: not self._exclusive and self._shared == 0, timeout=timeout
            ):
                return False
            self._exclusive = True
            return True

    def release_exclusive(self) -> None:
        with self._cond:
            self._exclusive = False
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        return self._shared > 0 or self._exclusive
