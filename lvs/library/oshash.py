"""The OpenSubtitles / Stash "oshash" of a file.

hash = (file size + sum of the little-endian uint64 words of the first 64 KiB
+ sum of the little-endian uint64 words of the last 64 KiB) mod 2**64,
formatted as 16 lowercase hex digits.

For files smaller than 64 KiB the chunk is the size rounded down to a multiple
of 8; head and tail are then the first and the last ``chunk`` bytes (the same
region when the size is a multiple of 8), exactly like Stash's Go code. Stash
refuses files of 8 bytes or fewer; here only empty files are refused and tiny
files (< 8 bytes, chunk 0) hash to their size.
"""

from __future__ import annotations

import os
import struct
import sys

__all__ = ["CHUNK_SIZE", "EmptyFileError", "oshash", "oshash_fd"]

CHUNK_SIZE = 64 * 1024
_MASK = (1 << 64) - 1
_NATIVE_LITTLE = sys.byteorder == "little"
_HAVE_PREAD = hasattr(os, "pread")


class EmptyFileError(ValueError):
    """The file is empty, so it has no meaningful oshash."""


def _sum_words(buf: bytes) -> int:
    """Sum of the little-endian uint64 words of ``buf`` (len must be a multiple of 8)."""
    if not buf:
        return 0
    if _NATIVE_LITTLE:
        return sum(memoryview(buf).cast("Q"))
    return sum(struct.unpack(f"<{len(buf) // 8}Q", buf))


def _read_exact(fd: int, size: int, offset: int) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < size:
        if _HAVE_PREAD:
            chunk = os.pread(fd, size - got, offset + got)
        else:  # pragma: no cover - Windows has no pread
            os.lseek(fd, offset + got, os.SEEK_SET)
            chunk = os.read(fd, size - got)
        if not chunk:
            raise OSError(f"file shrank while hashing (wanted {size} bytes at {offset})")
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def oshash_fd(fd: int, size: int) -> str:
    """oshash of an open file descriptor whose size is ``size`` bytes."""
    if size <= 0:
        raise EmptyFileError("cannot hash an empty file")
    chunk = CHUNK_SIZE if size >= CHUNK_SIZE else (size // 8) * 8
    head = _read_exact(fd, chunk, 0)
    tail = head if size == chunk else _read_exact(fd, chunk, size - chunk)
    total = size + _sum_words(head) + _sum_words(tail)
    return f"{total & _MASK:016x}"


def oshash(path: str | os.PathLike[str]) -> str:
    """oshash of the file at ``path``; raises :class:`EmptyFileError` for empty files.

    OSError (missing file, permission denied, ...) propagates unchanged.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return oshash_fd(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
