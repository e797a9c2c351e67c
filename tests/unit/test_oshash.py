from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvs.library.oshash import EmptyFileError, oshash, oshash_fd

CHUNK = 64 * 1024
MASK = (1 << 64) - 1


def reference_oshash(data: bytes) -> str:
    """Straightforward transcription of Stash's Go implementation."""
    size = len(data)
    chunk = CHUNK if size >= CHUNK else (size // 8) * 8
    head = data[:chunk]
    tail = data[size - chunk :]
    total = size
    for buf in (head, tail):
        for i in range(0, len(buf), 8):
            (word,) = struct.unpack("<Q", buf[i : i + 8])
            total = (total + word) & MASK
    return f"{total:016x}"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("size", [1, 7, 8, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_all_zero_file_hashes_to_its_size(tmp_path: Path, size: int) -> None:
    path = write(tmp_path / "zeros.bin", bytes(size))
    assert oshash(path) == f"{size:016x}"


def test_repeating_pattern_large_file(tmp_path: Path) -> None:
    word = 0x0102030405060708
    size = 200 * 1024  # > 2 * 64 KiB, multiple of 8
    data = struct.pack("<Q", word) * (size // 8)
    path = write(tmp_path / "pattern.bin", data)
    words_per_chunk = CHUNK // 8
    expected = (size + 2 * words_per_chunk * word) % 2**64
    assert oshash(path) == f"{expected:016x}"


def test_small_file_sums_whole_file_twice(tmp_path: Path) -> None:
    # 3 words: 1, 2, 3 -> head = tail = whole file -> 2 * 6 + size.
    data = struct.pack("<3Q", 1, 2, 3)
    path = write(tmp_path / "small.bin", data)
    assert oshash(path) == f"{2 * 6 + 24:016x}"


def test_size_not_multiple_of_8_uses_last_whole_words_for_tail(tmp_path: Path) -> None:
    # 13 bytes: chunk = 8, head = bytes[0:8], tail = bytes[5:13] (Stash seeks from the end).
    data = bytes([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
    path = write(tmp_path / "odd.bin", data)
    head = 1
    tail = 2 << 56  # byte 12 is the most significant byte of the word at offset 5
    assert oshash(path) == f"{(13 + head + tail) % 2**64:016x}"


def test_large_file_not_multiple_of_8(tmp_path: Path) -> None:
    size = 2 * CHUNK + 3
    data = bytearray(size)
    data[0] = 5  # first word of the head = 5
    data[-1] = 1  # last byte = top byte of the last tail word
    path = write(tmp_path / "odd_large.bin", bytes(data))
    assert oshash(path) == f"{(size + 5 + (1 << 56)) % 2**64:016x}"


def test_wraps_around_at_2_64(tmp_path: Path) -> None:
    size = 2 * CHUNK
    path = write(tmp_path / "ff.bin", b"\xff" * size)
    words = 2 * (CHUNK // 8)
    expected = (size + words * (2**64 - 1)) % 2**64
    assert oshash(path) == f"{expected:016x}"
    assert len(oshash(path)) == 16


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.mp4", b"")
    with pytest.raises(EmptyFileError):
        oshash(path)
    assert issubclass(EmptyFileError, ValueError)


def test_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        oshash(tmp_path / "nope.mp4")


def test_accepts_str_path_and_fd(tmp_path: Path) -> None:
    data = os.urandom(150_000)
    path = write(tmp_path / "r.bin", data)
    expected = reference_oshash(data)
    assert oshash(str(path)) == expected
    with path.open("rb") as fh:
        assert oshash_fd(fh.fileno(), len(data)) == expected


def test_rename_and_move_keep_the_hash(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    original = write(tmp_path / "holiday.mp4", data)
    before = oshash(original)
    renamed = original.rename(tmp_path / "Holiday 2024 (final).mp4")
    assert oshash(renamed) == before
    (tmp_path / "elsewhere").mkdir()
    moved = Path(shutil.move(renamed, tmp_path / "elsewhere" / "x.mkv"))
    assert oshash(moved) == before


@pytest.mark.parametrize("offset", [0, 100, CHUNK - 1, -1, -100, -CHUNK])
def test_changing_a_byte_in_head_or_tail_changes_the_hash(tmp_path: Path, offset: int) -> None:
    data = bytearray(os.urandom(400_000))
    path = write(tmp_path / "v.mp4", bytes(data))
    before = oshash(path)
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    assert oshash(path) != before


def test_middle_of_large_file_is_not_hashed(tmp_path: Path) -> None:
    # Documented property of oshash: only head, tail and size matter.
    data = bytearray(os.urandom(400_000))
    path = write(tmp_path / "v.mp4", bytes(data))
    before = oshash(path)
    data[200_000] ^= 0xFF
    path.write_bytes(bytes(data))
    assert oshash(path) == before


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(min_size=1, max_size=2048),
        st.builds(
            lambda n, fill, patch: (bytes([fill]) * n)[: n - len(patch)] + patch,
            st.integers(min_value=CHUNK - 64, max_value=3 * CHUNK),
            st.integers(min_value=0, max_value=255),
            st.binary(min_size=0, max_size=64),
        ),
    )
)
def test_matches_reference_implementation(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path / "h.bin", data)
    assert oshash(path) == reference_oshash(data)
