"""Where templates, static files and migrations live.

In a source checkout (and an editable install) they are the top-level folders of the repository;
in a wheel they ship inside the package as ``lvs/_data/...`` (see pyproject's force-include).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["resource_dir"]

_PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    """The folder named ``templates``, ``static`` or ``migrations``."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"lvs is installed without its {name!r} folder")
