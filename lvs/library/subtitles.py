"""Sidecar subtitles: ``Movie.srt``, ``Movie.vtt`` and ``Movie.<lang>.srt|vtt`` next to
``Movie.mp4`` become ``<track>`` elements, served as WebVTT (SRT is converted on the fly).

Pure filesystem code: only the video's own folder is listed (no recursion, no other folders).
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lvs.library.walk import VIDEO_EXTENSIONS

__all__ = [
    "MAX_SUBTITLE_BYTES",
    "Sidecar",
    "SubtitleError",
    "find_sidecars",
    "language_label",
    "load_vtt",
    "read_text",
    "srt_to_vtt",
    "vtt_normalise",
]

MAX_SUBTITLE_BYTES = 5 * 1024 * 1024
"""Subtitle files larger than this are refused (a real one is rarely over 300 KB)."""

SubtitleKind = Literal["srt", "vtt"]
_KINDS: dict[str, SubtitleKind] = {".srt": "srt", ".vtt": "vtt"}

# 2–3 letter language, then optional BCP-47-ish subtags: pt-BR, zh-Hans, sr-Latn-RS, es-419.
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")

LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "bg": "Bulgarian",
    "ca": "Catalan",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "hu": "Hungarian",
    "id": "Indonesian",
    "is": "Icelandic",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "ms": "Malay",
    "nb": "Norwegian Bokmål",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sr": "Serbian",
    "sv": "Swedish",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "zh": "Chinese",
}
# ISO 639-2 codes (both the bibliographic and terminology forms) seen in file names.
_THREE_LETTER = {
    "ara": "ar", "bul": "bg", "cat": "ca", "cze": "cs", "ces": "cs", "dan": "da", "ger": "de",
    "deu": "de", "gre": "el", "ell": "el", "eng": "en", "spa": "es", "est": "et", "per": "fa",
    "fas": "fa", "fin": "fi", "fre": "fr", "fra": "fr", "heb": "he", "hin": "hi", "hrv": "hr",
    "hun": "hu", "ind": "id", "ice": "is", "isl": "is", "ita": "it", "jpn": "ja", "kor": "ko",
    "lit": "lt", "lav": "lv", "may": "ms", "msa": "ms", "nob": "nb", "dut": "nl", "nld": "nl",
    "nor": "no", "pol": "pl", "por": "pt", "rum": "ro", "ron": "ro", "rus": "ru", "slo": "sk",
    "slk": "sk", "slv": "sl", "srp": "sr", "swe": "sv", "tha": "th", "tur": "tr", "ukr": "uk",
    "vie": "vi", "chi": "zh", "zho": "zh",
}  # fmt: skip


class SubtitleError(Exception):
    """A subtitle file that cannot be served (too big, unreadable)."""


@dataclass(frozen=True, slots=True)
class Sidecar:
    path: Path
    lang: str | None
    label: str
    kind: Literal["srt", "vtt"]


def _normalise_lang(tag: str) -> str:
    """``pt_br`` → ``pt-BR``, ``ZH-hans`` → ``zh-Hans`` (BCP 47 casing, hyphens)."""
    first, *rest = tag.replace("_", "-").split("-")
    parts = [first.lower()]
    for sub in rest:
        if len(sub) == 2 and sub.isalpha():
            parts.append(sub.upper())
        elif len(sub) == 4 and sub.isalpha():
            parts.append(sub.title())
        else:
            parts.append(sub.lower())
    return "-".join(parts)


def language_label(lang: str | None) -> str:
    """A human name for a language tag: ``en`` → English, ``pt-BR`` → Portuguese (pt-BR)."""
    if not lang:
        return "Subtitles"
    primary = lang.split("-", 1)[0].lower()
    name = LANGUAGE_NAMES.get(_THREE_LETTER.get(primary, primary))
    if name is None:
        return lang
    return name if "-" not in lang else f"{name} ({lang})"


def find_sidecars(video: Path) -> list[Sidecar]:
    """Subtitle files for ``video`` in its own folder, no-language first, then by language.

    Accepted: ``<stem>.srt``, ``<stem>.vtt`` and ``<stem>.<LANG>.srt|vtt`` (any case of the
    extension), where LANG looks like a language tag. ``Movie 2.srt`` and ``Movie.part2.srt``
    are not ``Movie.mp4``'s, nor is ``Movie.en.srt`` when a ``Movie.en.mp4`` sits next to it.
    Hidden files and folders are ignored; a missing or unreadable folder gives ``[]``."""
    stem = video.stem
    folder = video.parent
    try:
        with os.scandir(folder) as it:
            entries = [(e.name, e.is_file()) for e in it if not e.name.startswith(".")]
    except OSError:
        return []
    video_stems = {
        os.path.splitext(name)[0]
        for name, _ in entries
        if os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS
    }
    found: list[Sidecar] = []
    for name, is_file in entries:
        base, ext = os.path.splitext(name)
        kind = _KINDS.get(ext.lower())
        if kind is None or not is_file:
            continue
        lang: str | None
        if base == stem:
            lang = None
        elif base.startswith(stem + ".") and _LANG_RE.match(base[len(stem) + 1 :]):
            if base in video_stems:  # "Movie.en.srt" next to "Movie.en.mp4" is that video's
                continue
            lang = _normalise_lang(base[len(stem) + 1 :])
        else:
            continue
        found.append(Sidecar(folder / name, lang, language_label(lang), kind))
    found.sort(key=lambda s: (s.lang is not None, (s.lang or "").lower(), s.kind, s.path.name))
    labels = [s.label for s in found]
    return [
        Sidecar(s.path, s.lang, f"{s.label} ({s.kind.upper()})", s.kind)
        if labels.count(s.label) > 1
        else s
        for s in found
    ]


# -- reading -----------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def read_text(path: Path, max_bytes: int = MAX_SUBTITLE_BYTES) -> str:
    """The file's text: by its BOM (UTF-8, UTF-16 LE/BE), else UTF-8, else cp1252, else
    latin-1 (which always decodes). Files over ``max_bytes`` raise ``SubtitleError``."""
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SubtitleError(f"{path.name} is larger than {max_bytes} bytes")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                break  # a lying BOM: fall through to the guesses below
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


# -- conversion --------------------------------------------------------------------------------

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING_RE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(.*)$")
_ASS_TAG_RE = re.compile(r"\{\\[^}]*\}")
_FONT_TAG_RE = re.compile(r"</?font\b[^>]*>", re.IGNORECASE)
# "<" that does not open one of the tags WebVTT understands is text, and must be escaped.
_STRAY_LT_RE = re.compile(r"<(?!/?(?:[ibu]|c|v|lang|ruby|rt)\b[^<>]*>|\d+:\d{2}[:.])")
_STRAY_AMP_RE = re.compile(r"&(?!(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);)")
_ARROW_RE = re.compile(r"-{2,}>")


def _stamp(h: str | None, m: str, s: str, frac: str) -> str | None:
    minutes, seconds = int(m), int(s)
    if minutes > 59 or seconds > 59:
        return None
    millis = int(frac.ljust(3, "0"))
    return f"{int(h or 0):02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _timing(line: str) -> str | None:
    """``00:01:02,345 --> 00:01:03,000 X1:...`` → ``00:01:02.345 --> 00:01:03.000``."""
    match = _TIMING_RE.match(line)
    if match is None:
        return None
    g = match.groups()
    start, end = _stamp(*g[0:4]), _stamp(*g[4:8])
    if start is None or end is None:
        return None
    return f"{start} --> {end}"  # SRT position coordinates (X1:… Y2:…) are dropped


def _cue_text(line: str) -> str:
    line = _ASS_TAG_RE.sub("", line)
    line = _FONT_TAG_RE.sub("", line)
    line = _STRAY_AMP_RE.sub("&amp;", line)
    line = _STRAY_LT_RE.sub("&lt;", line)
    return _ARROW_RE.sub("->", line).rstrip()


def _lines(text: str) -> list[str]:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def srt_to_vtt(text: str) -> str:
    """Convert SubRip to WebVTT. Tolerates CRLF, missing or stray cue numbers, extra blank
    lines, one-digit hours and coordinates after the timings; drops ``{\\an8}``-style tags and
    ``<font>``; keeps ``<i>``, ``<b>`` and ``<u>``. No cue text line ever contains ``-->``."""
    if _is_vtt(text):
        return vtt_normalise(text)
    cues: list[tuple[str, list[str]]] = []
    current: list[str] | None = None  # text lines of the cue being read
    loose: list[str] = []  # non-blank lines seen after a blank line, outside any cue
    for raw in _lines(text):
        timing = _timing(raw)
        if timing is not None:
            if loose and loose[-1].strip().isdigit():
                loose.pop()  # the cue number
            if cues and loose:
                cues[-1][1].extend(loose)  # text that followed a stray blank line
            loose = []
            current = []
            cues.append((timing, current))
        elif not raw.strip():
            current = None
        elif current is not None:
            current.append(raw)
        else:
            loose.append(raw)
    if cues and loose:
        cues[-1][1].extend(loose)
    blocks = []
    for timing, lines in cues:
        body = [t for t in (_cue_text(line) for line in lines) if t.strip()]
        if body:
            blocks.append("\n".join([timing, *body]))
    return "WEBVTT\n\n" + "".join(block + "\n\n" for block in blocks)


def _is_vtt(text: str) -> bool:
    head = text.lstrip("\ufeff")
    return head.startswith("WEBVTT") and (len(head) == 6 or head[6] in " \t\r\n")


def vtt_normalise(text: str) -> str:
    """A WebVTT file as is when it starts with the ``WEBVTT`` signature; otherwise one with the
    signature added (or, when its timings use SRT's commas, converted as SRT)."""
    if _is_vtt(text):
        return text.lstrip("\ufeff")
    for line in _lines(text):
        if _TIMING_RE.match(line):
            if "," in line.split("-->", 1)[0]:
                return srt_to_vtt(text)
            break
    return "WEBVTT\n\n" + text.lstrip("\ufeff")


def load_vtt(sidecar: Sidecar) -> str:
    """The sidecar as WebVTT text, ready to serve as ``text/vtt``."""
    text = read_text(sidecar.path)
    return srt_to_vtt(text) if sidecar.kind == "srt" else vtt_normalise(text)
