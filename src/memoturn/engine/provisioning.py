"""The profiles of each namespace, as a log in the object store: provisioning is a metadata
write (DESIGN §3), and a batch of 10,000 sign-ups is one object.

Entry ``seq`` of a namespace (``catalog/{ns}/log/{seq:016d}.json``) names the profiles it
created and deleted. Entries are written create-if-absent, so seqs are dense and two nodes
never both write one: the loser reads the winner's entry and tries the next seq. Calls
that arrive on one node while an entry is being written wait and share the next one (group
commit). Every so many entries, the folded state is written beside the log
(``state.json``, with the seq it folds), so a node starting up reads that and the entries
after it, not the whole log.

A profile's own main manifest is created on first use, not at provisioning (the engine
asks :meth:`ProfileLog.exists`, then materialises it).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable

from memoturn.core.errors import Internal, Unavailable
from memoturn.storage import keys
from memoturn.storage.objectstore import ObjectNotFound, ObjectStore, PreconditionFailed

log = logging.getLogger("memoturn.engine")

Plan = Callable[[], tuple[list[str], list[str]]]
"""(created, deleted) of the next entry, planned from the state just read."""

FOLD_EVERY = 256
"""Write the folded state after this many entries."""
FRESH_S = 5.0
"""How long a positive "this profile exists" answer is trusted without reading the log's
next entry (a deletion on another node is seen within this bound, as before the log)."""


@dataclasses.dataclass
class _Pending:
    names: list[str]
    done: bool = False
    created: list[bool] = dataclasses.field(default_factory=list)
    error: BaseException | None = None


class _Namespace:
    def __init__(self) -> None:
        self.loaded = False
        self.seq = 0
        self.live: set[str] = set()
        self.sorted: list[str] | None = None
        self.read_at = 0.0  # monotonic time of the last read of the log's end
        self.read_lock = threading.Lock()
        self.commit_lock = threading.Lock()
        self.queue: list[_Pending] = []
        self.queue_lock = threading.Lock()

    def apply(self, doc: dict[str, object]) -> None:
        created, deleted = doc.get("created", []), doc.get("deleted", [])
        if not isinstance(created, list) or not isinstance(deleted, list):
            raise Internal("corrupt profile log entry", hint="restore it from a backup")
        self.live.difference_update(deleted)
        self.live.update(created)
        self.sorted = None


class ProfileLog:
    """Which profiles each namespace has, read from and appended to the store's log."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._spaces: dict[str, _Namespace] = {}
        self._lock = threading.Lock()

    def _ns(self, ns: str) -> _Namespace:
        with self._lock:
            space = self._spaces.get(ns)
            if space is None:
                space = self._spaces[ns] = _Namespace()
            return space

    # -- reading -----------------------------------------------------------------------

    def _catch_up(self, ns: str, space: _Namespace) -> None:
        """Read the entries written since this node last looked."""
        with space.read_lock:
            started = time.monotonic()
            if not space.loaded:
                self._load_state(ns, space)
            while True:
                try:
                    obj = self.store.get(keys.profile_log(ns, space.seq + 1), op="get_profile_log")
                except ObjectNotFound:
                    break
                space.apply(_decode(obj.data))
                space.seq += 1
            first_look, space.loaded = not space.loaded, True
            space.read_at = started
        if first_look and space.seq == 0:
            self._adopt_manifests(ns, space)

    def _adopt_manifests(self, ns: str, space: _Namespace) -> None:
        """A namespace with no log whose profiles were provisioned as manifests (before the
        log): write them as its first entry."""
        prefix = keys.manifests_of_namespace(ns)
        found = sorted(
            info.key[len(prefix) :].split("/")[0]
            for info in self.store.list(prefix, op="list_profiles")
            if info.key.endswith("/main.json")
        )
        if found:
            with space.commit_lock:
                self._append(ns, space, lambda: ([n for n in found if n not in space.live], []))

    def _load_state(self, ns: str, space: _Namespace) -> None:
        try:
            doc = _decode(self.store.get(keys.profile_log_state(ns), op="get_profile_log").data)
        except ObjectNotFound:
            return
        seq, names = doc.get("seq"), doc.get("profiles")
        if not isinstance(seq, int) or not isinstance(names, list):
            raise Internal("corrupt profile log state", hint="delete it; the log is complete")
        space.seq, space.live, space.sorted = seq, set(names), None

    def exists_cached(self, ns: str, name: str) -> bool:
        """True when :meth:`exists` would answer True without reading the store."""
        with self._lock:
            space = self._spaces.get(ns)
        return (
            space is not None
            and space.loaded
            and name in space.live
            and time.monotonic() - space.read_at < FRESH_S
        )

    def exists(self, ns: str, name: str) -> bool:
        space = self._ns(ns)
        if space.loaded and name in space.live and time.monotonic() - space.read_at < FRESH_S:
            return True
        self._catch_up(ns, space)
        return name in space.live

    def names(self, ns: str, *, after: str | None = None, limit: int | None = None) -> list[str]:
        """The namespace's profiles in name order (those after ``after``), as of now."""
        space = self._ns(ns)
        self._catch_up(ns, space)
        with space.read_lock:
            if space.sorted is None:
                space.sorted = sorted(space.live)
            ordered = space.sorted
        start = bisect.bisect_right(ordered, after) if after is not None else 0
        return ordered[start : None if limit is None else start + limit]

    # -- writing (group commit) ----------------------------------------------------------

    def create(self, ns: str, names: list[str]) -> list[bool]:
        """Provision ``names`` (distinct, checked): for each, ``False`` if it existed."""
        return self._submit(ns, _Pending(names)).created

    def delete(self, ns: str, name: str) -> None:
        """Record a profile's deletion (the caller has removed its objects)."""
        space = self._ns(ns)
        with space.commit_lock:
            self._append(ns, space, lambda: ([], [name] if name in space.live else []))

    def _submit(self, ns: str, mine: _Pending) -> _Pending:
        space = self._ns(ns)
        with space.queue_lock:
            space.queue.append(mine)
        while True:
            with space.commit_lock:  # whoever holds it writes every call queued so far
                if not mine.done:
                    with space.queue_lock:
                        batch, space.queue = space.queue, []
                    self._commit(ns, space, batch)
            if mine.done:
                if mine.error is not None:
                    raise mine.error
                return mine

    def _commit(self, ns: str, space: _Namespace, batch: list[_Pending]) -> None:
        def plan() -> tuple[list[str], list[str]]:
            claimed: set[str] = set()
            new: list[str] = []
            for p in batch:
                p.created = [n not in space.live and n not in claimed for n in p.names]
                for n, is_new in zip(p.names, p.created, strict=True):
                    if is_new:
                        claimed.add(n)
                        new.append(n)
            return new, []

        try:
            self._append(ns, space, plan)
        except BaseException as e:
            for p in batch:
                p.error = e
        for p in batch:
            p.done = True

    def _append(self, ns: str, space: _Namespace, plan: Plan) -> None:
        """Write the next entry, as ``plan()`` makes it from the state just read; on a lost
        race (another node wrote that seq) read it and plan again. Holds the commit lock.

        No read before the write: entries are numbered, so any entry this node has not seen
        sits at ``seq + 1`` or later, and the create-if-absent PUT of ``seq + 1`` fails while
        one exists. The lost race is the read."""
        if not space.loaded:
            self._catch_up(ns, space)
        for _ in range(50):
            created, deleted = plan()
            if not created and not deleted:
                return
            doc = {"created": created, "deleted": deleted}
            data = json.dumps(doc, separators=(",", ":")).encode()
            try:
                self.store.put(
                    keys.profile_log(ns, space.seq + 1), data, if_absent=True,
                    op="append_profile_log",
                )  # fmt: skip
            except PreconditionFailed:
                self._catch_up(ns, space)
                continue
            with space.read_lock:
                space.apply(doc)
                space.seq += 1
                seq = space.seq
                folded = sorted(space.live) if seq % FOLD_EVERY == 0 else None
            if folded is not None:
                self._fold(ns, seq, folded)
            return
        raise Unavailable(f"the profile log of {ns!r} keeps changing", hint="retry")

    def _fold(self, ns: str, seq: int, names: list[str]) -> None:
        # A shortcut only: without it (or with another node's older one) a node starting
        # up reads more entries. The entry itself is written; the call succeeds.
        try:
            self.store.put(
                keys.profile_log_state(ns),
                json.dumps({"seq": seq, "profiles": names}, separators=(",", ":")).encode(),
                op="fold_profile_log",
            )
        except Exception:
            log.warning("folding the profile log of %s at %d failed", ns, seq, exc_info=True)


def _decode(data: bytes) -> dict[str, object]:
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise Internal("corrupt profile log entry", hint="restore it from a backup")
    return doc
