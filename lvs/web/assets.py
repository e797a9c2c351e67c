"""Versioned URLs for static assets: ``asset("css/lvs.css")`` -> ``/static/css/lvs.css?v=<hash>``.

Static files are served with a one-year ``immutable`` Cache-Control, so every URL must change
when its file does: the version is a hash of the file's bytes, computed once per app.

``StaticFileSystem`` is the file system the static router reads: a name the operating system
cannot even look up (a NUL byte, a name longer than NAME_MAX, a file used as a folder) is simply
not there, a 404, instead of the OSError that Litestar turns into a 500."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from litestar.file_system import BaseLocalFileSystem
from litestar.types import PathType
from litestar.types.file_types import FileInfo

__all__ = ["AssetManifest", "StaticFileSystem"]


class StaticFileSystem(BaseLocalFileSystem):
    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        try:
            return await super().info(path, **kwargs)
        except (OSError, ValueError) as exc:  # ValueError: "embedded null byte"
            raise FileNotFoundError(str(path)[:200]) from exc


class AssetManifest:
    def __init__(self, static_dir: Path, prefix: str = "/static") -> None:
        self._dir = static_dir.resolve()
        self._prefix = prefix

    def url(self, name: str) -> str:
        return f"{self._prefix}/{name}?v={self._version(name)}"

    @cache  # noqa: B019  (one manifest per app; the cache lives as long as the app)
    def _version(self, name: str) -> str:
        path = (self._dir / name).resolve()
        if not path.is_relative_to(self._dir) or not path.is_file():
            raise FileNotFoundError(f"no static asset {name!r}")
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
