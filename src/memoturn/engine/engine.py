"""The node's engine: namespaces, profiles, the open-profile cache, and the in-process API.

``memoturn.open(directory)`` returns an :class:`Engine`. Every profile operation goes
through :meth:`Engine.profile`, which names exactly one profile (and branch): no engine call
reads or writes two profiles.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memoturn.core.clock import Clock, SystemClock
from memoturn.core.errors import NotFound, TxidTimeout
from memoturn.core.model import Branch, Checkpoint, RewindResult
from memoturn.core.names import check_name, database_id
from memoturn.embed import Embedder, default_embedder
from memoturn.profile.profile import Profile

MAIN = "main"


class Engine:
    """Namespaces > profiles > branches, each profile-branch its own SQLite database.

    Thread-safe: the REST edge calls it from a thread pool.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        min_txid_wait_s: float = 5.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.embedder = embedder or default_embedder()
        self.clock = clock or SystemClock()
        self.min_txid_wait_s = min_txid_wait_s
        self._profiles_dir = self.data_dir / "profiles"
        self._ns_dir = self.data_dir / "namespaces"
        self._profiles_dir.mkdir(parents=True, exist_ok=True)
        self._ns_dir.mkdir(parents=True, exist_ok=True)
        self._open: dict[tuple[str, str], Profile] = {}
        self._lock = threading.RLock()
        self._closed = False

    # -- namespaces and profiles ----------------------------------------------------------

    def create_namespace(self, name: str) -> bool:
        """Create a namespace; ``False`` if it already existed."""
        check_name(name, "namespace")
        path = self._ns_dir / name
        try:
            path.mkdir()
        except FileExistsError:
            return False
        return True

    def list_namespaces(self) -> list[str]:
        return sorted(p.name for p in self._ns_dir.iterdir() if p.is_dir())

    def _require_namespace(self, ns: str) -> None:
        check_name(ns, "namespace")
        if not (self._ns_dir / ns).is_dir():
            raise NotFound(f"no namespace {ns!r}", hint="create it first (root token)")

    def create_profile(self, ns: str, name: str) -> bool:
        """Provision a profile; ``False`` if it already existed. No database file is made
        until the profile is first used."""
        self._require_namespace(ns)
        check_name(name, "profile")
        try:
            (self._ns_dir / ns / name).mkdir()
        except FileExistsError:
            return False
        return True

    def list_profiles(self, ns: str) -> list[str]:
        self._require_namespace(ns)
        return sorted(p.name for p in (self._ns_dir / ns).iterdir() if p.is_dir())

    def _require_profile(self, ns: str, name: str) -> None:
        self._require_namespace(ns)
        check_name(name, "profile")
        if not (self._ns_dir / ns / name).is_dir():
            raise NotFound(f"no profile {name!r} in namespace {ns!r}")

    def delete_profile(self, ns: str, name: str) -> None:
        """Delete a profile and all its branches."""
        with self._lock:
            self._require_profile(ns, name)
            db_id = database_id(ns, name)
            for key in [k for k in self._open if k[0] == db_id]:
                self._open.pop(key).close()
            folder = self._profiles_dir / db_id
            if folder.exists():
                shutil.rmtree(folder)
            (self._ns_dir / ns / name).rmdir()

    # -- deployment-wide secrets and token epochs -------------------------------------------

    def deployment_secret(self, name: str, size: int = 32) -> bytes:
        """A random secret shared by every node of this deployment (e.g. the token-signing
        key seed), created on first use. It lives with the deployment's storage, not with
        one node, so a fresh node accepts tokens minted before it existed."""
        check_name(name, "secret name")
        path = self.data_dir / "deployment" / f"{name}.key"
        path.parent.mkdir(exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(size))
            f.flush()
            os.fsync(f.fileno())
        return path.read_bytes()

    def token_epoch(self, ns: str, name: str) -> int:
        """The profile's token epoch: tokens minted under an older epoch are revoked."""
        self._require_profile(ns, name)
        path = self._ns_dir / ns / name / "token_epoch"
        return int(path.read_text()) if path.exists() else 0

    def bump_token_epoch(self, ns: str, name: str) -> int:
        """Revoke every token of one profile; returns the new epoch."""
        with self._lock:
            epoch = self.token_epoch(ns, name) + 1
            (self._ns_dir / ns / name / "token_epoch").write_text(str(epoch))
            return epoch

    # -- checkpoints, rewind, branches (the storage engine implements these) ---------------

    def create_checkpoint(
        self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN
    ) -> Checkpoint:
        """Pin the branch's current txid under a name (metadata only)."""
        raise NotImplementedError("checkpoints arrive with the storage engine")

    def list_checkpoints(self, ns: str, name: str, *, branch: str = MAIN) -> list[Checkpoint]:
        raise NotImplementedError("checkpoints arrive with the storage engine")

    def delete_checkpoint(self, ns: str, name: str, checkpoint: str, *, branch: str = MAIN) -> None:
        raise NotImplementedError("checkpoints arrive with the storage engine")

    def rewind(
        self,
        ns: str,
        name: str,
        *,
        branch: str = MAIN,
        checkpoint: str | None = None,
        txid: int | None = None,
    ) -> RewindResult:
        """Atomically return the branch to a checkpoint or txid; the state just before is
        kept as an automatic checkpoint (``undo_checkpoint``)."""
        raise NotImplementedError("rewind arrives with the storage engine")

    def create_branch(
        self,
        ns: str,
        name: str,
        branch: str,
        *,
        from_branch: str = MAIN,
        from_checkpoint: str | None = None,
        from_txid: int | None = None,
        ttl_s: int | None = None,
    ) -> Branch:
        """Fork a branch (metadata only) from the head, a txid or a checkpoint of
        ``from_branch``; ``ttl_s`` makes it a burner branch that GC removes."""
        raise NotImplementedError("branches arrive with the storage engine")

    def list_branches(self, ns: str, name: str) -> list[Branch]:
        raise NotImplementedError("branches arrive with the storage engine")

    def delete_branch(self, ns: str, name: str, branch: str) -> None:
        raise NotImplementedError("branches arrive with the storage engine")

    # -- one profile ----------------------------------------------------------------------

    def profile(
        self, ns: str, name: str, branch: str = MAIN, *, min_txid: int | None = None
    ) -> ProfileHandle:
        """A handle on one profile-branch. ``min_txid`` waits (bounded) until that txid is
        visible here, else raises :class:`TxidTimeout`."""
        self._require_profile(ns, name)
        check_name(branch, "branch")
        if branch != MAIN:
            raise NotFound(f"no branch {branch!r} of profile {ns}--{name}")
        handle = ProfileHandle(self, (database_id(ns, name), branch))
        if min_txid is not None:
            self._wait_for_txid(handle, min_txid)
        return handle

    def _wait_for_txid(self, handle: ProfileHandle, min_txid: int) -> None:
        deadline = time.monotonic() + self.min_txid_wait_s
        while self._acquire(handle.key).txid < min_txid:
            if time.monotonic() >= deadline:
                raise TxidTimeout(
                    f"txid {min_txid} is not visible on this node within "
                    f"{self.min_txid_wait_s:g} s",
                    hint="retry; if it persists the write may not have been acknowledged",
                )
            time.sleep(0.01)

    def _acquire(self, key: tuple[str, str]) -> Profile:
        with self._lock:
            prof = self._open.get(key)
            if prof is None:
                db_id, branch = key
                folder = self._profiles_dir / db_id
                folder.mkdir(exist_ok=True)
                prof = Profile(folder / f"{branch}.db", self.embedder, clock=self.clock)
                self._open[key] = prof
            return prof

    def close(self) -> None:
        with self._lock:
            for prof in self._open.values():
                prof.close()
            self._open.clear()
            self._closed = True

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProfileHandle:
    """Forwards every :class:`~memoturn.profile.profile.Profile` operation to the live
    profile-branch, (re)opening it as needed, so a handle stays valid while the engine
    hibernates and wakes the profile behind it."""

    def __init__(self, engine: Engine, key: tuple[str, str]) -> None:
        self._engine = engine
        self.key = key

    @property
    def txid(self) -> int:
        return self._engine._acquire(self.key).txid

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or not callable(getattr(Profile, name, None)):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return getattr(self._engine._acquire(self.key), name)(*args, **kwargs)

        call.__name__ = name
        call.__doc__ = getattr(Profile, name).__doc__
        return call

    def __repr__(self) -> str:
        return f"<ProfileHandle {self.key[0]}@{self.key[1]}>"


if TYPE_CHECKING:
    # For type checkers the handle offers exactly the Profile operations.
    ProfileHandle = Profile  # type: ignore[misc,assignment]
