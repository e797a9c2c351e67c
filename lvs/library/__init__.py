"""Filesystem side of the library: walking folders, hashing, probing, thumbnails.

Pure functions with no database or web imports. ``lvs.library.demo`` (clip
generation) is not re-exported here; import it explicitly.
"""

from lvs.library.oshash import EmptyFileError, oshash, oshash_fd
from lvs.library.probe import ProbeError, ProbeResult, probe
from lvs.library.thumbnails import ThumbnailError, make_thumbnail, thumbnail_path
from lvs.library.walk import VIDEO_EXTENSIONS, FoundFile, walk_videos

__all__ = [
    "VIDEO_EXTENSIONS",
    "EmptyFileError",
    "FoundFile",
    "ProbeError",
    "ProbeResult",
    "ThumbnailError",
    "make_thumbnail",
    "oshash",
    "oshash_fd",
    "probe",
    "thumbnail_path",
    "walk_videos",
]
