"""The ``lvs`` command: serve, scan, db ..., demo, settings."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lvs.settings import Settings, SettingsError, setting_docs

__all__ = ["main"]

log = logging.getLogger("lvs")

library_option = click.option(
    "--library",
    "-l",
    "libraries",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A video folder to index (repeatable). Default: LVS_LIBRARY, else a demo library.",
)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that rebuild ``settings`` in a child process or worker."""
    env = {
        "LVS_LIBRARY": os.pathsep.join(str(p) for p in settings.library),
        "LVS_DATA_DIR": str(settings.data_dir),
        "LVS_HOST": settings.host,
        "LVS_PORT": str(settings.port),
        "LVS_WORKERS": str(settings.workers),
    }
    if settings.db_path is not None:
        env["LVS_DB_PATH"] = str(settings.db_path)
    return env


def _with_demo_library(settings: Settings, console: Console) -> Settings:
    if settings.library:
        return settings
    from lvs.library.demo import generate_demo_library

    console.print(f"No library given: using the demo library in {settings.demo_dir}")
    generate_demo_library(settings.demo_dir)
    return settings.with_overrides(library=(settings.demo_dir,))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lvs")
def main() -> None:
    """lvs — watch your own video folders from any browser on your network."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@library_option
@click.option("--host", default=None, help="Address to listen on (LVS_HOST, default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (LVS_PORT, default 8000).")
@click.option(
    "--workers", default=None, type=int, help="Worker processes (LVS_WORKERS, default 1)."
)
@click.option("--no-scan", is_flag=True, help="Serve without scanning (or watching) the library.")
def serve(
    libraries: tuple[Path, ...],
    host: str | None,
    port: int | None,
    workers: int | None,
    no_scan: bool,
) -> None:
    """Migrate the database, scan the library in the background and serve at once."""
    import uvicorn

    from lvs.db.config import migrate
    from lvs.web.protocol import LvsHTTPProtocol

    console = Console(stderr=True)
    settings = _settings(library=libraries or None, host=host, port=port, workers=workers)
    settings = _with_demo_library(settings, console)
    migrate(settings)
    settings.ensure_secret_key()  # once, before any worker starts
    os.environ.update(settings_env(settings))
    if settings.host not in {"127.0.0.1", "localhost", "::1"} and not settings.password:
        console.print(
            f"[yellow]Warning:[/] lvs listens on {settings.host} without LVS_PASSWORD: anyone "
            "who can reach this port can watch, rate and tag. Set LVS_PASSWORD to require a login."
        )
    console.print(
        f"lvs serving {len(settings.library)} folder(s) on http://{settings.host}:{settings.port}/"
    )
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it with the handler it found:
    # make that handler an orderly exit, so the background scan is stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with nullcontext() if no_scan else _background_scan(watch=settings.watch):
        uvicorn.run(
            "lvs.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            http=LvsHTTPProtocol,  # h11 (header limits) with a deadline for request heads
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=5,
        )


@contextmanager
def _background_scan(*, watch: bool) -> Iterator[None]:
    """Scan in a child process, so the server stays responsive and exactly one process scans;
    with LVS_WATCH, the same process then keeps watching the library."""
    command = [sys.executable, "-m", "lvs", "scan", "--quiet", *(["--watch"] if watch else [])]
    child = subprocess.Popen(command, env=os.environ.copy())  # noqa: S603 - our own command
    try:
        yield
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()


def _exit_on_signal(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)  # a requested, graceful stop


def _die_with_parent() -> None:
    """In the scan child: get SIGTERM when the server process dies, however it dies (uvicorn
    re-raises SIGTERM after its shutdown, so a ``finally`` in the parent may never run)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@main.command()
@library_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only skipped files and errors.")
@click.option("--no-thumbnails", is_flag=True, help="Index only; make thumbnails later.")
@click.option(
    "--watch",
    is_flag=True,
    help="Then keep the library up to date until stopped: watch the folders, rescan every "
    "LVS_RESCAN_MINUTES, make scrub previews (what `lvs serve` runs in the background).",
)
def scan(libraries: tuple[Path, ...], quiet: bool, no_thumbnails: bool, watch: bool) -> None:
    """Index the library folders and exit.

    Prints a summary (new / unchanged / updated / moved / skipped / missing) and names every
    skipped file with its reason. Exit status 0 on success, 1 when no library folder exists.
    """
    from lvs.db.config import migrate

    if watch:
        _die_with_parent()
    console = Console(stderr=True)
    settings = _settings(library=libraries or None)
    settings = _with_demo_library(settings, console)
    migrate(settings)
    show_progress = not quiet and console.is_terminal
    started = time.monotonic()
    report = asyncio.run(
        _run_scan(settings, show_progress, not no_thumbnails, console, settle=watch)
    )
    took = time.monotonic() - started
    for root in report.missing_roots:
        console.print(f"[red]Library folder not found:[/] {root}")
    # Plain lines (never wrapped), so they can be grepped and paths copied.
    for path, reason in report.skipped:
        click.echo(f"skipped: {path}: {reason}")
    for path, reason in report.thumbnail_failures:
        click.echo(f"no thumbnail: {path}: {reason}")
    if not quiet:
        click.echo(f"Scanned {report.summary()}")
    if len(report.missing_roots) == len(settings.library):
        sys.exit(1)
    if watch:
        from lvs.services.watch import run_watcher

        asyncio.run(run_watcher(settings, first=(report, took)))


