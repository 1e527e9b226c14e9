"""Restore a database from history: a snapshot plus the segments after it.

Restore(T) = the newest snapshot at or before T, then segments snapshot.txid+1 .. T applied
in order: each segment's pages written at their offsets (page n at ``(n - 1) * page_size``)
and the image resized to the segment's database size, so a transaction that shrank the
file is replayed exactly. The result must pass ``PRAGMA integrity_check`` before anyone
sees it.

The image is assembled in memory: profile databases are small (MBs), and one pass over a
bytearray is both the fastest way and the simplest to get right. Writing it to disk is then
one atomic replace; waking a read-only profile can skip the disk entirely
(:func:`open_image_in_memory`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable

import apsw

from memoturn.core.errors import Internal
from memoturn.storage.segment import CorruptSegment, Segment, Snapshot

__all__ = [
    "apply_to_file",
    "apply_to_image",
    "open_image_in_memory",
    "restore",
    "restore_runs",
    "restore_to_bytes",
    "take_snapshot",
]

# Bytes 18-19 of the database header: file format write/read version, 2 = WAL.
_FORMAT_VERSIONS = slice(18, 20)


def restore_to_bytes(snapshot: Snapshot | None, segments: Iterable[Segment]) -> bytes:
    """The database image after applying ``segments`` to ``snapshot`` (None = empty
    database at txid 0), checked with ``PRAGMA integrity_check``.

    ``segments`` must run contiguously from ``snapshot.txid + 1`` in txid order, with one
    page size and non-decreasing writer epochs; anything else raises
    :class:`~memoturn.storage.segment.CorruptSegment`. The image is exactly the database
    file as a full checkpoint would leave it (WAL mode marked in its header).
    """
    image, _txid = _apply(snapshot, segments)
    _integrity_check(image)
    return image


def restore(
    snapshot: Snapshot | None,
    segments: Iterable[Segment],
    target: str | os.PathLike[str],
) -> int:
    """Restore into the database file ``target`` and return the txid it now holds.

    The file is written beside ``target``, fsynced and atomically renamed over it, so a
    crash leaves either the old file or the complete new one. ``target`` must not have a
    non-empty ``-wal`` file: SQLite would replay that stale WAL over the restored pages.
    """
    target = os.fspath(target)
    wal = target + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        raise Internal(
            f"cannot restore over {target!r}: it has a non-empty WAL file",
            hint="close every connection to the old database (or remove its -wal file) first",
        )
    image, txid = _apply(snapshot, segments)
    _integrity_check(image)
    directory = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(target) + ".restore-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(image)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)
    return txid


def apply_to_file(target: str | os.PathLike[str], txid: int, segments: Iterable[Segment]) -> int:
    """Apply ``segments`` (contiguous from ``txid + 1``) in place to the database file
    ``target``, which holds exactly the state at ``txid`` and has no connection and no WAL.
    Returns the txid reached. Costs what the segments hold, not the database's size; the
    caller checks the result (a follower reopens it and reads its ``meta.txid``)."""
    fd = os.open(os.fspath(target), os.O_RDWR)
    try:
        header = os.pread(fd, 100, 0)
        page_size = int.from_bytes(header[16:18], "big") if len(header) == 100 else None
        page_size = 65536 if page_size == 1 else page_size
        epoch = -1
        for seg in segments:
            if seg.txid != txid + 1:
                raise CorruptSegment(f"segment txid {seg.txid} does not follow txid {txid}")
            if page_size is not None and seg.page_size != page_size:
                raise CorruptSegment(
                    f"segment txid {seg.txid} has page size {seg.page_size}, "
                    f"the database before it {page_size}"
                )
            if seg.epoch < epoch:
                raise CorruptSegment(
                    f"segment txid {seg.txid} has writer epoch {seg.epoch}, older than the "
                    f"epoch {epoch} before it"
                )
            page_size, epoch, txid = seg.page_size, seg.epoch, seg.txid
            os.ftruncate(fd, seg.db_size_pages * page_size)
            for pgno, data in seg.pages.items():
                os.pwrite(fd, data, (pgno - 1) * page_size)
    finally:
        os.close(fd)
    return txid


def apply_to_image(image: bytearray, txid: int, segments: Iterable[Segment]) -> int:
    """Apply ``segments`` (contiguous from ``txid + 1``) in place to ``image``, which holds
    exactly the state at ``txid``. Returns the txid reached (an in-memory copy catching up
    with the store, as :func:`apply_to_file` does for a file)."""
    page_size = int.from_bytes(image[16:18], "big") if len(image) >= 100 else None
    page_size = 65536 if page_size == 1 else page_size
    reached, _ = _apply_run(image, txid, page_size, segments)
    return reached


def open_image_in_memory(image: bytes | bytearray) -> apsw.Connection:
    """A connection to an in-memory copy of a database image (from a snapshot or
    :func:`restore_to_bytes`): the fastest way to wake a profile for reads.

    An image of a WAL-mode database says so in header bytes 18-19 (value 2); an
    in-memory database cannot use a WAL, and SQLite refuses to open it unless they say 1
    (rollback journal), so the copy is patched first.
    """
    conn = apsw.Connection(":memory:")
    if not image:
        return conn  # the empty database; deserialize() rejects zero bytes
    if image[_FORMAT_VERSIONS] == b"\x02\x02":
        image = bytearray(image)  # a copy: the caller's image stays as it was
        image[_FORMAT_VERSIONS] = b"\x01\x01"
    conn.deserialize("main", image)
    return conn


def take_snapshot(conn: apsw.Connection, txid: int, *, epoch: int = 0) -> Snapshot:
    """A snapshot of ``conn``'s main database, which the caller states is at ``txid``.

    Uses ``serialize``, which reads the committed state through SQLite (WAL included), so
    no checkpoint is needed. Call it between transactions, after capturing ``txid``.
    """
    if conn.in_transaction:
        raise Internal(
            "cannot snapshot inside a transaction: the image would include uncommitted pages",
            hint="commit or roll back first",
        )
    page_size = conn.execute("PRAGMA page_size").fetchall()[0][0]
    # serialize() of a database never written to invents a formatted page 1; history
    # says the database at txid 0 is empty (zero pages), so keep the two equal.
    empty = conn.execute("PRAGMA page_count").fetchall()[0][0] == 0
    image = b"" if empty else conn.serialize("main") or b""
    return Snapshot(txid, page_size, len(image) // page_size, image, epoch)


def _apply(snapshot: Snapshot | None, segments: Iterable[Segment]) -> tuple[bytes, int]:
    image = bytearray(snapshot.image) if snapshot is not None else bytearray()
    txid = snapshot.txid if snapshot is not None else 0
    page_size = snapshot.page_size if snapshot is not None and snapshot.db_size_pages else None
    txid, _ = _apply_run(image, txid, page_size, segments)
    return bytes(image), txid


def restore_runs(
    snapshot: Snapshot | None, runs: Iterable[Iterable[Segment]], *, check: bool = True
) -> bytearray:
    """Like :func:`restore_to_bytes` through a chain of runs, checked once at the end: the
    first run continues ``snapshot``; each later run continues the state the one before
    reached, from its own first txid (a rewind or a fork stands on an earlier txid).
    ``check=False`` skips ``PRAGMA integrity_check``: every page still comes from a
    segment or snapshot whose checksum, header and txid order were verified as it was
    decoded and applied (the wake path; tests, restores to disk and ``memoturn verify``
    keep the check).

    The image is one buffer, copied once from the snapshot's body and changed in place
    by each segment's pages; it is returned as it is (no final copy)."""
    image = bytearray(snapshot.image) if snapshot is not None else bytearray()
    txid: int | None = snapshot.txid if snapshot is not None else 0
    page_size = snapshot.page_size if snapshot is not None and snapshot.db_size_pages else None
    for run in runs:
        _, page_size = _apply_run(image, txid, page_size, run)
        txid = None
    if check:
        _integrity_check(image)
    return image


