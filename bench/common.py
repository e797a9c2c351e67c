"""Shared helpers: the run context, the cache folder, statistics, tables and goals."""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Context",
    "Goal",
    "Metric",
    "cache_root",
    "fmt",
    "fmt_ratio",
    "free_port",
    "machine_info",
    "median",
    "percentile",
    "print_goals",
    "print_metrics",
    "print_table",
    "ready_marker",
]

MB = 1_000_000
MiB = 1024 * 1024


@dataclass(frozen=True)
class Context:
    """What every case gets: the size of the run and where to keep its data."""

    quick: bool
    rounds: int
    cache: Path

    def pick(self, full: Any, quick: Any) -> Any:
        """``quick`` under --quick, else ``full``."""
        return quick if self.quick else full


def cache_root() -> Path:
    """``$LVS_BENCH_CACHE``, else ``~/.cache/lvs-bench`` (never inside the repository)."""
    raw = os.environ.get("LVS_BENCH_CACHE", "").strip()
    root = Path(raw).expanduser() if raw else Path.home() / ".cache" / "lvs-bench"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def ready_marker(
    folder: Path, params: dict[str, Any]
) -> tuple[Callable[[], bool], Callable[[], None]]:
    """``(is_ready, mark_ready)`` for a cached data set built with ``params``: data whose build
    was interrupted, or that was built with other parameters, is built again."""
    marker = folder / ".ready.json"
    wanted = json.dumps(params, sort_keys=True)

    def is_ready() -> bool:
        try:
            return marker.read_text() == wanted
        except OSError:
            return False

    def mark_ready() -> None:
        marker.write_text(wanted)

    return is_ready, mark_ready


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def machine_info() -> dict[str, str]:
    """nproc, CPU model, kernel, Python and the load average when the run started."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "?"
    return {
        "nproc": str(os.cpu_count() or "?"),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "loadavg": load,
    }


# -- statistics ----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100), linear interpolation between closest ranks."""
    if not values:
        return math.nan
    data = sorted(values)
    k = (len(data) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def fmt(value: float | None) -> str:
    """Numbers for tables: about three significant digits, no exponent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    magnitude = abs(value)
    if magnitude >= 100 or value == 0:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_ratio(value: float) -> str:
    """``0.24×``, ``46.4×``; tiny ratios as ``1/3,516×`` rather than ``0.000×``."""
    if math.isnan(value):
        return "–"
    if 0 < value < 0.01:
        return f"1/{1 / value:,.0f}×"
    return f"{fmt(value)}×"


# -- tables --------------------------------------------------------------------------------------


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None
) -> None:
    """Plain aligned text; ``align`` has one letter per column, ``l`` or ``r`` (default: the
    first column left-aligned, the others right-aligned)."""
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if a == "l" else c.rjust(w)
            for a, c, w in zip(align, cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


@dataclass
class Metric:
    """One measured figure: a value per round for lvs and, when there is one, the reference."""

    name: str
    unit: str
    lvs: list[float] = field(default_factory=list)
    ref: list[float] = field(default_factory=list)
    ref_name: str = ""

    @property
    def lvs_median(self) -> float:
        return median(self.lvs)

    @property
    def ref_median(self) -> float:
        return median(self.ref)

    @property
    def ratio(self) -> float:
        if not self.ref or not self.lvs or self.ref_median == 0:
            return math.nan
        return self.lvs_median / self.ref_median


def print_metrics(title: str, metrics: Sequence[Metric]) -> None:
    """Medians over the rounds, the ratio lvs/reference and every round's value."""
    print()
    print(title)
    rows = []
    for m in metrics:
        rows.append(
            [
                m.name,
                m.unit,
                fmt(m.lvs_median),
                m.ref_name or ("–" if not m.ref else "reference"),
                fmt(m.ref_median) if m.ref else "–",
                fmt_ratio(m.ratio),
                " ".join(fmt(v) for v in m.lvs),
                " ".join(fmt(v) for v in m.ref) or "–",
            ]
        )
    print_table(
        ["metric", "unit", "lvs", "reference", "ref", "lvs/ref", "lvs rounds", "ref rounds"],
        rows,
        "llrlrrrr",
    )


@dataclass(frozen=True)
class Goal:
    text: str
    measured: str
    met: bool


def print_goals(goals: Sequence[Goal]) -> None:
    print()
    print("Goals")
    print_table(
        ["goal", "measured", "met"],
        [[g.text, g.measured, "yes" if g.met else "NO"] for g in goals],
        "lll",
    )