async def _run_scan(
    settings: Settings,
    show_progress: bool,
    thumbnails: bool,
    console: Console,
    *,
    settle: bool = False,
) -> Any:
    """``settle``: leave files changed in the last LVS_WATCH_SETTLE_SECONDS for the watcher
    (one may still be being copied)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from lvs.db.config import make_engine
    from lvs.library.watcher import recently_modified
    from lvs.services.scanner import Scanner

    engine = make_engine(settings)
    scanner = Scanner(async_sessionmaker(engine, expire_on_commit=False), settings.thumbs_dir)
    hold = (
        (lambda f: recently_modified(f.mtime_ns, settings.watch_settle_seconds)) if settle else None
    )
    try:
        if not show_progress:
            return await scanner.scan(settings.library, thumbnails=thumbnails, hold=hold)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            tasks: dict[str, Any] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    label = "Indexing" if phase == "index" else "Thumbnails"
                    tasks[phase] = bar.add_task(label, total=total)
                bar.update(tasks[phase], completed=done, total=total)

            return await scanner.scan(
                settings.library, progress=progress, thumbnails=thumbnails, hold=hold
            )
    finally:
        await engine.dispose()


@main.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False))
def demo(folder: Path | None) -> None:
    """Generate the demo library (a few short real clips) in FOLDER or the data folder."""
    from lvs.library.demo import generate_demo_library

    target = folder or _settings().demo_dir
    for path in generate_demo_library(target):
        click.echo(str(path))


@main.command("export")
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--ratings-csv",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the ratings as CSV to this file.",
)
def export_cmd(out: Path, ratings_csv: Path | None) -> None:
    """Write everyone's ratings, favorites, tags, views and positions to OUT as JSON."""
    import json

    from lvs.services.transfer import export_data
    from lvs.services.transfer import ratings_csv as to_csv

    settings = _settings()
    _migrate(settings)
    data = asyncio.run(_with_session(settings, export_data))
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if ratings_csv is not None:
        ratings_csv.write_text(to_csv(data), encoding="utf-8", newline="")
    click.echo(
        f"Exported {len(data['ratings'])} ratings, {len(data['favorites'])} favorites, "
        f"{len(data['media_tags'])} tags, {len(data['views'])} views and "
        f"{len(data['positions'])} positions to {out}"
    )


@main.command("import")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def import_cmd(source: Path) -> None:
    """Restore data written by `lvs export` (idempotent: importing twice changes nothing)."""
    import json

    from lvs.services.transfer import TransferError, import_data

    settings = _settings()
    _migrate(settings)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{source} is not an lvs export: {exc}") from exc
    try:
        report = asyncio.run(_with_session(settings, lambda s: import_data(s, data)))
    except TransferError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Imported from {source}: {report}")
    if settings.cache_url:
        asyncio.run(_clear_rating_cache(settings.cache_url))
    else:
        click.echo("A running `lvs serve` shows the imported averages after a restart.")


async def _clear_rating_cache(url: str) -> None:
    from litestar.stores.redis import RedisStore

    store = RedisStore.with_client(url=url, namespace="lvs").with_namespace("ratings")
    try:
        await store.delete_all()
    finally:
        await store._redis.aclose()


async def _with_session(settings: Settings, work: Any) -> Any:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from lvs.db.config import make_engine

    engine = make_engine(settings)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _migrate(settings: Settings) -> None:
    from lvs.db.config import migrate

    migrate(settings)


@main.command("settings")
def show_settings() -> None:
    """List every setting with its environment variable, default and current value."""
    settings = _settings()
    for doc in setting_docs():
        value = getattr(settings, doc["name"])
        if doc["name"] in {"secret_key", "password"} and value:
            value = "(set)"
        click.echo(f"{doc['env']}={value if value not in (None, ()) else ''}")
        click.echo(f"    {doc['help']} Default: {doc['default']}")


@main.group()
@click.pass_context
def db(ctx: click.Context) -> None:
    """Database migrations (advanced-alchemy / Alembic): upgrade, downgrade, history, ..."""
    from lvs.db.config import alchemy_config, make_engine

    settings = _settings()
    ctx.ensure_object(dict)
    ctx.obj["configs"] = [alchemy_config(settings, make_engine(settings, pooled=False))]


def _add_db_commands() -> None:
    from advanced_alchemy.cli import add_migration_commands

    add_migration_commands(db)


_add_db_commands()
