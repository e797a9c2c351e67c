"""startup: from spawning ``lvs serve --no-scan`` to its first 200 on GET / (100 000 videos)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench import case_pages
from bench.common import Context, Goal, Metric, fmt, print_metrics
from bench.servers import LvsServer, Nginx, lvs_command, lvs_env

NAME = "startup"
SUMMARY = "spawn `lvs serve --no-scan` -> first 200 on / (pages database), against nginx"


IMPORT_TIMER = (
    "import time; t = time.perf_counter(); import lvs.app; print(time.perf_counter() - t)"
)


def _time_command(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Wall time of ``cmd`` (start to exit) and its output, run from ``cwd`` (not the
    repository: ``python -c`` imports from the current folder first)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return took, done.stdout


def run(ctx: Context) -> list[Goal]:
    data, library = case_pages.prepare(ctx)
    runs = max(ctx.rounds, ctx.pick(5, 3))
    print(
        f"database: the pages case's {case_pages.library_size(ctx)} videos\n"
        f"lvs: spawn `{' '.join(lvs_command())} serve --no-scan`, poll GET / every 10 ms until "
        f"200 (this includes its migration check at startup), then stop it\n"
        f"reference: spawn nginx (worker_processes {Nginx.WORKERS}) until its first 200; "
        f"`python -c pass` next to `python -c 'import lvs.app'` (start to exit, which includes "
        f"the interpreter's teardown; the import alone is timed inside the process too)\n"
        f"extra: `lvs db upgrade --no-prompt` on the database already at head\n"
        f"runs: {runs}, interleaved"
    )
    serve = Metric("spawn -> first 200 on /", "s", ref_name="nginx")
    imports = Metric("python -c 'import lvs.app', wall", "s", ref_name="python -c pass")
    inside = Metric("import lvs.app, in the process", "s")
    upgrade = Metric("lvs db upgrade (at head)", "s")
    env = lvs_env(data, library)
    for run_no in range(1, runs + 1):
        with LvsServer(data, library) as lvs:
            serve.lvs.append(lvs.ready_after)
        with Nginx("") as nginx:
            serve.ref.append(nginx.ready_after)
        wall, out = _time_command([sys.executable, "-c", IMPORT_TIMER], env, data)
        imports.lvs.append(wall)
        inside.lvs.append(float(out.strip().splitlines()[-1]))
        imports.ref.append(_time_command([sys.executable, "-c", "pass"], env, data)[0])
        upgrade.lvs.append(
            _time_command([*lvs_command(), "db", "upgrade", "--no-prompt"], env, data)[0]
        )
        print(
            f"run {run_no}: lvs {fmt(serve.lvs[-1])} s, nginx {fmt(serve.ref[-1])} s, "
            f"python -c 'import lvs.app' {fmt(imports.lvs[-1])} s (import alone "
            f"{fmt(inside.lvs[-1])} s), python -c pass {fmt(imports.ref[-1])} s, "
            f"db upgrade {fmt(upgrade.lvs[-1])} s",
            flush=True,
        )
    print_metrics("Results (medians over runs)", [serve, imports, inside, upgrade])
    return [
        Goal(
            "spawn -> first 200 ≤ 2 s",
            f"{fmt(serve.lvs_median)} s (nginx {fmt(serve.ref_median)} s)",
            serve.lvs_median <= 2,
        )
    ]
