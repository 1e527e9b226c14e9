"""One conformance suite for every ObjectStore backend (memory, localdir, S3 via moto).

The checks live in :class:`ObjectStoreConformance`; each test module that subclasses it as
``Test...`` runs them on its own ``store`` fixture (test_seaweedfs.py does, on SeaweedFS).
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from pathlib import Path

import pytest

from memoturn.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.memory import MemoryStore
from memoturn.storage.objectstore import (
    InvalidKey,
    InvalidStoreArgument,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoreError,
    StoreMisconfigured,
)
from memoturn.storage.s3 import S3Store
from memoturn.storage.url import open_store

S3_LIKE = {"s3", "seaweedfs"}
BAD_KEYS = ["", "/abs", "a/../b", "..", "a//b", "a/", ".", "a/./b", "a\\b", "a\x00b", "a\nb"]


def expect_failure_on(request: pytest.FixtureRequest, kinds: set[str], reason: str) -> None:
    """Mark the running test as a known (strict) failure on the backends ``kinds``."""
    if request.getfixturevalue("store_kind") in kinds:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def cas_increment(store: ObjectStore, key: str) -> bool:
    """One read-modify-write of a decimal counter; True if this CAS won."""
    current = store.get(key, op="read_counter")
    value = int(current.data) + 1
    try:
        store.put(key, str(value).encode(), if_match=current.etag, op="cas_counter")
    except PreconditionFailed:
        return False
    return True


class ObjectStoreConformance:
    """What every backend must do. Subclass as ``Test...`` with a ``store`` fixture."""

    def test_put_then_get_returns_bytes_and_etag(self, store: ObjectStore) -> None:
        etag = store.put("a/b/c", b"hello")
        got = store.get("a/b/c")
        assert (got.key, got.data, got.etag) == ("a/b/c", b"hello", etag)

    def test_empty_binary_and_larger_objects_round_trip(self, store: ObjectStore) -> None:
        blobs = {"empty": b"", "binary": bytes(range(256)) * 3, "large": b"x" * 1_500_000}
        for key, data in blobs.items():
            store.put(key, data)
        for key, data in blobs.items():
            assert store.get(key).data == data

    def test_unicode_and_punctuated_keys(self, store: ObjectStore) -> None:
        for key in ["dir/ünïcode ké y", "p/acme--alice/seg-00000001.ltx", "x/a+b=c&d"]:
            store.put(key, key.encode())
            assert store.get(key).data == key.encode()
        assert [i.key for i in store.list("dir/")] == ["dir/ünïcode ké y"]

    def test_overwrite_replaces_bytes_and_etag(self, store: ObjectStore) -> None:
        first = store.put("k", b"one")
        second = store.put("k", b"two")
        assert first != second
        got = store.get("k")
        assert (got.data, got.etag) == (b"two", second)

    def test_rewrite_of_same_bytes_gets_a_new_etag(
        self, store: ObjectStore, request: pytest.FixtureRequest
    ) -> None:
        expect_failure_on(request, S3_LIKE, "S3 etags are the MD5 of the bytes (documented)")
        assert store.put("k", b"same") != store.put("k", b"same")

    def test_head_describes_the_object(self, store: ObjectStore) -> None:
        etag = store.put("h/obj", b"12345", metadata={"write-id": "w1"})
        info = store.head("h/obj")
        assert info is not None
        assert (info.key, info.size, info.etag) == ("h/obj", 5, etag)
        assert info.metadata == {"write-id": "w1"}
        assert abs(info.last_modified - time.time()) < 300

    def test_if_absent_creates_once(self, store: ObjectStore) -> None:
        etag = store.put("m", b"first", if_absent=True)
        with pytest.raises(PreconditionFailed) as caught:
            store.put("m", b"second", if_absent=True)
        assert isinstance(caught.value, Conflict)
        got = store.get("m")
        assert (got.data, got.etag) == (b"first", etag)

    def test_if_absent_succeeds_again_after_delete(self, store: ObjectStore) -> None:
        store.put("m", b"first", if_absent=True)
        store.delete("m")
        store.put("m", b"again", if_absent=True)
        assert store.get("m").data == b"again"

    def test_if_match_replaces_only_the_current_version(self, store: ObjectStore) -> None:
        v1 = store.put("man", b"v1")
        v2 = store.put("man", b"v2", if_match=v1)
        with pytest.raises(PreconditionFailed):
            store.put("man", b"stale", if_match=v1)
        got = store.get("man")
        assert (got.data, got.etag) == (b"v2", v2)
        v3 = store.put("man", b"v3", if_match=v2)
        assert store.get("man").etag == v3

    def test_if_match_on_a_missing_object_fails(self, store: ObjectStore) -> None:
        etag = store.put("gone", b"x")
        store.delete("gone")
        with pytest.raises(PreconditionFailed):
            store.put("gone", b"y", if_match=etag)
        assert store.head("gone") is None

    def test_if_absent_and_if_match_together_are_rejected(self, store: ObjectStore) -> None:
        with pytest.raises(InvalidStoreArgument):
            store.put("k", b"x", if_absent=True, if_match="abc")

    def test_metadata_round_trips_and_is_replaced_by_each_put(self, store: ObjectStore) -> None:
        meta = {"write-id": "01JABCDEF", "epoch": "7"}
        store.put("md", b"x", metadata=meta, if_absent=True)
        assert store.get("md").metadata == meta
        store.put("md", b"y")
        assert store.get("md").metadata == {}

    @pytest.mark.parametrize(
        "metadata", [{"Write-Id": "x"}, {"write_id": "x"}, {"": "x"}, {"k": "é"}, {"k": "a\nb"}]
    )
    def test_bad_metadata_is_rejected(self, store: ObjectStore, metadata: dict) -> None:
        with pytest.raises(InvalidStoreArgument):
            store.put("md", b"x", metadata=metadata)
        assert store.head("md") is None

    def test_delete_is_idempotent(self, store: ObjectStore) -> None:
        store.put("d/1", b"x")
        store.delete("d/1")
        store.delete("d/1")
        store.delete("never/was")
        assert store.head("d/1") is None

    def test_delete_many_removes_all_and_ignores_missing(self, store: ObjectStore) -> None:
        for i in range(5):
            store.put(f"dm/{i}", b"x")
        store.delete_many([f"dm/{i}" for i in range(4)] + ["dm/missing"])
        assert [i.key for i in store.list("dm/")] == ["dm/4"]

    def test_list_by_prefix_is_sorted(self, store: ObjectStore) -> None:
        keys = ["b/2", "a/1", "a/10", "a/2", "a/b/c", "ab", "a", "c/x"]
        etags = {key: store.put(key, key.encode()) for key in keys}
        listed = list(store.list("a/"))
        assert [i.key for i in listed] == ["a/1", "a/10", "a/2", "a/b/c"]
        assert all(i.etag == etags[i.key] and i.size == len(i.key) for i in listed)
        assert [i.key for i in store.list("a")] == ["a", "a/1", "a/10", "a/2", "a/b/c", "ab"]
        assert [i.key for i in store.list("a/1")] == ["a/1", "a/10"]
        assert [i.key for i in store.list()] == sorted(keys)
        assert list(store.list("zzz/")) == []

    def test_get_range(self, store: ObjectStore) -> None:
        store.put("r", b"0123456789")
        assert store.get_range("r", 0, 4) == b"0123"
        assert store.get_range("r", 3, 2) == b"34"
        assert store.get_range("r", 8, 10) == b"89"
        assert store.get_range("r", 10, 5) == b""
        assert store.get_range("r", 2, 0) == b""
        with pytest.raises(InvalidStoreArgument):
            store.get_range("r", -1, 2)
        with pytest.raises(ObjectNotFound):
            store.get_range("missing", 0, 2)

    def test_missing_objects(self, store: ObjectStore) -> None:
        with pytest.raises(ObjectNotFound) as caught:
            store.get("no/such/key")
        assert isinstance(caught.value, NotFound)
        assert store.head("no/such/key") is None

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_bad_keys_are_rejected(self, store: ObjectStore, key: str) -> None:
        calls = [
            lambda: store.put(key, b"x"),
            lambda: store.get(key),
            lambda: store.head(key),
            lambda: store.get_range(key, 0, 1),
            lambda: store.delete(key),
        ]
        for call in calls:
            with pytest.raises(InvalidKey) as caught:
                call()
            assert isinstance(caught.value, ValueError)
            assert isinstance(caught.value, InvalidInput)
        assert list(store.list()) == []

    def test_concurrent_cas_counts_every_win_once(self, store: ObjectStore) -> None:
        store.put("counter", b"0", if_absent=True)
        wins: list[bool] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(12):
                won = cas_increment(store, "counter")
                with lock:
                    wins.append(won)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert int(store.get("counter").data) == sum(wins)
        assert 0 < sum(wins) <= len(wins) == 72

    def test_concurrent_creates_have_exactly_one_winner(self, store: ObjectStore) -> None:
        winners: list[int] = []

        def create(i: int) -> None:
            try:
                store.put("once", str(i).encode(), if_absent=True)
            except PreconditionFailed:
                return
            winners.append(i)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1
        assert store.get("once").data == str(winners[0]).encode()


class TestConformance(ObjectStoreConformance):
    """The suite on memory, localdir and S3 (moto)."""


# -- local directory only ------------------------------------------------------------


def _cas_worker(root: str, attempts: int, queue: multiprocessing.Queue) -> None:
    store = LocalDirStore(root)
    queue.put(sum(cas_increment(store, "counter") for _ in range(attempts)))


def test_localdir_cas_race_across_processes(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    LocalDirStore(root).put("counter", b"0", if_absent=True)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_cas_worker, args=(str(root), 40, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    wins = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert int(LocalDirStore(root).get("counter").data) == sum(wins) > 0


def test_localdir_survives_reopen_and_skips_temp_files(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    etag = store.put("p/x", b"data", metadata={"write-id": "w"})
    (tmp_path / "tmp" / "leftover.tmp").write_bytes(b"half a write")
    (tmp_path / "objects" / "p" / "stray-file").write_bytes(b"not an object")
    again = LocalDirStore(tmp_path)
    got = again.get("p/x")
    assert (got.data, got.etag, got.metadata) == (b"data", etag, {"write-id": "w"})
    assert [i.key for i in again.list()] == ["p/x"]


def test_localdir_removes_empty_directories_on_delete(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    store.put("deep/er/key", b"x")
    store.delete("deep/er/key")
    assert list((tmp_path / "objects").iterdir()) == []
    store.put("deep/er/key", b"y")  # and the directories come back
    assert store.get("deep/er/key").data == b"y"


def test_localdir_reserves_its_file_suffix(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        LocalDirStore(tmp_path).put("a.mto/b", b"x")


def test_localdir_os_errors_become_store_errors(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    (tmp_path / "tmp").rmdir()  # puts can no longer stage their bytes
    with pytest.raises(StoreError) as caught:
        store.put("k", b"x")
    assert isinstance(caught.value, Unavailable) and caught.value.retryable


# -- S3 only ---------------------------------------------------------------------------


def test_s3_missing_bucket_is_a_configuration_error(moto_s3) -> None:
    store = moto_s3.store("no-such-bucket")
    for call in (lambda: store.put("k", b"x"), lambda: store.get("k"), lambda: store.list()):
        with pytest.raises(StoreMisconfigured, match="bucket does not exist"):
            call()


def test_s3_unreachable_server_is_a_transient_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    store = S3Store(
        "b",
        endpoint=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="x",
        secret_access_key="y",
        allow_http=True,
    )
    with pytest.raises(StoreError) as caught:
        store.get("k")
    assert caught.value.retryable


# -- opening stores from URLs -------------------------------------------------------


def test_open_store_memory_and_file(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    local = open_store(f"file://{tmp_path}/data")
    assert isinstance(local, LocalDirStore) and local.root == tmp_path / "data"


def test_open_store_s3_reads_the_environment(moto_s3) -> None:
    bucket = moto_s3.new_bucket()
    store = open_store(f"s3://{bucket}/some/prefix", env=moto_s3.env())
    assert isinstance(store, S3Store) and store.prefix == "some/prefix"
    store.put("k", b"v")
    assert store.get("k").data == b"v"
    assert moto_s3.store(bucket).get("some/prefix/k").data == b"v"


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "memory", "file://relative/path", "file:relative", "s3:///nobucket"]
)
def test_open_store_rejects_unknown_forms_with_a_hint(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        open_store(url)
    assert "memory://" in caught.value.hint or "file:///" in caught.value.hint