def _apply_run(
    image: bytearray, txid: int | None, page_size: int | None, segments: Iterable[Segment]
) -> tuple[int, int | None]:
    """Apply contiguous segments to ``image`` in place, from ``txid`` (None: from the
    first segment's). Returns the txid and page size reached."""
    epoch = -1
    for seg in segments:
        if txid is None:
            txid = seg.txid - 1
        if seg.txid != txid + 1:
            raise CorruptSegment(
                f"segment txid {seg.txid} does not follow txid {txid}: history has a gap "
                "or is out of order",
                hint="pass the segments after the snapshot, sorted by txid, with none missing",
            )
        if page_size is not None and seg.page_size != page_size:
            raise CorruptSegment(
                f"segment txid {seg.txid} has page size {seg.page_size}, "
                f"the database before it {page_size}"
            )
        if seg.epoch < epoch:
            raise CorruptSegment(
                f"segment txid {seg.txid} has writer epoch {seg.epoch}, older than the "
                f"epoch {epoch} before it",
                hint="a fenced (stale) writer's segment is in this history",
            )
        page_size, epoch, txid = seg.page_size, seg.epoch, seg.txid
        size = seg.db_size_pages * page_size
        if len(image) < size:
            image.extend(bytes(size - len(image)))
        else:
            del image[size:]
        for pgno, data in seg.pages.items():
            offset = (pgno - 1) * page_size
            image[offset : offset + page_size] = data
    return (txid if txid is not None else 0), page_size


def _integrity_check(image: bytes | bytearray) -> None:
    try:
        conn = open_image_in_memory(image)
        try:
            rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
    except apsw.Error as exc:
        raise CorruptSegment(
            f"restored database does not open: {exc}",
            hint="a segment or snapshot in this history is wrong",
        ) from exc
    if rows != ["ok"]:
        raise CorruptSegment(
            "restored database fails integrity_check: " + "; ".join(map(str, rows[:5])),
            hint="a segment or snapshot in this history is wrong",
        )


def _fsync_dir(directory: str) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
