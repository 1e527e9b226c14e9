"""Segment and snapshot encoding: round trips, and every corruption is caught."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memoturn.core.errors import Internal
from memoturn.storage.segment import CorruptSegment, Segment, Snapshot

PAGE_SIZES = [512, 1024, 4096, 65536]


def _page(rng: random.Random, page_size: int) -> bytes:
    # SQLite-like: some content, then free space (zeros), so compression has work to do.
    used = rng.randrange(page_size)
    return rng.randbytes(used) + bytes(page_size - used)


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    page_size = draw(st.sampled_from(PAGE_SIZES[:3]))
    db_size = draw(st.integers(1, 50))
    pgnos = draw(st.sets(st.integers(1, db_size), max_size=8))
    rng = random.Random(draw(st.integers(0, 2**32)))
    pages = {n: _page(rng, page_size) for n in pgnos}
    return Segment(
        txid=draw(st.integers(1, 2**63)),
        page_size=page_size,
        db_size_pages=db_size,
        pages=pages,
        epoch=draw(st.integers(0, 2**63)),
    )


@settings(max_examples=60, deadline=None)
@given(segments(), st.booleans())
def test_segment_round_trip(segment: Segment, compress: bool) -> None:
    assert Segment.decode(segment.encode(compress=compress)) == segment


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(PAGE_SIZES), st.integers(0, 6), st.integers(0, 2**32), st.booleans())
def test_snapshot_round_trip(page_size: int, pages: int, seed: int, compress: bool) -> None:
    rng = random.Random(seed)
    image = b"".join(_page(rng, page_size) for _ in range(pages))
    snap = Snapshot(txid=seed % 1000, page_size=page_size, db_size_pages=pages, image=image)
    assert Snapshot.decode(snap.encode(compress=compress)) == snap


def test_compressed_segment_is_smaller_for_sparse_pages() -> None:
    seg = Segment(1, 4096, 3, {1: b"x" * 100 + bytes(3996), 3: bytes(4096)})
    assert len(seg.encode(compress=True)) < len(seg.encode(compress=False)) // 10


def _small_encodings() -> list[tuple[str, bytes, type[Segment] | type[Snapshot]]]:
    rng = random.Random(7)
    seg = Segment(5, 512, 4, {2: _page(rng, 512), 4: _page(rng, 512)}, epoch=3)
    snap = Snapshot(5, 512, 2, _page(rng, 512) + _page(rng, 512), epoch=3)
    return [
        (f"{kind}-{'zlib' if z else 'raw'}", obj.encode(compress=z), type(obj))
        for kind, obj in (("segment", seg), ("snapshot", snap))
        for z in (True, False)
    ]


@pytest.mark.parametrize(("name", "data", "cls"), _small_encodings())
def test_every_single_bit_flip_is_detected(name: str, data: bytes, cls: type) -> None:
    buf = bytearray(data)
    for i in range(len(buf) * 8):
        buf[i // 8] ^= 1 << (i % 8)
        with pytest.raises(CorruptSegment):
            cls.decode(bytes(buf))
        buf[i // 8] ^= 1 << (i % 8)
    assert cls.decode(bytes(buf)) is not None  # restored buffer decodes again


@pytest.mark.parametrize(("name", "data", "cls"), _small_encodings())
def test_every_truncation_and_extension_is_detected(name: str, data: bytes, cls: type) -> None:
    for n in range(len(data)):
        with pytest.raises(CorruptSegment):
            cls.decode(data[:n])
    with pytest.raises(CorruptSegment):
        cls.decode(data + b"\x00")


def test_segment_from_snapshot_bytes_is_rejected_by_magic() -> None:
    snap = Snapshot(1, 512, 1, bytes(512)).encode()
    with pytest.raises(CorruptSegment, match="not a segment"):
        Segment.decode(snap)


def test_corrupt_segment_is_an_internal_error() -> None:
    assert issubclass(CorruptSegment, Internal)
    with pytest.raises(CorruptSegment) as info:
        Segment.decode(b"MTSG")
    assert info.value.status == 500
    assert "truncated" in info.value.hint


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_size": 1000},  # not a power of two
        {"page_size": 256},
        {"txid": 0},
        {"db_size_pages": 0, "pages": {}},
        {"pages": {3: bytes(512)}},  # past db size
        {"pages": {0: bytes(512)}},
        {"pages": {1: bytes(511)}},  # wrong page length
        {"epoch": -1},
    ],
)
def test_invalid_segments_are_refused(kwargs: dict) -> None:
    fields = {"txid": 1, "page_size": 512, "db_size_pages": 2, "pages": {1: bytes(512)}}
    with pytest.raises(CorruptSegment):
        Segment(**(fields | kwargs))


def test_snapshot_image_must_match_its_size() -> None:
    with pytest.raises(CorruptSegment):
        Snapshot(txid=1, page_size=512, db_size_pages=2, image=bytes(512))


def test_unknown_version_is_reported_as_such() -> None:
    data = bytearray(Segment(1, 512, 1, {1: bytes(512)}).encode(compress=False))
    data[4:6] = struct.pack(">H", 99)
    data[-4:] = struct.pack(">I", zlib.crc32(bytes(data[:-4])))
    with pytest.raises(CorruptSegment, match="version 99"):
        Segment.decode(bytes(data))
