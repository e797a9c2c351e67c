"""Browser fixtures: a live uvicorn server in a thread, and Debian's Chromium through Playwright.

Chromium is required in CI (``CI=true``) and skipped locally when it is missing.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import uvicorn
from playwright.sync_api import Browser, Error, sync_playwright

from lvs.app import create_app
from lvs.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _load_shared_helpers() -> ModuleType:
    """tests/conftest.py, loaded under a private name.

    conftest.py files outside packages are all imported as the module ``conftest``; once pytest
    loads this one, ``from conftest import html`` in test modules collected later would find this
    module instead of tests/conftest.py. Re-exporting the shared helpers keeps that import working
    whatever order pytest collects folders in.
    """
    path = Path(__file__).resolve().parent.parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("_lvs_shared_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_shared = _load_shared_helpers()
IN_CI: bool = _shared.IN_CI
db_execute = _shared.db_execute
db_query = _shared.db_query
html = _shared.html
new_pg_database = _shared.new_pg_database
require_service = _shared.require_service
run_scan = _shared.run_scan

ServeFn = Callable[[Settings], str]


@pytest.fixture
def db_url() -> None:
    """Browser tests run on SQLite only (the data layer is tested on both backends elsewhere),
    which keeps the run short: this replaces the shared, parametrised ``db_url``."""
    return None


@pytest.fixture
def browser(scanned: Settings) -> Iterator[Browser]:
    """Chromium for one test.

    Function-scoped on purpose: while Playwright's sync API is running, the main thread has a
    running asyncio loop, so ``asyncio.run`` (run_scan, migrations, TestClient) fails in any test
    that would run meanwhile. Depending on ``scanned`` makes the library scan happen first.
    """
    if shutil.which(CHROMIUM) is None:
        require_service("chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            require_service("chromium", f"Playwright cannot launch {CHROMIUM}: {exc}")
        try:
            yield browser
        finally:
            browser.close()


class _ThreadedServer:
    """uvicorn serving one app on a pre-bound 127.0.0.1 socket, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(
            create_app(settings), log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live uvicorn server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture
def serve_app() -> Iterator[ServeFn]:
    """``serve_app(settings)`` starts a live server for those settings and returns its base URL."""
    servers: list[_ThreadedServer] = []

    def serve(settings: Settings) -> str:
        server = _ThreadedServer(settings)
        servers.append(server)
        server.start()
        return server.url

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(serve_app: ServeFn, scanned: Settings) -> str:
    """Base URL of a live server on the scanned test library."""
    return serve_app(scanned)
