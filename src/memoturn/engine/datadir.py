"""One node per data directory: ``DATA/node.lock`` holds the PID of the process that uses it.

A second node on the same directory would wipe the first one's cache at start (the cache is
disposable only for its own node), so it refuses to start instead. The lock is an advisory
``flock`` on the file: the kernel lets it go when the process ends, even by ``kill -9``, so a
file left behind by a dead node never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from memoturn.core.errors import Conflict
from memoturn.core.ids import new_id

LOCK_FILE = "node.lock"
NODE_ID_FILE = "node.id"


class DataDirInUse(Conflict):
    """Another process uses this data directory."""


class DataDirLock:
    """The lock on one data directory, held from construction until :meth:`release`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DataDirInUse(
                f"data dir {data_dir} in use by PID {holder or 'unknown'}",
                hint="stop that process, or give this one another --data directory",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def node_id(self) -> str:
        """This directory's node id (``DATA/node.id``), made on first use."""
        path = self.path.with_name(NODE_ID_FILE)
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            node = new_id()
            tmp = path.with_name(f".{NODE_ID_FILE}.{os.getpid()}")
            tmp.write_text(node + "\n")
            os.replace(tmp, path)
            return node

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor lets the flock go


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
