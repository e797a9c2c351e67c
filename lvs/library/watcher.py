"""The filesystem side of keeping the library up to date: what kind of mount each folder is on
(network mounts deliver no change events), change events from ``watchfiles`` as hints, files
that must settle before they are read, and the one process that watches.

Nothing here touches the database: :mod:`lvs.services.watch` decides what a change means, with
the scanner.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lvs.library.walk import is_video_name

__all__ = [
    "NETWORK_FILESYSTEMS",
    "Folder",
    "LeaderLock",
    "SettleTracker",
    "classify_folders",
    "mount_of",
    "watch_changes",
]

#: Filesystems whose changes made elsewhere (another machine, the NAS itself) send no inotify
#: events here: such folders are rescanned periodically instead of watched.
NETWORK_FILESYSTEMS = frozenset(
    {
        "cifs",
        "smb3",
        "smbfs",
        "nfs",
        "nfs4",
        "fuse.sshfs",
        "sshfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.rclone",
        "davfs",
        "fuse.davfs2",
        "virtiofs",
    }
)
MOUNTINFO = Path("/proc/self/mountinfo")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )


def mount_of(path: Path, mountinfo: str | None = None) -> tuple[str, str] | None:
    """``(mount point, filesystem type)`` of the mount holding ``path`` (the longest mount
    point that contains it), from /proc/self/mountinfo; None where there is no such file."""
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = str(path)
    best: tuple[str, str] | None = None
    for line in mountinfo.splitlines():
        # id parent major:minor root mount-point options [optional...] - fstype source super
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        point = _unescape(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, right.split()[0])
    return best


@dataclass(frozen=True, slots=True)
class Folder:
    """One library folder and how changes in it are noticed."""

    path: str
    fstype: str
    watched: bool
    reason: str


def classify_folders(
    roots: Iterable[Path], *, rescan_minutes: int, mountinfo: str | None = None
) -> list[Folder]:
    folders: list[Folder] = []
    polled = (
        f"rescanned every {rescan_minutes} min"
        if rescan_minutes
        else "not rescanned (LVS_RESCAN_MINUTES=0): restart or run `lvs scan` after changes"
    )
    for root in roots:
        try:
            resolved = Path(root).expanduser().resolve()
        except (OSError, RuntimeError):
            resolved = Path(root)
        if not resolved.is_dir():
            folders.append(Folder(str(root), "?", False, "folder not found"))
            continue
        mount = mount_of(resolved, mountinfo)
        fstype = mount[1] if mount else "?"
        if fstype in NETWORK_FILESYSTEMS:
            folders.append(
                Folder(
                    str(resolved),
                    fstype,
                    False,
                    f"network mount ({fstype}) sends no change events: {polled}",
                )
            )
        else:
            folders.append(Folder(str(resolved), fstype, True, f"watched for changes ({fstype})"))
    return folders


class SettleTracker:
    """Files that changed recently: each is ready once its size and modification time have not
    changed for ``settle`` seconds (a file still being copied keeps changing)."""

    def __init__(self, settle: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle = settle
        self._clock = clock
        self._files: dict[str, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, since)

    def touch(self, path: str) -> None:
        """A change event (or a scan) saw ``path`` change: wait for it to settle again."""
        try:
            st = os.stat(path)
            self._files[path] = (st.st_size, st.st_mtime_ns, self._clock())
        except OSError:
            self._files[path] = (-1, -1, self._clock())

    def waiting(self) -> set[str]:
        return set(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def poll(self) -> list[str]:
        """Paths that have settled (or vanished) since they were touched; they leave the
        tracker. The others keep waiting, their clock restarted if they changed again."""
        now = self._clock()
        ready: list[str] = []
        for path, (size, mtime, since) in list(self._files.items()):
            try:
                st = os.stat(path)
            except OSError:
                del self._files[path]
                ready.append(path)  # gone: the scan marks it missing (or moved)
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                self._files[path] = (st.st_size, st.st_mtime_ns, now)
            elif now - since >= self.settle:
                del self._files[path]
                ready.append(path)
        return ready


def recently_modified(mtime_ns: int, settle: float, now: float | None = None) -> bool:
    """True for a modification time less than ``settle`` seconds ago (not in the future: a
    clock skewed file must not be held forever)."""
    age = (time.time() if now is None else now) - mtime_ns / 1e9
    return 0 <= age < settle


async def watch_changes(
    roots: list[str], stop: asyncio.Event, *, debounce_ms: int = 500
) -> AsyncIterator[set[tuple[str, str]]]:
    """Batches of ``(kind, path)`` changes below ``roots`` ("added", "modified", "deleted"),
    hidden names (temporary copies) left out. Events are hints: the scan decides."""
    from watchfiles import Change, awatch

    prefixes = [root.rstrip("/") + "/" for root in roots]

    def interesting(_change: Change, path: str) -> bool:
        for prefix in prefixes:
            if path.startswith(prefix):
                return not any(part.startswith(".") for part in path[len(prefix) :].split("/"))
        return False

    async for batch in awatch(
        *roots,
        stop_event=stop,
        watch_filter=interesting,
        debounce=debounce_ms,
        recursive=True,
        ignore_permission_denied=True,
    ):
        yield {(change.name, path) for change, path in batch}


def is_video_path(path: str) -> bool:
    return is_video_name(os.path.basename(path))


class LeaderLock:
    """Exactly one watcher per data folder: an exclusive ``fcntl`` lock on a file in it, held
    for the life of the process (the kernel drops it when the process dies, however it dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while leading
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
