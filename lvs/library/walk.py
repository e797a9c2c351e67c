"""Find video files under library roots."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["VIDEO_EXTENSIONS", "VIDEO_TYPES", "FoundFile", "is_video_name", "walk_videos"]

#: Every extension lvs indexes, with the ``Content-Type`` its original bytes are served as.
#: Probing decides what really is a video; lvs.playback decides how each one plays.
VIDEO_TYPES: dict[str, str] = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".f4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".divx": "video/x-msvideo",
    ".ogv": "video/ogg",
    ".ts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".mts": "video/mp2t",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".vob": "video/mpeg",
    ".wmv": "video/x-ms-wmv",
    ".asf": "video/x-ms-asf",
    ".flv": "video/x-flv",
    ".3gp": "video/3gpp",
    ".3g2": "video/3gpp2",
}
VIDEO_EXTENSIONS = frozenset(VIDEO_TYPES)


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: Path
    root: Path
    size: int
    mtime_ns: int


def is_video_name(name: str) -> bool:
    """True for a visible file name with a known video extension (any case)."""
    if name.startswith("."):
        return False
    _, ext = os.path.splitext(name)
    return ext.lower() in VIDEO_EXTENSIONS


def walk_videos(roots: Iterable[Path]) -> Iterator[FoundFile]:
    """Yield every video file below each root, depth first, names sorted.

    * Roots are resolved to absolute paths; a root that is missing or not a
      directory yields nothing (the caller reports it).
    * Hidden files and folders (name starting with ".") are skipped.
    * Symlinks to directories are not followed (no loops); symlinks to files
      are followed and reported under the link's own path.
    * Unreadable folders and files that vanish mid-walk are skipped silently.
    * A file reachable from several (nested) roots is yielded once, for the
      first root that reaches it.
    """
    seen_files: set[str] = set()
    seen_dirs: set[tuple[int, int]] = set()
    for raw_root in roots:
        try:
            root = Path(raw_root).expanduser().resolve()
            root_st = os.stat(root)
        except (OSError, RuntimeError):
            continue
        if not stat.S_ISDIR(root_st.st_mode):
            continue
        yield from _walk_root(root, root_st, seen_files, seen_dirs)


def _walk_root(
    root: Path,
    root_st: os.stat_result,
    seen_files: set[str],
    seen_dirs: set[tuple[int, int]],
) -> Iterator[FoundFile]:
    stack: list[str] = [str(root)]
    seen_dirs.add((root_st.st_dev, root_st.st_ino))
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue  # permission denied, vanished, not a directory any more...
        subdirs: list[str] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    key = (st.st_dev, st.st_ino)
                    if key not in seen_dirs:  # bind mounts can make loops too
                        seen_dirs.add(key)
                        subdirs.append(entry.path)
                    continue
                if not is_video_name(name):
                    continue
                st = entry.stat()  # follows a file symlink; broken link -> OSError
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or entry.path in seen_files:
                continue
            seen_files.add(entry.path)
            yield FoundFile(
                path=Path(entry.path), root=root, size=st.st_size, mtime_ns=st.st_mtime_ns
            )
        stack.extend(reversed(subdirs))  # pop() then visits them in name order
