"""Sidecar subtitles (placeholder until the full module lands)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Sidecar", "SubtitleError", "find_sidecars", "load_vtt"]


class SubtitleError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Sidecar:
    path: Path
    lang: str | None
    label: str
    kind: Literal["srt", "vtt"]


def find_sidecars(video: Path) -> list[Sidecar]:
    return []


def load_vtt(sidecar: Sidecar) -> str:
    raise SubtitleError("not implemented")
