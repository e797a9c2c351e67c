"""``python -m bench <case>|all [--quick] [--rounds N]``: run benchmarks, print tables of medians
and ratios against a reference run on the same machine, and append the raw output to
bench/RESULTS.md. See bench/README.md."""

from __future__ import annotations

import argparse
import importlib
import io
import shlex
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TextIO

from bench.common import Context, Goal, cache_root, machine_info, print_goals, print_table

CASES = ("stream", "pages", "writes", "scan", "startup", "load", "playback", "previews")
BY_HAND = ("lighthouse",)  # slow, and needs npm's lighthouse: run by name, not in "all"
RESULTS = Path(__file__).with_name("RESULTS.md")
RESULTS_HEADER = """\
# Benchmark results

Raw output of every `python -m bench` run, newest last, appended by the run itself (see
README.md in this folder for what each case measures and how to read it).
"""


class Tee(io.TextIOBase):
    """Writes to a terminal stream and keeps a copy."""

    def __init__(self, stream: TextIO, copy: io.StringIO) -> None:
        self.stream = stream
        self.copy = copy

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.copy.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def _case(name: str) -> ModuleType:
    return importlib.import_module(f"bench.case_{name}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of lvs against a reference (nginx, plain Python) on this machine.",
    )
    parser.add_argument("case", choices=[*CASES, *BY_HAND, "all"], help="which benchmark to run")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small data, short runs, 2 rounds: a smoke run of a case takes under a minute",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved lvs/reference rounds (default 3, 2 with --quick)",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not append the output to bench/RESULTS.md"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> bool:
    """Run the chosen cases; False if one of them crashed."""
    ctx = Context(
        quick=args.quick,
        rounds=max(1, args.rounds or (2 if args.quick else 3)),
        cache=cache_root(),
    )
    info = machine_info()
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"machine: nproc {info['nproc']}, {info['cpu']}, {info['kernel']}, "
        f"Python {info['python']}, loadavg {info['loadavg']}"
    )
    print(f"cache: {ctx.cache}  quick: {ctx.quick}  rounds: {ctx.rounds}")
    names = list(CASES) if args.case == "all" else [args.case]
    summary: list[list[str]] = []
    ok = True
    for name in names:
        module = _case(name)
        print()
        print(f"=== {name}: {module.SUMMARY}")
        start = time.perf_counter()
        try:
            goals: list[Goal] = module.run(ctx)
        except Exception:
            ok = False
            traceback.print_exc(file=sys.stdout)
            summary.append([name, "crashed", f"{time.perf_counter() - start:.0f} s"])
            continue
        print_goals(goals)
        met = sum(g.met for g in goals)
        took = time.perf_counter() - start
        print(f"({name} took {took:.0f} s; loadavg now {machine_info()['loadavg']})", flush=True)
        summary.append([name, f"{met}/{len(goals)} met", f"{took:.0f} s"])
    if len(names) > 1:
        print()
        print_table(["case", "goals", "took"], summary)
    return ok


def record(command: str, output: str) -> None:
    info = machine_info()
    entry = (
        f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `{command}`\n\n"
        f"machine: nproc {info['nproc']} · {info['cpu']} · {info['kernel']}\n\n"
        f"```text\n{output.rstrip()}\n```\n"
    )
    if not RESULTS.exists():
        RESULTS.write_text(RESULTS_HEADER)
    with RESULTS.open("a") as f:
        f.write(entry)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # SIGTERM (and SIGINT where a shell ignored it) stop the run through the same `finally`
    # blocks as Ctrl-C: every server is stopped and every temporary folder removed.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "bench", *argv])
    copy = io.StringIO()
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Tee(out, copy), Tee(err, copy)
    try:
        print(f"$ {command}")
        ok = run(args)
    except KeyboardInterrupt:
        print("interrupted")
        ok = False
    finally:
        sys.stdout, sys.stderr = out, err
        if not args.no_record:
            record(command, copy.getvalue())
            print(f"(output appended to {RESULTS})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
